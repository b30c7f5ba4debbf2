//! The administration API: erase and export one caller's data, and sweep what is past its
//! retention period (in [`retention`]).
//!
//! It is off unless `ADMIN_API_KEY` is set; then every operation answers 404, as if it did not
//! exist. It has its own security scheme (`Authorization: Bearer <ADMIN_API_KEY>`), and the
//! webhook keys never open it.

mod retention;

use std::sync::Arc;

use poem::web::Data;
use poem::{Request, RequestBody};
use poem_openapi::auth::Bearer;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::registry::Registry;
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ApiResponse, ExtractParamOptions, Object, OpenApi,
    SecurityScheme,
};

use crate::config::Secret;
use crate::core::ports::{ErrorChain, MemoryStoreError};
use crate::core::use_cases::caller_privacy::{
    CallerExport, EraseCaller, EraseError, ErasureReceipt, ExportCaller, MarkDoNotRemember,
    Recordings,
};
use crate::core::use_cases::retention::{SweepError, SweepRetention};
use crate::core::CallerId;
use crate::inbound::http::auth::{same_key, state, unauthorized};
use crate::inbound::http::body_limit::small_bodies;
use crate::inbound::http::error::ErrorBody;
use crate::inbound::http::search_data::FoundMemory;
use crate::inbound::http::state::AppState;
use crate::inbound::http::ApiTags;
pub use retention::{RetentionApi, SweepReportBody};

/// Erasure and export of a caller's data, for the administration API and the command line.
#[derive(Clone)]
pub struct PrivacyOperations {
    pub erase: EraseCaller,
    pub export: ExportCaller,
    pub do_not_remember: MarkDoNotRemember,
    pub retention: SweepRetention,
}

/// What the administration API runs on; `None` in [`AppState`] turns it off.
pub struct AdminOperations {
    pub key: Secret,
    pub privacy: PrivacyOperations,
}

/// Whether the request may use the administration API.
enum Access {
    Granted,
    /// The API is off (no `ADMIN_API_KEY`).
    Off,
}

/// How the administration API's credential is named in answers and logs.
const ADMIN_CREDENTIAL: &str = "Authorization: Bearer";

// The scheme as the OpenAPI document shows it; its doc comment is the scheme's description.
/// `Authorization: Bearer <ADMIN_API_KEY>`.
#[derive(SecurityScheme)]
#[oai(rename = "AdminKey", ty = "bearer")]
struct AdminBearer(Bearer);

/// The administration API's access, checked from `Authorization: Bearer <ADMIN_API_KEY>`.
///
/// Extracted by hand around [`AdminBearer`] because the framework answers a missing header with
/// one message for every scheme, which would name the webhooks' header; this one says which
/// credential is missing or wrong.
pub struct AdminKey(Access);

impl<'a> ApiExtractor<'a> for AdminKey {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        AdminBearer::register(registry);
    }

    fn security_schemes() -> Vec<&'static str> {
        AdminBearer::security_schemes()
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        options: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        let AdminBearer(bearer) = AdminBearer::from_request(request, body, options)
            .await
            .map_err(|_| {
                tracing::warn!("refused: {ADMIN_CREDENTIAL} is missing");
                unauthorized(format!("{ADMIN_CREDENTIAL} header is missing"))
            })?;
        let Some(admin) = &state(request)?.admin else {
            return Ok(Self(Access::Off));
        };
        if !same_key(&bearer.token, admin.key.expose()) {
            tracing::warn!("refused: {ADMIN_CREDENTIAL} is wrong");
            return Err(unauthorized(format!(
                "{ADMIN_CREDENTIAL} does not match ADMIN_API_KEY"
            )));
        }
        Ok(Self(Access::Granted))
    }
}

/// What an erasure removed. It names no content and only a masked number.
#[derive(Debug, Object)]
pub struct ErasureReceiptBody {
    /// The caller, masked.
    pub caller: String,
    /// Conversations of the caller that were erased.
    pub conversations: u64,
    /// Memories deleted from the memory store.
    pub memories: u64,
    /// Archived transcriptions deleted.
    pub transcripts: u64,
    /// Archived recordings deleted.
    pub audio_files: u64,
    /// Archived call-initiation failures deleted.
    pub failure_files: u64,
    /// Ingestion records deleted.
    pub ingestion_records: u64,
    /// Profile cards deleted (0 or 1).
    pub profile_cards: u64,
}

impl ErasureReceiptBody {
    pub fn new(caller: &CallerId, receipt: ErasureReceipt) -> Self {
        let count = |value: usize| value as u64;
        Self {
            caller: caller.masked(),
            conversations: count(receipt.conversations),
            memories: count(receipt.memories),
            transcripts: count(receipt.transcripts),
            audio_files: count(receipt.audio_files),
            failure_files: count(receipt.failure_files),
            ingestion_records: count(receipt.ingestion_records),
            profile_cards: count(receipt.profile_cards),
        }
    }
}

/// Everything held about one caller.
#[derive(Debug, Object)]
pub struct CallerExportBody {
    /// The caller's number (E.164).
    pub caller: String,
    /// The profile card as stored (name, facts, call count, last calls), or null.
    pub profile: Option<serde_json::Value>,
    /// Every memory, newest first (`score` is 0).
    pub memories: Vec<FoundMemory>,
    /// Every call, with its archived transcription.
    pub calls: Vec<ExportedCallBody>,
}

/// One call of the caller.
#[derive(Debug, Object)]
pub struct ExportedCallBody {
    pub conversation_id: String,
    /// The archived `post_call_transcription` event as received, or null.
    pub transcription: Option<serde_json::Value>,
    /// The archived `call_initiation_failure` event as received, or null.
    pub failure: Option<serde_json::Value>,
    /// Whether a recording is archived (`caller-memory export --audio` includes it).
    pub has_audio: bool,
}

impl CallerExportBody {
    /// The JSON form of an export, shared by the API and the `export` command.
    pub fn new(caller: &CallerId, export: CallerExport) -> Self {
        let json = |bytes: &[u8]| {
            serde_json::from_slice(bytes).unwrap_or_else(|_| {
                serde_json::Value::String(String::from_utf8_lossy(bytes).into_owned())
            })
        };
        Self {
            caller: caller.as_e164().to_owned(),
            profile: export
                .profile
                .and_then(|card| serde_json::to_value(card).ok()),
            memories: export.memories.into_iter().map(FoundMemory::from).collect(),
            calls: export
                .calls
                .into_iter()
                .map(|call| ExportedCallBody {
                    conversation_id: call.conversation_id.to_string(),
                    transcription: call.transcription.as_deref().map(json),
                    failure: call.failure.as_deref().map(json),
                    has_audio: call.has_audio,
                })
                .collect(),
        }
    }
}

#[derive(ApiResponse)]
pub enum EraseSuccess {
    /// Everything held about the caller is erased (counts are 0 when there was nothing).
    #[oai(status = 200)]
    Erased(Json<ErasureReceiptBody>),
}

#[derive(ApiResponse)]
pub enum ExportSuccess {
    /// Everything held about the caller.
    #[oai(status = 200)]
    Exported(Json<CallerExportBody>),
}

/// A caller marked as not to be remembered.
#[derive(Debug, Object)]
pub struct DoNotRememberBody {
    /// The caller, masked.
    pub caller: String,
    /// Always `do_not_remember`.
    pub status: String,
}

#[derive(ApiResponse)]
pub enum DoNotRememberSuccess {
    /// From now on the caller's calls are archived but never learnt.
    #[oai(status = 200)]
    Marked(Json<DoNotRememberBody>),
}

#[derive(ApiResponse)]
pub enum AdminError {
    /// The phone number is not usable.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// The `Authorization: Bearer` key is missing or wrong (`unauthorized`). Answered before the
    /// operation runs; listed so that the documentation shows it.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// The administration API is off (no `ADMIN_API_KEY`).
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// A store could not be reached; what was done stays done, and sending the request again
    /// finishes the work.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
    /// Something unexpected failed; it has been logged.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}

pub struct AdminApi;

#[OpenApi(tag = "ApiTags::Administration")]
impl AdminApi {
    /// Erase a caller
    ///
    /// Deletes everything held about the caller in every store: the profile card, every memory,
    /// every archived transcription, recording and failure of their calls, and the ingestion
    /// records; this server also drops what it keeps of them in memory. A tombstone (a keyed hash of the number and the erased conversation ids, never
    /// the number) keeps a retried delivery or a replay from bringing the calls back. Calls made
    /// after the erasure are remembered as usual. Idempotent.
    #[oai(
        path = "/admin/callers/:phone",
        method = "delete",
        transform = "small_bodies"
    )]
    async fn erase(
        &self,
        state: Data<&Arc<AppState>>,
        AdminKey(access): AdminKey,
        /// The caller's number, with `+` (or `00`) and the country code; spaces and dashes are
        /// ignored.
        phone: Path<String>,
    ) -> Result<EraseSuccess, AdminError> {
        let (admin, caller) = admin_and_caller(&state, access, &phone)?;
        let receipt = admin.privacy.erase.erase(&caller).await.map_err(failure)?;
        Ok(EraseSuccess::Erased(Json(ErasureReceiptBody::new(
            &caller, receipt,
        ))))
    }

    /// Export a caller's data
    ///
    /// Everything held about the caller in one JSON document: the profile card, every memory
    /// with its kind and time, and every call with its archived transcription. Recordings are
    /// only listed; `caller-memory export --audio` writes them into a tar file.
    #[oai(
        path = "/admin/callers/:phone/export",
        method = "get",
        transform = "small_bodies"
    )]
    async fn export(
        &self,
        state: Data<&Arc<AppState>>,
        AdminKey(access): AdminKey,
        /// The caller's number, with `+` (or `00`) and the country code.
        phone: Path<String>,
    ) -> Result<ExportSuccess, AdminError> {
        let (admin, caller) = admin_and_caller(&state, access, &phone)?;
        let export = admin
            .privacy
            .export
            .export(&caller, Recordings::Left)
            .await
            .map_err(failure)?;
        Ok(ExportSuccess::Exported(Json(CallerExportBody::new(
            &caller, export,
        ))))
    }

    /// Stop remembering a caller
    ///
    /// From now on the caller's calls are archived but never learnt (no profile card update, no
    /// memories). What was learnt before stays until the caller is erased. A caller can also ask
    /// during a call, through the data-collection field named by `DO_NOT_REMEMBER_FIELD`.
    /// Idempotent.
    #[oai(
        path = "/admin/callers/:phone/do-not-remember",
        method = "put",
        transform = "small_bodies"
    )]
    async fn do_not_remember(
        &self,
        state: Data<&Arc<AppState>>,
        AdminKey(access): AdminKey,
        /// The caller's number, with `+` (or `00`) and the country code.
        phone: Path<String>,
    ) -> Result<DoNotRememberSuccess, AdminError> {
        let (admin, caller) = admin_and_caller(&state, access, &phone)?;
        admin
            .privacy
            .do_not_remember
            .mark(&caller)
            .await
            .map_err(|error| failure(EraseError::Storage(error)))?;
        Ok(DoNotRememberSuccess::Marked(Json(DoNotRememberBody {
            caller: caller.masked(),
            status: "do_not_remember".to_owned(),
        })))
    }
}

fn admin_and_caller<'a>(
    state: &'a AppState,
    access: Access,
    phone: &str,
) -> Result<(&'a AdminOperations, CallerId), AdminError> {
    let admin = admin(state, access)?;
    let caller = CallerId::parse(phone).map_err(|error| {
        AdminError::BadRequest(Json(ErrorBody::new(
            "invalid_request",
            format!("phone: {error}"),
        )))
    })?;
    Ok((admin, caller))
}

fn admin(state: &AppState, access: Access) -> Result<&AdminOperations, AdminError> {
    match (access, &state.admin) {
        (Access::Granted, Some(admin)) => Ok(admin),
        (Access::Off, _) | (Access::Granted, None) => {
            Err(AdminError::NotFound(Json(ErrorBody::new(
                "not_found",
                "the administration API is off; set ADMIN_API_KEY to turn it on",
            ))))
        }
    }
}

fn sweep_failure(error: SweepError) -> AdminError {
    failure(match error {
        SweepError::MemoryStore(error) => EraseError::MemoryStore(error),
        SweepError::Storage(error) => EraseError::Storage(error),
    })
}

fn failure(error: EraseError) -> AdminError {
    match error {
        EraseError::MemoryStore(MemoryStoreError::Unavailable(reason)) => {
            tracing::warn!(reason = %ErrorChain(reason.as_ref()), "the memory store is unavailable for an administration request");
            AdminError::Unavailable(Json(ErrorBody::new(
                "unavailable",
                "the memory store cannot be reached; send the request again later",
            )))
        }
        EraseError::MemoryStore(
            error @ (MemoryStoreError::Rejected(_)
            | MemoryStoreError::Incompatible(_)
            | MemoryStoreError::Unknown(_)),
        ) => internal(&error),
        EraseError::Storage(error) => internal(&error),
    }
}

fn internal(error: &(dyn std::error::Error + 'static)) -> AdminError {
    tracing::error!(error = %ErrorChain(error), "an administration request failed");
    AdminError::Internal(Json(ErrorBody::internal()))
}
