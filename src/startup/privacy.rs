//! The `forget`, `export`, `reindex` and `sweep` commands.
//!
//! They work with the server running or stopped. `export` and `reindex` read and write the same
//! stores the server uses, with the same conditional updates, so running beside it is safe.
//! `forget` and `sweep` must also reach the running server's read cache (it keeps profile cards
//! in memory), so when a server answers on `HOST:PORT` they ask that server to erase or sweep,
//! through the administration API (`ADMIN_API_KEY` is then required); with no server running
//! they work directly on the stores.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use poem_openapi::types::ToJSON;

use super::{build, require_compatible_memory_store};
use crate::config::Settings;
use crate::core::use_cases::caller_privacy::{CallerExport, ErasureReceipt, Recordings};
use crate::core::CallerId;
use crate::inbound::http::admin::{CallerExportBody, ErasureReceiptBody, SweepReportBody};

/// `forget <phone>`: erases everything held about the caller and prints the receipt.
pub async fn forget(settings: Settings, phone: &str) -> anyhow::Result<()> {
    let caller = parse_caller(phone)?;
    let receipt = match running_server(&settings).await {
        Some(server) => forget_through(&settings, server, &caller).await?,
        None => {
            let service = build(&settings).await?;
            require_compatible_memory_store(service.state.memory_store.as_ref()).await?;
            let receipt = service
                .privacy
                .erase
                .erase(&caller)
                .await
                .context("the erasure did not finish; run forget again to complete it")?;
            receipt_json(&caller, receipt)
        }
    };
    println!("{}", serde_json::to_string_pretty(&receipt)?);
    Ok(())
}

/// `export <phone> [--audio] --out FILE`: JSON, or a tar file with the recordings.
pub async fn export(
    settings: Settings,
    phone: &str,
    recordings: Recordings,
    out: &Path,
) -> anyhow::Result<()> {
    let caller = parse_caller(phone)?;
    let service = build(&settings).await?;
    let export = service
        .privacy
        .export
        .export(&caller, recordings)
        .await
        .context("the caller's data could not be read")?;
    let calls = export.calls.len();
    let bytes = match recordings {
        Recordings::Left => export_json(&caller, export)?,
        Recordings::Included => export_tar(&caller, export)?,
    };
    write_atomically(out, &bytes)?;
    println!(
        "export: {calls} calls written to {} ({} bytes)",
        out.display(),
        bytes.len()
    );
    Ok(())
}

/// `reindex`: records every archived call in the caller -> conversations index.
pub async fn reindex(settings: Settings) -> anyhow::Result<()> {
    let service = build(&settings).await?;
    let indexed = service
        .ingest
        .rebuild_caller_index()
        .await
        .context("the index could not be rebuilt")?;
    println!("reindex: {indexed} calls indexed");
    Ok(())
}

fn parse_caller(phone: &str) -> anyhow::Result<CallerId> {
    CallerId::parse(phone).map_err(|error| anyhow::anyhow!("phone: {error}"))
}

fn receipt_json(caller: &CallerId, receipt: ErasureReceipt) -> serde_json::Value {
    ErasureReceiptBody::new(caller, receipt)
        .to_json()
        .unwrap_or_default()
}

fn export_json(caller: &CallerId, export: CallerExport) -> anyhow::Result<Vec<u8>> {
    let body = CallerExportBody::new(caller, export).to_json();
    Ok(serde_json::to_vec_pretty(&body)?)
}

/// `export.json` plus `audio/{conversation}.mp3` for each archived recording.
fn export_tar(caller: &CallerId, mut export: CallerExport) -> anyhow::Result<Vec<u8>> {
    let recordings: Vec<(String, bytes::Bytes)> = export
        .calls
        .iter_mut()
        .filter_map(|call| {
            let audio = call.audio.take()?;
            Some((call.conversation_id.to_string(), audio))
        })
        .collect();
    let mut archive = tar::Builder::new(Vec::new());
    let mut append = |name: &str, data: &[u8]| -> std::io::Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o600);
        header.set_mtime(chrono::Utc::now().timestamp().max(0) as u64);
        header.set_cksum();
        archive.append_data(&mut header, name, data)
    };
    append("export.json", &export_json(caller, export)?)?;
    for (conversation, audio) in &recordings {
        append(&format!("audio/{conversation}.mp3"), audio)?;
    }
    Ok(archive.into_inner()?)
}

/// Writes to a temporary file beside `out`, then renames it: a reader never sees half a file.
fn write_atomically(out: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let temporary = out.with_extension("partial");
    std::fs::write(&temporary, bytes)
        .with_context(|| format!("{} cannot be written", temporary.display()))?;
    std::fs::rename(&temporary, out).with_context(|| format!("{} cannot be written", out.display()))
}

/// The address of a server answering `/health` on `HOST:PORT`, if one runs.
async fn running_server(settings: &Settings) -> Option<SocketAddr> {
    if settings.port == 0 {
        return None;
    }
    let host = if settings.host.is_unspecified() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        settings.host
    };
    let address = SocketAddr::new(host, settings.port);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .ok()?;
    let answer = client
        .get(format!("http://{address}/health"))
        .send()
        .await
        .ok()?;
    answer.status().is_success().then_some(address)
}

/// `sweep`: deletes what is past its retention period now and prints what was removed.
pub async fn sweep(settings: Settings) -> anyhow::Result<()> {
    let report = match running_server(&settings).await {
        Some(server) => {
            through_admin_api(
                &settings,
                server,
                reqwest::Method::POST,
                &["retention", "sweep"],
            )
            .await?
        }
        None => {
            let service = build(&settings).await?;
            require_compatible_memory_store(service.state.memory_store.as_ref()).await?;
            let retention = &service.privacy.retention;
            let report = retention
                .sweep()
                .await
                .context("the sweep stopped early; run sweep again to go on")?;
            SweepReportBody::new(retention, report)
                .to_json()
                .unwrap_or_default()
        }
    };
    let kept_for_ever = ["audio_days", "transcript_days", "memory_days"]
        .iter()
        .all(|days| report[days].is_null());
    if kept_for_ever {
        eprintln!(
            "retention is off: set RETENTION_AUDIO_DAYS, RETENTION_TRANSCRIPT_DAYS or \
             RETENTION_MEMORY_DAYS to delete what is older"
        );
    }
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

async fn forget_through(
    settings: &Settings,
    server: SocketAddr,
    caller: &CallerId,
) -> anyhow::Result<serde_json::Value> {
    let path = ["callers", caller.as_e164()];
    through_admin_api(settings, server, reqwest::Method::DELETE, &path).await
}

/// Asks the running server to do an administration operation (`/admin/{path...}`).
async fn through_admin_api(
    settings: &Settings,
    server: SocketAddr,
    method: reqwest::Method,
    path: &[&str],
) -> anyhow::Result<serde_json::Value> {
    let Some(key) = &settings.admin_api_key else {
        bail!(
            "a server is running on {server}; this command goes through its administration API \
             so that the server sees the change too: set ADMIN_API_KEY (for the server and this \
             command)"
        );
    };
    let mut url = url::Url::parse(&format!("http://{server}/admin/"))?;
    url.path_segments_mut()
        .map_err(|()| anyhow::anyhow!("the server address cannot take a path"))?
        .pop_if_empty()
        .extend(path);
    let answer = reqwest::Client::new()
        .request(method, url)
        .bearer_auth(key.expose())
        .send()
        .await
        .with_context(|| format!("the server on {server} cannot be reached"))?;
    let status = answer.status();
    let body: serde_json::Value = answer.json().await.unwrap_or_default();
    if !status.is_success() {
        bail!("the server on {server} answered {status}: {body}");
    }
    Ok(body)
}
