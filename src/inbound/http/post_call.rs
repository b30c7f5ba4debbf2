//! `POST /webhook/post-call`: ElevenLabs delivers a finished call (transcript, audio or an
//! initiation failure), signed with HMAC.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::param::Header;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use crate::inbound::http::error::ErrorBody;
use crate::inbound::http::raw_json::RawJsonBody;
use crate::inbound::http::state::AppState;
use crate::inbound::http::ApiTags;

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
    /// The body is not a valid webhook payload (bad JSON, bad conversation id, bad base64).
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// The signature is missing, wrong, or outside the time tolerance.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// The body is larger than the configured limit.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// The delivery could not be stored; ElevenLabs should retry it.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// Not available in this version.
    #[oai(status = 501)]
    NotImplemented(Json<ErrorBody>),
}

pub struct PostCallApi;

#[OpenApi(tag = "ApiTags::Webhooks")]
impl PostCallApi {
    /// Receive a finished call
    ///
    /// Configure this URL as the post-call webhook of the ElevenLabs workspace (HMAC
    /// authentication). The body is the raw JSON event (`post_call_transcription`,
    /// `post_call_audio` or `call_initiation_failure`); it is verified before it is read.
    #[oai(
        path = "/webhook/post-call",
        method = "post",
        operation_id = "post_call"
    )]
    async fn post_call(
        &self,
        _state: Data<&Arc<AppState>>,
        /// `t=<unix seconds>,v0=<hex HMAC-SHA256 of "{t}." + body>`.
        #[oai(name = "ElevenLabs-Signature")]
        _signature: Header<Option<String>>,
        body: RawJsonBody,
    ) -> Result<PostCallSuccess, PostCallError> {
        drop(body.0);
        Err(PostCallError::NotImplemented(Json(ErrorBody::new(
            "not_implemented",
            "post-call is not available yet",
        ))))
    }
}
