//! `POST /webhook/client-data`: ElevenLabs asks, while the phone rings, who is calling.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

use poem::http::Method;
use poem::web::Data;
use poem::{Body, IntoResponse, Request, RequestBody, Response};
use poem_openapi::payload::{Json, Payload};
use poem_openapi::{ApiExtractor, ApiResponse, ExtractParamOptions, Object, OpenApi};
use serde::Serialize;

use crate::core::ports::{CallerMemo, Forgets, ReadStart};
use crate::core::use_cases::Greeting;
use crate::core::{mask_phone_number, AgentId, CallerId};
use crate::inbound::http::auth::{check_client_data, presented_key, ClientDataKey};
use crate::inbound::http::body_limit::{read_small_body, small_bodies};
use crate::inbound::http::edge::Edge;
use crate::inbound::http::error::ErrorBody;
use crate::inbound::http::field_text::{
    AgentIdField, CallSidField, CalledNumberField, CallerIdField, FieldText,
};
use crate::inbound::http::serde_json_payload::WrittenJson;
use crate::inbound::http::state::AppState;
use crate::inbound::http::ApiTags;
use ring_fields::RingFields;

mod ring_fields;

/// What ElevenLabs sends when an inbound call rings. Unknown fields are ignored.
#[derive(Debug, Object)]
pub struct ClientDataRequest {
    /// The caller's phone number, normally E.164 (`+14155550123`). A withheld or garbled number
    /// is answered as a new caller.
    pub caller_id: Option<FieldText<CallerIdField>>,
    /// The agent receiving the call.
    pub agent_id: Option<FieldText<AgentIdField>>,
    /// The number that was called.
    pub called_number: Option<FieldText<CalledNumberField>>,
    /// The Twilio call SID, or the SIP call id.
    pub call_sid: Option<FieldText<CallSidField>>,
}

// Written with serde (see `WrittenJson`): each `#[oai]` attribute that changes the JSON has its
// `#[serde]` twin, and a test checks that both write the same.
/// The conversation initiation data ElevenLabs starts the call with.
#[derive(Debug, Object, Serialize)]
pub struct ClientDataResponse {
    /// Always `conversation_initiation_client_data`.
    #[oai(rename = "type")]
    #[serde(rename = "type")]
    pub kind: String,
    pub dynamic_variables: DynamicVariables,
    /// Present only for a returning caller when the first-message override is enabled; never
    /// null or empty.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation_config_override: Option<ConversationConfigOverride>,
}

/// Every dynamic variable the service defines; all are always present.
#[derive(Debug, Object, Serialize)]
pub struct DynamicVariables {
    /// The caller's name, or `""` when unknown.
    pub user_name: String,
    /// A short spoken summary of what is known about the caller, or `""`.
    pub user_profile_summary: String,
    /// The summary of the caller's last call (with this agent when there was one), or `""`.
    pub last_call_summary: String,
    /// Whether the service has learnt from an earlier call of this caller.
    pub is_returning_caller: bool,
    /// How many earlier calls the service has learnt from.
    pub previous_call_count: u64,
}

/// Overrides of the agent's configuration for this call.
#[derive(Debug, Object, Serialize)]
pub struct ConversationConfigOverride {
    pub agent: AgentOverride,
}

/// Agent settings overridden for this call.
#[derive(Debug, Object, Serialize)]
pub struct AgentOverride {
    /// The personalised first sentence the agent says.
    pub first_message: String,
}

#[derive(ApiResponse)]
pub enum ClientDataSuccess {
    /// The caller's dynamic variables (and first message for a returning caller).
    #[oai(status = 200)]
    Ok(WrittenJson<ClientDataResponse>),
}

#[derive(ApiResponse)]
pub enum ClientDataError {
    /// The body is not a JSON object (`invalid_request`).
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// `X-Api-Key` is missing or wrong.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// The sender's address is not in `ALLOWED_SOURCE_IPS` (`forbidden`).
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// The body stopped arriving for `BODY_STALL_TIMEOUT_MS` (`request_timeout`).
    #[oai(status = 408)]
    RequestTimeout(Json<ErrorBody>),
    /// The body is larger than 64 KiB (`payload_too_large`). Answered by the body limit before
    /// the operation runs; listed so that the documentation shows it.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// The body is not sent as `application/json` (`unsupported_media_type`). Answered by the
    /// framework before the operation runs; listed so that the documentation shows it.
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
}

/// The `type` ElevenLabs requires on every answer; without it the call fails silently.
const RESPONSE_TYPE: &str = "conversation_initiation_client_data";

impl From<Greeting> for ClientDataResponse {
    fn from(greeting: Greeting) -> Self {
        Self {
            kind: RESPONSE_TYPE.to_owned(),
            conversation_config_override: greeting.first_message.map(|first_message| {
                ConversationConfigOverride {
                    agent: AgentOverride { first_message },
                }
            }),
            dynamic_variables: DynamicVariables {
                user_name: greeting.user_name,
                user_profile_summary: greeting.user_profile_summary,
                last_call_summary: greeting.last_call_summary,
                is_returning_caller: greeting.is_returning_caller,
                previous_call_count: greeting.previous_call_count,
            },
        }
    }
}

/// The caller's number when it is usable; a withheld or garbled one is answered as a new caller.
fn usable_caller_id(raw: &str) -> Option<CallerId> {
    CallerId::parse(raw)
        .inspect_err(|problem| {
            let caller_id = mask_phone_number(raw);
            tracing::info!(%caller_id, %problem, "greeting as a new caller: unusable caller id");
        })
        .ok()
}

/// Answers already written, by greeting: a returning caller's greeting is the same at every
/// ring until their card changes, and writing it (escaping about a kilobyte of text) costs more
/// than finding it. Shared by every server of the process; an answer depends only on its greeting.
/// The key is about a kilobyte of text, hashed at every ring: foldhash hashes it in a fraction of
/// the instructions of the standard SipHash (the table's size is bounded, and it is filled only
/// with greetings of callers the service knows).
static WRITTEN_ANSWERS: LazyLock<Mutex<WrittenAnswers>> = LazyLock::new(Mutex::default);

type WrittenAnswers =
    HashMap<Greeting, WrittenJson<ClientDataResponse>, foldhash::fast::RandomState>;

/// Counted, with the table locked, by every [`CallerMemo::forget`]: an answer whose greeting was
/// looked up before it is not kept, since the card it came from may be gone.
static WRITTEN_ANSWERS_FORGETS: Forgets = Forgets::new();

/// How many written answers are kept (each about a kilobyte).
const WRITTEN_ANSWERS_KEPT: usize = 4_096;

fn written_answers() -> MutexGuard<'static, WrittenAnswers> {
    WRITTEN_ANSWERS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The written answers, as a memo an erasure tells to forget a caller. An answer is kept by its
/// greeting, which names no caller (two callers with the same name and history share one), so
/// forgetting any caller drops every answer: erasures are rare, and each returning caller's
/// answer is written again at their next ring.
pub struct WrittenAnswersMemo;

impl CallerMemo for WrittenAnswersMemo {
    fn forget(&self, _caller: &CallerId) {
        let mut answers = written_answers();
        WRITTEN_ANSWERS_FORGETS.forgot();
        answers.clear();
    }
}

/// The answer for `greeting`, written once and kept, unless a caller was forgotten since
/// `start` (marked before the greeting was looked up).
fn written_answer(greeting: Greeting, start: ReadStart) -> WrittenJson<ClientDataResponse> {
    if let Some(written) = written_answers().get(&greeting) {
        return written.clone();
    }
    let written = WrittenJson::write(&ClientDataResponse::from(greeting.clone()))
        .expect("an answer of text, booleans and numbers always writes");
    let mut answers = written_answers();
    if !WRITTEN_ANSWERS_FORGETS.none_since(start) {
        return written;
    }
    if answers.len() >= WRITTEN_ANSWERS_KEPT {
        // Crude but bounded: a full table starts over rather than tracking recency.
        answers.clear();
    }
    answers.insert(greeting, written.clone());
    written
}

/// The greeting of the caller of a ring whose `caller_id` and `agent_id` fields are these,
/// written: the one answer of both the operation and [`serve`].
async fn answer(
    state: &AppState,
    caller_id: Option<&str>,
    agent_id: Option<&str>,
) -> WrittenJson<ClientDataResponse> {
    let caller = caller_id.and_then(usable_caller_id);
    let agent = agent_id.and_then(|raw| AgentId::parse(raw).ok());
    let start = WRITTEN_ANSWERS_FORGETS.read_start();
    let greeting = state
        .greet_caller
        .greet(caller.as_ref(), agent.as_ref())
        .await;
    if let (Some(reason), Some(metrics)) = (greeting.withheld_override, &state.metrics) {
        metrics.override_withheld(reason);
    }
    written_answer(greeting, start)
}

/// The operation's path; the `#[oai(path)]` below says the same (the committed OpenAPI document
/// and its test hold the documented one).
const PATH: &str = "/webhook/client-data";

/// Whether `request` is a ring, answered by [`serve`]. Any other method on the path goes on to
/// the OpenAPI service, which answers 405.
pub(super) fn is_ring(request: &Request) -> bool {
    request.method() == Method::POST && request.uri().path() == PATH
}

/// A ring, answered in front of the OpenAPI service (the main port's front layer sends every
/// `POST` on the path here). poem-openapi's machinery around an operation (a boxed route at each
/// level, the wrappers of the transform and of the operation id, the extractors' bookkeeping)
/// cost as much as the greeting itself, and this is the call made at every ring.
///
/// It makes the operation's checks in the operation's order, each with the piece the operation
/// uses: the body limit of [`small_bodies`], the key check of [`ClientDataKey`], then the JSON
/// body and [`answer`]. A JSON body of the documented text fields, as ElevenLabs sends it, is
/// read by [`RingFields`] without building a tree of it; any other body goes to poem-openapi's own
/// `Json` extractor (content type, then the JSON and its fields, with the same 415 and 400s).
/// Errors go to the same converter as the framework's.
pub(super) async fn serve(
    state: &AppState,
    edge: &Edge,
    mut request: Request,
) -> poem::Result<Response> {
    let body = read_small_body(&mut request, Some(edge)).await?;
    check_client_data(state, presented_key(&request)?)?;
    let ring = if is_json(&request) {
        RingFields::read(&body)
    } else {
        None
    };
    if let Some(ring) = ring {
        let answered = answer(state, ring.caller_id.as_deref(), ring.agent_id.as_deref()).await;
        return Ok(answered.into_response());
    }
    let mut body = RequestBody::new(Body::from_bytes(body));
    let Json(call) = <Json<ClientDataRequest> as ApiExtractor>::from_request(
        &request,
        &mut body,
        ExtractParamOptions::default(),
    )
    .await?;
    let answered = answer(state, call.caller_id.as_deref(), call.agent_id.as_deref()).await;
    Ok(answered.into_response())
}

/// Whether the request's content type is one the `Json` extractor accepts. The type ElevenLabs
/// sends is recognised before the extractor's own check, which parses the media type.
fn is_json(request: &Request) -> bool {
    request.content_type().is_some_and(|content_type| {
        content_type == "application/json"
            || <Json<ClientDataRequest> as Payload>::check_content_type(content_type)
    })
}

pub struct ClientDataApi;

// On the main port this operation only documents the webhook: `serve` answers every `POST` on
// its path ahead of the OpenAPI service. It still answers alike (with `answer`, after the same
// checks by the framework) wherever the OpenAPI service is mounted without that front layer.
#[OpenApi(tag = "ApiTags::Webhooks")]
impl ClientDataApi {
    /// Greet a caller at ring time
    ///
    /// Configure this URL as the conversation initiation client data webhook of the ElevenLabs
    /// workspace, with the `X-Api-Key` header. It recognises the caller by phone number and
    /// returns the dynamic variables, plus a personalised first message for returning callers.
    /// A withheld or unusable number is answered as a new caller, never as an error.
    #[oai(
        path = "/webhook/client-data",
        method = "post",
        operation_id = "client_data",
        transform = "small_bodies"
    )]
    async fn client_data(
        &self,
        _key: ClientDataKey,
        state: Data<&Arc<AppState>>,
        request: Json<ClientDataRequest>,
    ) -> Result<ClientDataSuccess, ClientDataError> {
        let (caller_id, agent_id) = (request.caller_id.as_deref(), request.agent_id.as_deref());
        Ok(ClientDataSuccess::Ok(
            answer(&state, caller_id, agent_id).await,
        ))
    }
}

#[cfg(test)]
mod same_as_the_operation;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::use_cases::WithheldReason;
    use crate::inbound::http::serde_json_payload::same_json_both_ways;

    #[test]
    fn serde_writes_the_answer_exactly_as_the_documented_schema_does() {
        let returning = Greeting {
            user_name: "Maria \"Mary\" López".to_owned(),
            user_profile_summary: "Maria has called twice before.\nKnown details: none.".to_owned(),
            last_call_summary: "Moved her cleaning.".to_owned(),
            is_returning_caller: true,
            previous_call_count: 2,
            first_message: Some("Hi, Maria, welcome back!".to_owned()),
            withheld_override: None,
        };
        let withheld = Greeting {
            first_message: None,
            withheld_override: Some(WithheldReason::NotAllowed),
            ..returning.clone()
        };
        for greeting in [returning, withheld, Greeting::new_caller()] {
            let answer = ClientDataResponse::from(greeting.clone());
            assert!(same_json_both_ways(&answer));
            let sent: serde_json::Value = serde_json::from_slice(
                written_answer(greeting, WRITTEN_ANSWERS_FORGETS.read_start()).body(),
            )
            .unwrap();
            assert_eq!(Some(sent), poem_openapi::types::ToJSON::to_json(&answer));
        }
    }

    /// The written answers are shared by the whole process: the tests that forget them take
    /// turns, so that one test's forgetting never lands in the middle of another.
    static FORGETTING: Mutex<()> = Mutex::new(());

    fn returning(name: &str) -> Greeting {
        Greeting {
            user_name: name.to_owned(),
            is_returning_caller: true,
            previous_call_count: 1,
            ..Greeting::new_caller()
        }
    }

    fn forget_a_caller() {
        WrittenAnswersMemo.forget(&CallerId::parse("+14155550123").unwrap());
    }

    #[test]
    fn forgetting_a_caller_drops_the_written_answers() {
        let _turn = FORGETTING
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let greeting = returning("Erin Erased");
        written_answer(greeting.clone(), WRITTEN_ANSWERS_FORGETS.read_start());
        assert!(written_answers().contains_key(&greeting));

        forget_a_caller();

        assert!(!written_answers().contains_key(&greeting));
    }

    #[test]
    fn an_answer_looked_up_before_a_caller_was_forgotten_is_not_kept() {
        let _turn = FORGETTING
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let greeting = returning("Rita Racing");
        let before = WRITTEN_ANSWERS_FORGETS.read_start();

        forget_a_caller();
        let sent = written_answer(greeting.clone(), before);

        assert!(!written_answers().contains_key(&greeting));
        let sent: serde_json::Value = serde_json::from_slice(sent.body()).unwrap();
        assert_eq!(sent["dynamic_variables"]["user_name"], "Rita Racing");
    }
}
