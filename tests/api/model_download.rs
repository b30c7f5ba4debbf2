//! `model download` against a local file server laid out like the Hugging Face hub, serving the
//! all-MiniLM-L6-v2 files of the test model; then the service finds the downloaded model.

use std::path::{Path, PathBuf};
use std::process::Command;

use caller_memory::config::{Profile, Settings};
use caller_memory::core::ports::Embedder;
use caller_memory::outbound::embedder::catalogue::DEFAULT_MODEL;
use caller_memory::outbound::embedder::local::LocalEmbedder;
use caller_memory::outbound::model_download::{download_model, ModelRequest};
use caller_memory::startup::EmbedderSource;
use caller_memory::test_doubles::{link_test_model_into, test_model_folder};
use tempfile::TempDir;
use url::Url;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// Serves `folder`'s files at `/{repository}/resolve/{revision}/{file}` for the default model's
/// pinned revision, and 404 for anything else.
async fn hub_serving(folder: PathBuf) -> MockServer {
    let server = MockServer::start().await;
    let prefix = format!(
        "/{}/resolve/{}/",
        DEFAULT_MODEL.repository, DEFAULT_MODEL.revision
    );
    Mock::given(method("GET"))
        .respond_with(move |request: &Request| {
            let file = request.url.path().strip_prefix(prefix.as_str());
            match file.map(|file| std::fs::read(folder.join(file))) {
                Some(Ok(bytes)) => ResponseTemplate::new(200).set_body_bytes(bytes),
                _ => ResponseTemplate::new(404).set_body_string("Entry not found"),
            }
        })
        .mount(&server)
        .await;
    server
}

/// A copy of the test model whose `file` has other content.
fn model_with_changed(file: &str) -> TempDir {
    let copy = TempDir::new().unwrap();
    link_test_model_into(copy.path());
    std::fs::remove_file(copy.path().join(file)).unwrap();
    std::fs::write(copy.path().join(file), b"{\"tampered\": true}").unwrap();
    copy
}

async fn download(server: &MockServer, data: &Path) -> anyhow::Result<PathBuf> {
    let base = Url::parse(&server.uri()).unwrap();
    download_model(&base, &ModelRequest::known(&DEFAULT_MODEL), data)
        .await
        .map(|(folder, _)| folder)
}

fn settings(data: &Path) -> Settings {
    let payloads = data.display().to_string();
    let database = data.join("memory.sqlite3").display().to_string();
    Settings::from_values(
        Profile::Dev,
        [
            ("PAYLOAD_STORAGE_PATH", payloads.as_str()),
            ("OPENMEMORY_DB_PATH", database.as_str()),
        ],
    )
    .unwrap()
}

#[tokio::test]
async fn the_default_model_is_downloaded_verified_and_then_used_by_the_service() {
    let server = hub_serving(test_model_folder()).await;
    let data = TempDir::new().unwrap();
    let folder = download(&server, data.path()).await.unwrap();
    assert_eq!(folder, data.path().join("models/all-MiniLM-L6-v2"));
    for file in DEFAULT_MODEL.files {
        assert_eq!(
            std::fs::read(folder.join(file.name)).unwrap(),
            std::fs::read(test_model_folder().join(file.name)).unwrap(),
            "{}",
            file.name
        );
    }
    let settings = settings(data.path());
    let source = EmbedderSource::choose(&settings);
    assert_eq!(source, EmbedderSource::DownloadedModel(folder));
    let embedder = source.build(&settings).await.unwrap().expect("an embedder");
    assert_eq!(embedder.model_id(), "local:all-MiniLM-L6-v2");
    assert_eq!(embedder.dimensions(), 384);
}

#[tokio::test]
async fn a_file_whose_checksum_differs_installs_nothing() {
    let tampered = model_with_changed("tokenizer.json");
    let server = hub_serving(tampered.path().to_path_buf()).await;
    let data = TempDir::new().unwrap();
    let error = format!("{:#}", download(&server, data.path()).await.unwrap_err());
    assert!(error.contains("tokenizer.json"), "{error}");
    assert!(error.contains("checksum"), "{error}");
    assert!(error.contains(DEFAULT_MODEL.files[1].sha256), "{error}");
    let models: Vec<_> = std::fs::read_dir(data.path().join("models"))
        .unwrap()
        .collect();
    assert!(models.is_empty(), "left behind: {models:?}");
    assert_eq!(
        EmbedderSource::choose(&settings(data.path())),
        EmbedderSource::Nothing
    );
}

#[tokio::test]
async fn a_failed_download_keeps_the_model_already_there_and_a_rerun_replaces_it() {
    let data = TempDir::new().unwrap();
    let good = hub_serving(test_model_folder()).await;
    let folder = download(&good, data.path()).await.unwrap();
    let tampered = model_with_changed("model.safetensors");
    let bad = hub_serving(tampered.path().to_path_buf()).await;
    assert!(download(&bad, data.path()).await.is_err());
    let weights = std::fs::metadata(folder.join("model.safetensors")).unwrap();
    assert_eq!(weights.len(), 90_868_376);
    assert_eq!(download(&good, data.path()).await.unwrap(), folder);
    let models: Vec<_> = std::fs::read_dir(data.path().join("models"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(models, ["all-MiniLM-L6-v2"]);
}

#[tokio::test]
async fn a_missing_file_is_named_with_the_servers_answer() {
    let server = hub_serving(test_model_folder()).await;
    let base = Url::parse(&server.uri()).unwrap();
    let mut request = ModelRequest::known(&DEFAULT_MODEL);
    request.revision = "no-such-revision".to_owned();
    let data = TempDir::new().unwrap();
    let error = format!(
        "{:#}",
        download_model(&base, &request, data.path())
            .await
            .unwrap_err()
    );
    assert!(error.contains("config.json"), "{error}");
    assert!(error.contains("404"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_model_command_downloads_and_check_reports_the_model() {
    let server = hub_serving(test_model_folder()).await;
    let working = TempDir::new().unwrap();
    let run = |arguments: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_caller-memory"))
            .env_clear()
            .current_dir(working.path())
            .args(arguments)
            .output()
            .unwrap();
        let printed = String::from_utf8_lossy(&output.stdout).into_owned();
        let errors = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "{arguments:?}: {printed}{errors}");
        printed
    };
    let base = server.uri();
    let printed =
        tokio::task::block_in_place(|| run(&["--dev", "model", "download", "--base-url", &base]));
    assert_eq!(
        printed.matches(", verified").count(),
        DEFAULT_MODEL.files.len(),
        "{printed}"
    );
    let checked = tokio::task::block_in_place(|| run(&["--dev", "check"]));
    assert!(
        checked.contains("embeddings: ok, local:all-MiniLM-L6-v2 (384 dimensions)"),
        "{checked}"
    );
}

/// A repository other than the known one: the three model files, and sentence-transformers'
/// optional settings when the repository has them.
fn other_model_request() -> ModelRequest {
    ModelRequest {
        repository: DEFAULT_MODEL.repository.to_owned(),
        revision: DEFAULT_MODEL.revision.to_owned(),
        files: ["config.json", "tokenizer.json", "model.safetensors"]
            .iter()
            .map(|file| ((*file).to_owned(), None))
            .collect(),
        optional: vec![
            "sentence_bert_config.json".to_owned(),
            "1_Pooling/config.json".to_owned(),
        ],
    }
}

#[tokio::test]
async fn optional_files_are_fetched_when_the_repository_has_them_and_skipped_when_not() {
    // A repository with a pooling file in a subfolder, as BGE models have (first-token pooling).
    let hub = TempDir::new().unwrap();
    link_test_model_into(hub.path());
    std::fs::create_dir_all(hub.path().join("1_Pooling")).unwrap();
    let pooling = r#"{"word_embedding_dimension": 384, "pooling_mode_cls_token": true}"#;
    std::fs::write(hub.path().join("1_Pooling/config.json"), pooling).unwrap();
    let server = hub_serving(hub.path().to_owned()).await;
    let base = Url::parse(&server.uri()).unwrap();
    let data = TempDir::new().unwrap();
    let (folder, installed) = download_model(&base, &other_model_request(), data.path())
        .await
        .expect("downloaded");
    assert_eq!(installed.len(), 5, "{installed:?}");
    let fetched = std::fs::read_to_string(folder.join("1_Pooling/config.json")).unwrap();
    assert_eq!(fetched, pooling);
    let first_token = LocalEmbedder::load(&folder).expect("the downloaded model loads");
    let text = vec!["This is an example sentence".to_owned()];
    let vector = first_token.embed(&text).await.unwrap().remove(0);
    // The first value `POOLING=cls scripts/reference-embeddings.py` prints for this sentence.
    assert!(
        (vector.values()[0] - 0.005595).abs() < 1e-4,
        "{:?}",
        &vector.values()[..4]
    );

    // The test model's own repository has no pooling file: the rest installs, mean pooling.
    let server = hub_serving(test_model_folder()).await;
    let base = Url::parse(&server.uri()).unwrap();
    let data = TempDir::new().unwrap();
    let (folder, installed) = download_model(&base, &other_model_request(), data.path())
        .await
        .expect("downloaded without the optional file");
    assert_eq!(installed.len(), 4, "{installed:?}");
    assert!(!folder.join("1_Pooling").exists());
}
