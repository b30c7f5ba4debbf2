//! Where configuration values come from, in increasing priority: the built-in defaults
//! (`config/default.toml`), the dev profile (`config/dev.toml`, only when chosen), a `.env` file,
//! and the environment.

use std::collections::BTreeMap;
use std::path::Path;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;

use crate::config::{all_keys, Overrides, Profile};

const DEFAULTS: &str = include_str!("../../config/default.toml");
const DEV_PROFILE: &str = include_str!("../../config/dev.toml");

/// Every configured key (lower case) with its value as text.
pub type RawValues = BTreeMap<String, String>;

/// Merges every source into one map of raw text values, and says which variables came from the
/// `.env` file and from the environment.
pub fn collect(profile: Profile, env_file: &Path) -> Result<(RawValues, Overrides), String> {
    let from_file = read_env_file(env_file)?;
    let environment = Env::raw().only(&all_keys());
    let from_environment: Vec<String> = environment
        .iter()
        .map(|(key, _)| key.as_str().to_ascii_uppercase())
        .collect();
    let overrides = Overrides {
        env_file: (env_file.exists()).then(|| {
            let keys = from_file
                .keys()
                .map(|key| key.to_ascii_uppercase())
                .collect();
            (env_file.to_path_buf(), keys)
        }),
        environment: from_environment,
    };
    let figment = defaults(profile)
        .merge(Serialized::defaults(from_file))
        .merge(environment);
    Ok((extract(figment)?, overrides))
}

/// The profile's defaults with `values` (lower-case keys) over them; neither the environment
/// nor a `.env` file is read.
pub fn collect_given(profile: Profile, values: RawValues) -> Result<RawValues, String> {
    extract(defaults(profile).merge(Serialized::defaults(values)))
}

fn defaults(profile: Profile) -> Figment {
    let figment = Figment::new().merge(Toml::string(DEFAULTS));
    if profile == Profile::Dev {
        figment.merge(Toml::string(DEV_PROFILE))
    } else {
        figment
    }
}

fn extract(figment: Figment) -> Result<RawValues, String> {
    let values: BTreeMap<String, serde_json::Value> = figment
        .extract()
        .map_err(|error| format!("configuration could not be read: {error}"))?;
    Ok(values
        .into_iter()
        .map(|(key, value)| (key, as_text(value)))
        .collect())
}

fn as_text(value: serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text,
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Reads `KEY=value` lines from a `.env` file, if there is one. Only known keys are taken; the
/// process environment is not changed.
fn read_env_file(path: &Path) -> Result<BTreeMap<String, String>, String> {
    if !path.exists() {
        return Ok(BTreeMap::new());
    }
    let entries = dotenvy::from_path_iter(path)
        .map_err(|error| format!("{} could not be read: {error}", path.display()))?;
    let known = all_keys();
    let mut values = BTreeMap::new();
    for entry in entries {
        let (key, value) =
            entry.map_err(|error| format!("{} could not be read: {error}", path.display()))?;
        let key = key.to_ascii_lowercase();
        if known.contains(&key.as_str()) {
            values.insert(key, value);
        }
    }
    Ok(values)
}
