//! `POST /webhook/post-call`: ElevenLabs delivers a finished call (transcript, audio or an
//! initiation failure), signed with HMAC.
//!
//! The body is streamed to a staging file while its HMAC is computed, and nothing in it is read
//! before the signature is verified. Then the envelope (`type`, `data.conversation_id`) is read
//! from the file and the payload is streamed from it into the archive.

mod audio;
mod envelope;
mod shape;
mod staging;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use poem::web::Data;
use poem::Request;
use poem_openapi::param::Header;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use tokio_util::io::ReaderStream;

use crate::config::Settings;
use crate::core::ports::{ByteStream, ErrorChain};
use crate::core::redaction::Redaction;
use crate::core::use_cases::{ArchiveError, ArchivePostCall, Archived, ArchivedPayload};
use crate::core::{ConversationId, InstanceId};
use crate::inbound::http::edge::{Edge, BUDGET_RETRY_AFTER_SECS};
use crate::inbound::http::error::ErrorBody;
use crate::inbound::http::raw_json::RawJsonBody;
use crate::inbound::http::signature::{
    BodyVerifier, SignatureError, SignatureHeader, SignatureParam,
};
use crate::inbound::http::state::AppState;
use crate::inbound::http::ApiTags;
use envelope::{read_envelope, Envelope, EnvelopeError};
pub use staging::StagingFolderLock;
use staging::{stage, StagedBody, StagingError};

/// How post-call deliveries are received.
#[derive(Debug, Clone)]
pub struct PostCallSettings {
    /// Larger bodies are refused with 413.
    pub max_body_bytes: u64,
    /// How old a signature may be.
    pub signature_tolerance: Duration,
    /// Where bodies wait while their signature is checked: this instance's own folder.
    pub staging_folder: PathBuf,
    /// Applied to transcriptions and failures before they are archived (`REDACT_ARCHIVE`); off
    /// keeps the exact bytes.
    pub archive_redaction: Redaction,
}

impl PostCallSettings {
    /// Staging goes to `.staging/{instance}` in the payload storage folder (on the same disk as
    /// a local archive): each instance sharing the folder has its own.
    pub fn from_settings(settings: &Settings, instance: &InstanceId) -> Self {
        Self {
            max_body_bytes: settings.max_body_bytes,
            signature_tolerance: settings.signature_tolerance,
            staging_folder: settings
                .payload_storage_path
                .join(".staging")
                .join(instance.as_str()),
            archive_redaction: if settings.redact_archive {
                settings.redaction.clone()
            } else {
                Redaction::default()
            },
        }
    }
}

/// What was done with a delivery.
#[derive(Debug, Object)]
pub struct PostCallAccepted {
    /// `stored`, or `ignored` for event types the service does not use.
    pub status: String,
    /// The event type of the delivery.
    #[oai(rename = "type")]
    pub kind: String,
    /// The conversation the delivery belongs to, when it has one.
    pub conversation_id: Option<String>,
}

#[derive(ApiResponse)]
pub enum PostCallSuccess {
    /// The delivery is stored (or ignored) and will not be lost.
    #[oai(status = 200)]
    Ok(Json<PostCallAccepted>),
}

#[derive(ApiResponse)]
pub enum PostCallError {
    /// The body is not a valid webhook payload (bad JSON, missing type, bad conversation id, bad
    /// base64 audio).
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// The signature is missing, wrong, or outside the time tolerance (`invalid_signature`).
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// The sender's address is not in `ALLOWED_SOURCE_IPS` (`forbidden`); nothing was read.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// The body stopped arriving for `BODY_STALL_TIMEOUT_MS` (`request_timeout`).
    #[oai(status = 408)]
    RequestTimeout(Json<ErrorBody>),
    /// The body is larger than the configured limit (`MAX_BODY_BYTES`).
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// The body is not sent as `application/json` (`unsupported_media_type`).
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    /// Too many failed authentications came from this address (`too_many_failures`); retry
    /// after `Retry-After` seconds.
    #[oai(status = 429)]
    TooManyFailures(
        Json<ErrorBody>,
        /// Seconds to wait before trying again.
        #[oai(header = "Retry-After")]
        u64,
    ),
    /// The delivery could not be stored; ElevenLabs should retry it.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// Too many unverified bytes are being received (`MAX_UNVERIFIED_BYTES`, `unavailable`);
    /// nothing was stored: retry after `Retry-After` seconds.
    #[oai(status = 503)]
    Unavailable(
        Json<ErrorBody>,
        /// Seconds to wait before trying again.
        #[oai(header = "Retry-After")]
        u64,
    ),
}

/// Takes this instance's staging folder for as long as the returned lock lives, and removes the
/// partial bodies that killed instances left beside it (never a live instance's); returns how
/// many there were. For startup.
///
/// # Errors
/// When the folder cannot be taken, or a leftover cannot be listed or removed.
pub fn take_staging_folder(
    settings: &PostCallSettings,
) -> std::io::Result<(StagingFolderLock, usize)> {
    staging::take_folder(&settings.staging_folder)
}

pub struct PostCallApi;

#[OpenApi(tag = "ApiTags::Webhooks")]
impl PostCallApi {
    /// Receive a finished call
    ///
    /// Configure this URL as the post-call webhook of the ElevenLabs workspace (HMAC
    /// authentication). The body is the raw JSON event, sent with or without a Content-Length;
    /// it is verified before it is read. `post_call_transcription` and `call_initiation_failure`
    /// are archived byte for byte, `post_call_audio` as the decoded MP3; other event types are
    /// acknowledged and ignored. A repeated delivery is harmless.
    #[oai(
        path = "/webhook/post-call",
        method = "post",
        operation_id = "post_call"
    )]
    async fn post_call(
        &self,
        state: Data<&Arc<AppState>>,
        edge: Data<&Arc<Edge>>,
        request: &Request,
        /// `t=<unix seconds>,v0=<hex HMAC-SHA256 of "{t}." + body>`.
        #[oai(name = "ElevenLabs-Signature")]
        signature: Header<SignatureParam>,
        body: RawJsonBody,
    ) -> Result<PostCallSuccess, PostCallError> {
        let state = *state;
        let declared = declared_length(request);
        refuse_declared_oversize(declared, &state.post_call)?;
        let staged =
            receive_verified(state, &edge, signature.0 .0.as_deref(), declared, body.0).await?;
        let path = staged.path().to_path_buf();
        let envelope = tokio::task::spawn_blocking(move || read_envelope(&path))
            .await
            .map_err(|error| internal("reading the envelope stopped", &error))?
            .map_err(envelope_error)?;
        archive(state, &staged, envelope).await
    }
}

fn declared_length(request: &Request) -> Option<u64> {
    request
        .header(poem::http::header::CONTENT_LENGTH)
        .and_then(|length| length.parse::<u64>().ok())
}

/// Refuses at once a body whose Content-Length already says it is too large.
fn refuse_declared_oversize(
    declared: Option<u64>,
    settings: &PostCallSettings,
) -> Result<(), PostCallError> {
    match declared {
        Some(length) if length > settings.max_body_bytes => Err(too_large(settings.max_body_bytes)),
        _ => Ok(()),
    }
}

/// Checks the header, stages the body while hashing it, within the budget for unverified
/// bytes, then checks the hash.
async fn receive_verified(
    state: &AppState,
    edge: &Edge,
    signature: Option<&str>,
    declared: Option<u64>,
    body: poem::Body,
) -> Result<StagedBody, PostCallError> {
    let settings = &state.post_call;
    let mut verifier = SignatureHeader::parse(signature)
        .and_then(|header| {
            let key = state.keys.post_call.expose();
            BodyVerifier::start(key, header, state.clock.now(), settings.signature_tolerance)
        })
        .map_err(refused)?;
    let mut reservation = edge.reserve_unverified();
    let budget_spent = || {
        edge.budget_refused();
        PostCallError::Unavailable(
            Json(ErrorBody::new(
                "unavailable",
                "too many deliveries are being received; try again later",
            )),
            BUDGET_RETRY_AFTER_SECS,
        )
    };
    if let Some(declared) = declared {
        reservation.hold(declared).map_err(|_| budget_spent())?;
    }
    let staged = stage(
        body,
        &settings.staging_folder,
        settings.max_body_bytes,
        &mut verifier,
        edge,
        &mut reservation,
    )
    .await
    .map_err(|error| match error {
        StagingError::TooLarge { limit } => too_large(limit),
        StagingError::Interrupted(error) => {
            bad_request("body", format!("cut off before its end: {error}"))
        }
        StagingError::Stalled(_) => PostCallError::RequestTimeout(Json(ErrorBody::new(
            "request_timeout",
            error.to_string(),
        ))),
        StagingError::BudgetSpent => budget_spent(),
        StagingError::Storage { .. } => internal("the body could not be staged", &error),
    })?;
    let verified = verifier.verify();
    // Verified or not, these bytes are no longer a stranger's to hold.
    drop(reservation);
    verified.map_err(refused)?;
    staged
        .shape()
        .map_err(|problem| bad_request("body", problem))?;
    Ok(staged)
}

/// Dispatches on the event type and streams the payload into the archive.
async fn archive(
    state: &AppState,
    staged: &StagedBody,
    envelope: Envelope,
) -> Result<PostCallSuccess, PostCallError> {
    let Some(kind) = envelope.kind else {
        return Err(bad_request("type", NOT_A_STRING));
    };
    let payload = match kind.as_str() {
        "post_call_transcription" => ArchivedPayload::Transcription,
        "post_call_audio" => ArchivedPayload::Audio,
        "call_initiation_failure" => ArchivedPayload::InitiationFailure,
        _ => {
            tracing::info!(event_type = %kind, "post-call event of an unused type ignored");
            if let Some(metrics) = &state.metrics {
                metrics.post_call_accepted(&kind, false);
            }
            let conversation = envelope
                .conversation_id
                .filter(|id| ConversationId::parse(id).is_ok());
            return Ok(accepted("ignored", kind, conversation));
        }
    };
    let conversation = envelope
        .conversation_id
        .ok_or_else(|| bad_request("data.conversation_id", NOT_A_STRING))
        .and_then(|raw| {
            ConversationId::parse(&raw).map_err(|error| bad_request("data.conversation_id", error))
        })?;
    let content = payload_content(staged, payload, envelope.full_audio).await?;
    let content = redacted(content, payload, &state.post_call.archive_redaction).await?;
    let archive = ArchivePostCall::new(state.blob_store.clone(), state.ingestion.clone());
    match archive
        .archive(payload, &conversation, content)
        .await
        .map_err(archive_error)?
    {
        Archived::Stored(key) => {
            tracing::info!(event_type = %kind, %conversation, %key, "post-call event archived");
            if let Some(metrics) = &state.metrics {
                metrics.post_call_accepted(&kind, true);
            }
            Ok(accepted("stored", kind, Some(conversation.to_string())))
        }
        Archived::Erased => {
            tracing::info!(event_type = %kind, %conversation, "post-call event of an erased caller dropped");
            if let Some(metrics) = &state.metrics {
                metrics.post_call_accepted(&kind, false);
            }
            Ok(accepted("ignored", kind, Some(conversation.to_string())))
        }
    }
}

/// The bytes to archive: the whole event, or the decoded `full_audio` of an audio event.
async fn payload_content(
    staged: &StagedBody,
    payload: ArchivedPayload,
    full_audio: Option<std::ops::Range<u64>>,
) -> Result<ByteStream, PostCallError> {
    let unreadable = |error: std::io::Error| internal("the staged body could not be read", &error);
    match payload {
        ArchivedPayload::Audio => {
            let range = full_audio.ok_or_else(|| bad_request(FULL_AUDIO, NOT_A_STRING))?;
            audio::decoded_audio(staged.path(), range)
                .await
                .map_err(unreadable)
        }
        ArchivedPayload::Transcription | ArchivedPayload::InitiationFailure => {
            let file = tokio::fs::File::open(staged.path())
                .await
                .map_err(unreadable)?;
            Ok(Box::pin(ReaderStream::with_capacity(file, 64 * 1024)))
        }
    }
}

/// The content with every JSON string redacted, when the archive keeps redacted copies. Audio
/// cannot be redacted and is kept as it is.
async fn redacted(
    content: ByteStream,
    payload: ArchivedPayload,
    redaction: &Redaction,
) -> Result<ByteStream, PostCallError> {
    if redaction.is_off() || payload == ArchivedPayload::Audio {
        return Ok(content);
    }
    let bytes: Vec<u8> =
        futures_util::TryStreamExt::try_fold(content, Vec::new(), |mut all, chunk| async move {
            all.extend_from_slice(&chunk);
            Ok(all)
        })
        .await
        .map_err(|error| internal("the staged body could not be read", &error))?;
    let Ok(mut event) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return Err(bad_request("body", "not valid JSON"));
    };
    redact_strings(&mut event, redaction);
    let redacted = bytes::Bytes::from(event.to_string());
    Ok(Box::pin(futures_util::stream::once(
        async move { Ok(redacted) },
    )))
}

fn redact_strings(value: &mut serde_json::Value, redaction: &Redaction) {
    match value {
        serde_json::Value::String(text) => {
            if let std::borrow::Cow::Owned(redacted) = redaction.redact(text) {
                *text = redacted;
            }
        }
        serde_json::Value::Array(items) => items
            .iter_mut()
            .for_each(|item| redact_strings(item, redaction)),
        serde_json::Value::Object(fields) => fields
            .values_mut()
            .for_each(|field| redact_strings(field, redaction)),
        _ => {}
    }
}

fn accepted(status: &str, kind: String, conversation_id: Option<String>) -> PostCallSuccess {
    PostCallSuccess::Ok(Json(PostCallAccepted {
        status: status.to_owned(),
        kind,
        conversation_id,
    }))
}

fn envelope_error(error: EnvelopeError) -> PostCallError {
    match error {
        EnvelopeError::InvalidJson(detail) => {
            bad_request("body", format!("not valid JSON: {detail}"))
        }
        EnvelopeError::NotAnObject => bad_request("body", "not a JSON object"),
        EnvelopeError::Unreadable(_) => internal("the staged body could not be read", &error),
    }
}

fn archive_error(error: ArchiveError) -> PostCallError {
    match error {
        // Only the audio is decoded on its way to the archive.
        ArchiveError::InvalidContent(cause) => bad_request(FULL_AUDIO, cause),
        ArchiveError::Storage(_) | ArchiveError::Scheduling(_) | ArchiveError::Unknown(_) => {
            internal("the post-call event could not be archived", &error)
        }
    }
}

fn refused(reason: SignatureError) -> PostCallError {
    tracing::warn!(%reason, "post-call delivery refused");
    PostCallError::Unauthorized(Json(ErrorBody::new(
        "invalid_signature",
        "invalid signature",
    )))
}

/// What a 400 says about a required string field that is absent or of another JSON type.
const NOT_A_STRING: &str = "missing, or not a string";

const FULL_AUDIO: &str = "data.full_audio";

/// A 400 whose message starts with the field at fault (`body` for the body as a whole), as
/// every webhook's 400 does.
fn bad_request(field: &str, problem: impl std::fmt::Display) -> PostCallError {
    let message = format!("{field}: {problem}");
    tracing::info!(%message, "post-call delivery rejected");
    PostCallError::BadRequest(Json(ErrorBody::new("invalid_request", message)))
}

fn too_large(limit: u64) -> PostCallError {
    PostCallError::PayloadTooLarge(Json(ErrorBody::new(
        "payload_too_large",
        format!("the body is larger than {limit} bytes"),
    )))
}

fn internal(context: &str, cause: &(dyn std::error::Error + 'static)) -> PostCallError {
    tracing::error!(cause = %ErrorChain(cause), "{context}");
    PostCallError::Internal(Json(ErrorBody::internal()))
}
