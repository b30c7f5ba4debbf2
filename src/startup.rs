//! Wiring: builds every adapter from the settings, checks them, and runs the commands that need
//! them (`serve`, `check`, `replay`).

mod privacy;

pub use privacy::{export, forget, reindex, sweep};

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

use crate::config::{BlobStoreSettings, LogFormat, MemoryBackend, Profile, Settings};
use crate::core::ports::{
    BlobStore, CallerMemos, Clock, Embedder, ErrorChain, MemoryStore, MemoryStoreError,
    NoTelemetry, Telemetry,
};
use crate::core::use_cases::caller_privacy::{
    CallerHasher, CallerIndex, EraseCaller, ExportCaller, MarkDoNotRemember, HASH_KEY_BYTES,
};
use crate::core::use_cases::ingest_call::{IngestCall, ReplayTarget, Sharing};
use crate::core::use_cases::retention::SweepRetention;
use crate::core::use_cases::{FirstMessagePolicy, GreetCaller, SearchMemories};
use crate::core::{InstanceId, ProfileCard};
use crate::inbound::elevenlabs::parse_transcription;
use crate::inbound::http::admin::{AdminOperations, PrivacyOperations};
use crate::inbound::http::client_data::WrittenAnswersMemo;
use crate::inbound::http::health::Readiness;
use crate::inbound::http::post_call::{take_staging_folder, PostCallSettings, StagingFolderLock};
use crate::inbound::http::state::{AppState, WebhookKeys};
use crate::inbound::http::HttpServer;
use crate::metrics::stores::{MeasuredBlobStore, MeasuredMemoryStore};
use crate::metrics::{BuildInfo, Metrics};
use crate::outbound::cached_blob_store::CachedBlobStore;
use crate::outbound::data_folder_lock::DataFolderLock;
use crate::outbound::disk_blob_store::DiskBlobStore;
use crate::outbound::embedded::EmbeddedMemoryStore;
use crate::outbound::object_blob_store::{BucketLocation, ObjectBlobStore};
use crate::outbound::openmemory::OpenMemoryStore;
use crate::outbound::postgres::{PoolOptions, PostgresMemoryStore};
use crate::outbound::system_clock::SystemClock;

mod elevenlabs;
mod embedder;
pub mod model;
#[cfg(test)]
mod tests;

pub use elevenlabs::elevenlabs_api;
use elevenlabs::{check_elevenlabs_api, override_gate};
pub use embedder::EmbedderSource;

/// How long the ingestion worker may take to stop between two memories at shutdown.
const WORKER_STOP_GRACE: Duration = Duration::from_secs(10);

/// How many profile cards are kept in memory: at most 8 KiB each (32 MiB at worst; a card is
/// about 1 KiB).
const CACHED_OBJECTS: usize = 4_096;

/// Starts logging in the configured format; `RUST_LOG` refines the level (default `info`).
pub fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Every adapter, wired into the use cases.
pub struct Service {
    /// This process, among the instances that share the state.
    pub instance: InstanceId,
    pub state: Arc<AppState>,
    pub ingest: Arc<IngestCall>,
    /// The sentence embedder, if one is configured or downloaded (see [`EmbedderSource`]).
    pub embedder: Option<Arc<dyn Embedder>>,
    pub embedder_source: EmbedderSource,
    /// Erasure and export, also for the command line, which needs no admin key.
    pub privacy: PrivacyOperations,
}

/// Builds every adapter from the settings.
pub async fn build(settings: &Settings) -> anyhow::Result<Service> {
    let metrics = settings.metrics_enabled.then(|| {
        Arc::new(Metrics::new(BuildInfo {
            memory_backend: settings.memory_backend.name(),
            blob_backend: settings.blob_store.backend_name(),
        }))
    });
    // The sentence embedder for hybrid recall; without one, searches rank by words only.
    let embedder_source = EmbedderSource::choose(settings);
    let embedder = embedder_source.build(settings).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let (memory_store, blob_store) = build_stores(
        settings,
        metrics.as_deref(),
        embedder.clone(),
        clock.clone(),
    )
    .await?;
    let telemetry: Arc<dyn Telemetry> = match &metrics {
        Some(metrics) => metrics.clone(),
        None => Arc::new(NoTelemetry),
    };
    let instance = InstanceId::generate();
    let index = caller_index(blob_store.as_ref()).await?;
    let ingest = Arc::new(
        IngestCall::new(
            memory_store.clone(),
            blob_store.clone(),
            clock.clone(),
            parse_transcription,
            settings.name_fields.clone(),
        )
        .with_telemetry(telemetry.clone())
        .with_claims(
            instance.clone(),
            settings.ingestion_lease,
            sharing(settings),
        )
        .with_pending_scan(settings.pending_scan)
        .with_caller_index(index.clone())
        .with_redaction(settings.redaction.clone())
        .with_do_not_remember_field(settings.do_not_remember_field.clone()),
    );
    let mut greet_caller = GreetCaller::new(
        blob_store.clone(),
        first_message_policy(settings)?,
        settings.greeting_deadline,
    )
    .with_telemetry(telemetry);
    if let Some(gate) = override_gate(settings, clock.clone())? {
        greet_caller = greet_caller.with_override_gate(gate);
    }
    let search_memories = search_memories(settings, &memory_store, &blob_store, embedder.clone());
    // What this process keeps in memory about callers, forgotten with their data.
    let memos = CallerMemos::new(vec![
        greet_caller.memo(),
        search_memories.memo(),
        Arc::new(WrittenAnswersMemo),
    ]);
    let retention = SweepRetention::new(
        memory_store.clone(),
        blob_store.clone(),
        clock.clone(),
        parse_transcription,
        index.clone(),
        settings.retention,
    )
    .with_memos(memos.clone());
    let privacy = PrivacyOperations {
        retention,
        erase: EraseCaller::new(
            memory_store.clone(),
            blob_store.clone(),
            clock.clone(),
            index.clone(),
        )
        .with_memos(memos),
        export: ExportCaller::new(memory_store.clone(), blob_store.clone(), index.clone()),
        do_not_remember: MarkDoNotRemember::new(blob_store.clone(), clock.clone(), index),
    };
    let admin = settings.admin_api_key.clone().map(|key| AdminOperations {
        key,
        privacy: privacy.clone(),
    });
    let state = Arc::new(AppState {
        greet_caller,
        search_memories,
        memory_store,
        blob_store,
        clock,
        keys: WebhookKeys {
            post_call: settings.post_call_key.clone(),
            client_data: settings.client_data_key.clone(),
            search_data: settings.search_data_key.clone(),
        },
        ingestion: ingest.clone(),
        post_call: PostCallSettings::from_settings(settings, &instance),
        metrics,
        admin,
    });
    Ok(Service {
        instance,
        state,
        ingest,
        embedder,
        embedder_source,
        privacy,
    })
}

/// The caller -> conversations index, with the store's hash key (created on first use).
async fn caller_index(blobs: &dyn BlobStore) -> anyhow::Result<CallerIndex> {
    let candidate: [u8; HASH_KEY_BYTES] = rand::random();
    let hasher = CallerHasher::load_or_create(blobs, candidate)
        .await
        .context("the caller hash key cannot be read or created in PAYLOAD_STORAGE_PATH")?;
    Ok(CallerIndex::new(hasher))
}

/// The memory store and the blob store, with their calls measured when metrics are on. Small
/// objects are cached for at most `CACHE_TTL_MS`, so that what other instances write is seen.
async fn build_stores(
    settings: &Settings,
    metrics: Option<&Metrics>,
    embedder: Option<Arc<dyn Embedder>>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<(Arc<dyn MemoryStore>, Arc<dyn BlobStore>)> {
    let mut memory_store = build_memory_store(settings, embedder).await?;
    let mut blobs = blob_store(&settings.blob_store)?;
    let cache = |blobs: Arc<dyn BlobStore>| {
        CachedBlobStore::new(blobs, CACHED_OBJECTS)
            .caching_only_under(ProfileCard::STORAGE_PREFIX)
            .with_max_staleness(settings.cache_ttl, clock)
    };
    let Some(metrics) = metrics else {
        // One instance for every use case: this process must see its own writes at once.
        return Ok((memory_store, Arc::new(cache(blobs))));
    };
    memory_store = Arc::new(MeasuredMemoryStore::new(memory_store, metrics));
    blobs = Arc::new(MeasuredBlobStore::new(blobs, metrics));
    let cached = cache(blobs).with_lookups(metrics.cache_lookups());
    Ok((memory_store, Arc::new(cached)))
}

/// The blob store `BLOB_STORE_URL` chooses: a local folder, or a bucket shared by instances.
pub fn blob_store(settings: &BlobStoreSettings) -> anyhow::Result<Arc<dyn BlobStore>> {
    Ok(match settings {
        BlobStoreSettings::Disk(folder) => Arc::new(DiskBlobStore::new(folder)),
        BlobStoreSettings::Bucket(bucket) => {
            let location = BucketLocation {
                bucket: bucket.bucket.clone(),
                prefix: bucket.prefix.clone(),
            };
            let options = bucket.aws.iter().map(|(key, value)| (*key, value.expose()));
            Arc::new(
                ObjectBlobStore::s3(&location, options)
                    .with_context(|| format!("the bucket client for {settings} cannot be built"))?,
            )
        }
    })
}

/// The memory store of the configured backend, embedding memories with `embedder` when given.
async fn build_memory_store(
    settings: &Settings,
    embedder: Option<Arc<dyn Embedder>>,
) -> anyhow::Result<Arc<dyn MemoryStore>> {
    Ok(match settings.memory_backend {
        MemoryBackend::Embedded => {
            let store = EmbeddedMemoryStore::open(&settings.openmemory_db_path)
                .await
                .with_context(|| {
                    format!(
                        "the embedded memory store at {} cannot be opened",
                        settings.openmemory_db_path.display()
                    )
                })?;
            match embedder {
                Some(embedder) => {
                    let store = store.with_embedder(embedder);
                    let catching_up = store.clone();
                    embed_missing_in_background(async move { catching_up.embed_missing().await });
                    Arc::new(store)
                }
                None => Arc::new(store),
            }
        }
        MemoryBackend::Postgres => {
            let database = &settings.database;
            let options = PoolOptions {
                size: database.pool_size,
                acquire_timeout: database.acquire_timeout,
                statement_timeout: database.statement_timeout,
            };
            let store = PostgresMemoryStore::connect(database.url.expose(), options)
                .await
                .context("the Postgres memory store at DATABASE_URL cannot be opened")?;
            match embedder {
                Some(embedder) => {
                    let store = store.with_embedder(embedder);
                    let catching_up = store.clone();
                    embed_missing_in_background(async move { catching_up.embed_missing().await });
                    Arc::new(store)
                }
                None => Arc::new(store),
            }
        }
        MemoryBackend::OpenMemory => {
            let store = OpenMemoryStore::new(
                settings.openmemory_url.clone(),
                settings.openmemory_key.expose(),
                settings.openmemory_timeout,
            )
            .context("the OpenMemory client cannot be built")?;
            Arc::new(match embedder {
                Some(embedder) => store.with_embedder(embedder, settings.embedding.query_budget),
                None => store,
            })
        }
    })
}

/// Embeds the memories stored before this embedder was configured (or with another model),
/// while the service already runs: until then they are found by their words.
fn embed_missing_in_background(
    embedding: impl std::future::Future<Output = Result<usize, MemoryStoreError>> + Send + 'static,
) {
    tokio::spawn(async move {
        match embedding.await {
            Ok(0) => {}
            Ok(embedded) => tracing::info!(embedded, "stored memories embedded"),
            Err(error) => {
                tracing::warn!(error = %ErrorChain(&error), "stored memories could not all be embedded")
            }
        }
    });
}

/// The search use case; with an embedder, each question is embedded within its budget and its
/// similarities judged above the model's chance similarity, which starts being measured now, in
/// the background: the service does not wait for it to listen, and the first searches wait for
/// it (a fraction of a second after start).
fn search_memories(
    settings: &Settings,
    memory_store: &Arc<dyn MemoryStore>,
    blob_store: &Arc<dyn BlobStore>,
    embedder: Option<Arc<dyn Embedder>>,
) -> SearchMemories {
    let search = SearchMemories::new(
        memory_store.clone(),
        blob_store.clone(),
        settings.search_timeout,
    );
    let Some(embedder) = embedder else {
        return search;
    };
    let search = search.with_embedder(embedder, settings.embedding.query_budget);
    search.measure_chance();
    search
}

/// The first message returning callers hear, unless the override is switched off.
fn first_message_policy(settings: &Settings) -> anyhow::Result<FirstMessagePolicy> {
    if !settings.first_message_override {
        return Ok(FirstMessagePolicy::AgentDefault);
    }
    Ok(FirstMessagePolicy::Personalised(
        settings.first_message_template.clone(),
    ))
}

/// Says at start whether search is semantic, and with which model.
fn log_embedder(service: &Service) {
    match &service.embedder {
        Some(embedder) => tracing::info!(
            model = embedder.model_id(),
            dimensions = embedder.dimensions(),
            source = %service.embedder_source,
            "sentence embeddings on: search is lexical and semantic"
        ),
        None => tracing::warn!("sentence embeddings: {}", service.embedder_source),
    }
}

/// Refuses to go on with a memory store that works against us (wrong key, no per-caller
/// scoping); one that is only unreachable is tolerated, since ingestion waits for it.
pub(crate) async fn require_compatible_memory_store(store: &dyn MemoryStore) -> anyhow::Result<()> {
    match store.check().await {
        Ok(()) => Ok(()),
        Err(MemoryStoreError::Incompatible(reason)) => {
            anyhow::bail!(
                "the memory store cannot be used: {}",
                ErrorChain(reason.as_ref())
            )
        }
        Err(MemoryStoreError::Rejected(reason)) => {
            anyhow::bail!(
                "the memory store refused the service: {}",
                ErrorChain(reason.as_ref())
            )
        }
        Err(error) => {
            tracing::warn!(error = %ErrorChain(&error), "the memory store is not reachable yet; /ready answers 503 and ingestion waits until it is");
            Ok(())
        }
    }
}

/// The ingestion worker, running in the background until stopped (or dropped), with the work
/// that runs beside it (the retention sweeps).
pub struct IngestionWorker {
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl IngestionWorker {
    /// Starts `ingest`'s worker: first whatever was left pending, then each scheduled call.
    pub fn start(ingest: Arc<IngestCall>) -> Self {
        let stop = CancellationToken::new();
        let task = tokio::spawn({
            let stop = stop.clone();
            async move { ingest.run(stop).await }
        });
        Self {
            stop,
            task: Some(task),
        }
    }

    /// Runs `task` in the background until the worker is stopped (it gets the stop signal).
    pub fn run_beside<Task, Running>(&mut self, task: Task)
    where
        Task: FnOnce(CancellationToken) -> Running,
        Running: std::future::Future<Output = ()> + Send + 'static,
    {
        tokio::spawn(task(self.stop.clone()));
    }

    /// Asks the worker to stop between two memories and waits up to `grace` for it; unfinished
    /// calls stay pending for the next start.
    pub async fn stop(mut self, grace: Duration) {
        self.stop.cancel();
        let Some(task) = self.task.take() else { return };
        if tokio::time::timeout(grace, task).await.is_err() {
            tracing::warn!("the ingestion worker did not stop in time; its work stays pending");
        }
    }
}

impl Drop for IngestionWorker {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A service that listens and learns: what `serve` runs until a signal, and what embedding
/// programs (tests) run until they are done.
pub struct Started {
    /// Bound but not serving yet: call [`HttpServer::run_until`].
    pub server: HttpServer,
    pub worker: IngestionWorker,
    pub state: Arc<AppState>,
    /// Held while the settings allow one instance only (see [`single_instance_reason`]).
    pub lock: SingleInstanceLocks,
    /// This instance's staging folder is its own until this is dropped.
    pub staging: StagingFolderLock,
}

/// The locks of a process whose settings allow one instance only; none otherwise.
#[derive(Debug, Default)]
pub struct SingleInstanceLocks {
    /// `PAYLOAD_STORAGE_PATH`.
    pub data_folder: Option<DataFolderLock>,
    /// A `file://` blob folder apart from the data folder.
    pub blob_folder: Option<DataFolderLock>,
}

/// Why the settings allow one instance only, which then locks its folders; `None` when several
/// instances may share the state (a bucket and a shared memory store).
pub fn single_instance_reason(settings: &Settings) -> Option<&'static str> {
    match (&settings.blob_store, settings.memory_backend) {
        (_, MemoryBackend::Embedded) => Some("the embedded memory store is a file of this machine"),
        (BlobStoreSettings::Disk(_), _) => Some("payloads are kept on this machine's disk"),
        (BlobStoreSettings::Bucket(_), MemoryBackend::Postgres | MemoryBackend::OpenMemory) => None,
    }
}

/// Whether other instances may claim calls in the same store: not with single-instance settings,
/// under which every command that learns holds the data folder's lock.
fn sharing(settings: &Settings) -> Sharing {
    match single_instance_reason(settings) {
        Some(_) => Sharing::Exclusive,
        None => Sharing::Shared,
    }
}

/// Locks the data folder (and a `file://` blob folder apart from it) when the settings allow one
/// instance only.
pub(crate) fn lock_if_single_instance(settings: &Settings) -> anyhow::Result<SingleInstanceLocks> {
    let Some(reason) = single_instance_reason(settings) else {
        return Ok(SingleInstanceLocks::default());
    };
    tracing::debug!("one instance only: {reason}");
    Ok(SingleInstanceLocks {
        data_folder: Some(DataFolderLock::acquire(&settings.payload_storage_path)?),
        blob_folder: lock_blob_folder(settings)?,
    })
}

/// Locks a `file://` blob folder that is not the data folder, which holds the lock already: a
/// local folder of objects has one writer at a time, like the data folder.
fn lock_blob_folder(settings: &Settings) -> anyhow::Result<Option<DataFolderLock>> {
    match &settings.blob_store {
        BlobStoreSettings::Disk(folder) if *folder != settings.payload_storage_path => {
            DataFolderLock::acquire(folder).map(Some)
        }
        BlobStoreSettings::Disk(_) | BlobStoreSettings::Bucket(_) => Ok(None),
    }
}

/// Builds and checks every adapter, binds `HOST:PORT` and starts the ingestion worker.
///
/// # Errors
/// When an adapter cannot be built, the memory store works against us, or the address cannot be
/// bound.
pub async fn start(settings: &Settings) -> anyhow::Result<Started> {
    let lock = lock_if_single_instance(settings)?;
    let service = build(settings).await?;
    tracing::info!(instance = %service.instance, "instance started");
    require_compatible_memory_store(service.state.memory_store.as_ref()).await?;
    log_embedder(&service);
    let (staging, removed) = take_staging_folder(&service.state.post_call).with_context(|| {
        format!(
            "the staging folder {} cannot be taken",
            service.state.post_call.staging_folder.display()
        )
    })?;
    if removed > 0 {
        tracing::warn!(
            removed,
            "removed post-call bodies left half-received by a stopped instance"
        );
    }
    let address = SocketAddr::new(settings.host, settings.port);
    let mut server = HttpServer::bind(address, service.state.clone(), &settings.edge)
        .await
        .with_context(|| format!("cannot listen on {address}"))?;
    if let Some(metrics_address) = settings.metrics_address {
        server = server
            .with_metrics_at(metrics_address)
            .await
            .with_context(|| format!("cannot listen on METRICS_ADDR {metrics_address}"))?;
    }
    let mut worker = IngestionWorker::start(service.ingest);
    if !settings.retention.is_off() {
        let retention = service.privacy.retention;
        let every = settings.retention_sweep_interval;
        worker.run_beside(move |stop| async move { retention.run(every, stop).await });
    }
    Ok(Started {
        server,
        worker,
        state: service.state,
        lock,
        staging,
    })
}

/// `serve`: starts the service, then serves until SIGTERM or SIGINT. Unfinished ingestion stays
/// pending for the next start.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    init_tracing(settings.log_format);
    if settings.profile == Profile::Dev {
        tracing::info!(
            "dev profile (public dev-only keys, loopback only); values: {}",
            settings.overrides.describe()
        );
    }
    let Started {
        server,
        worker,
        lock,
        staging,
        ..
    } = start(&settings).await?;
    if let Some(lock) = &lock.data_folder {
        tracing::debug!(lock = %lock.path().display(), "the data folder is locked for this process");
    }
    let local = server.local_addr();
    tracing::info!(address = %local, docs = %format!("http://{local}/docs"), "listening");
    if let Some(metrics) = server.metrics_addr() {
        tracing::info!(address = %metrics, "serving /metrics on its own address");
    }
    let served = server.run_until(shutdown_signal()).await;
    worker.stop(WORKER_STOP_GRACE).await;
    drop((lock, staging));
    served.context("the server stopped with an error")?;
    tracing::info!("stopped");
    Ok(())
}

/// `check`: reaches every configured backend and prints a readable report.
pub async fn check(settings: Settings) -> anyhow::Result<()> {
    println!(
        "configuration: ok ({} profile, {} memory backend, payloads in {})",
        settings.profile, settings.memory_backend, settings.blob_store
    );
    if settings.profile == Profile::Dev {
        println!("dev profile values: {}", settings.overrides.describe());
    }
    let service = build(&settings).await?;
    match &service.embedder {
        Some(embedder) => println!(
            "embeddings: ok, {} ({} dimensions), {}",
            embedder.model_id(),
            embedder.dimensions(),
            service.embedder_source
        ),
        None => println!("embeddings: {}", service.embedder_source),
    }
    let readiness = Readiness::assess(&service.state).await;
    if let Some(counts) = readiness.ingestion {
        println!(
            "ingestion: {} pending, {} failed, {} memories not stored",
            counts.pending, counts.failed, counts.not_stored
        );
    }
    for notice in &readiness.notices {
        println!("backend notice: {notice}");
    }
    let mut problems = readiness.problems;
    problems.extend(check_elevenlabs_api(&settings).await);
    if problems.is_empty() {
        println!("backends: ok");
        return Ok(());
    }
    for problem in &problems {
        println!("backend problem: {problem}");
    }
    anyhow::bail!("{} backend(s) not ready", problems.len())
}

/// `replay`: learns again from archived transcriptions; what was already learnt is not repeated.
pub async fn replay(settings: Settings, target: ReplayTarget) -> anyhow::Result<()> {
    init_tracing(settings.log_format);
    // With shared state, the replay claims each call as the servers do and may run beside them.
    let _lock = lock_if_single_instance(&settings)?;
    let service = build(&settings).await?;
    require_compatible_memory_store(service.state.memory_store.as_ref()).await?;
    let stop = CancellationToken::new();
    let interrupt = tokio::spawn({
        let stop = stop.clone();
        async move {
            shutdown_signal().await;
            stop.cancel();
        }
    });
    let report = service.ingest.replay(target, &stop).await;
    interrupt.abort();
    let report = report.context("the replay could not run")?;
    println!(
        "replay: {} ingested, {} skipped (no usable caller number), {} failed{}",
        report.ingested,
        report.skipped,
        report.failed,
        if report.interrupted {
            ", interrupted"
        } else {
            ""
        }
    );
    if report.failed > 0 || report.interrupted {
        anyhow::bail!("the replay did not learn from every conversation");
    }
    Ok(())
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}
