//! The fake's request handling, one function per route.

use std::sync::Arc;
use std::time::{Duration, Instant};

use poem::http::StatusCode;
use poem::{Endpoint, Request, Response};
use serde_json::{json, Value};

use super::records::{memory_json, rank, store};
use super::text::{decode_uri_component, token_set_hash};
use super::{FakeMode, RecordedRequest, Shared};

/// Identical queries are answered from memory for this long.
// exchanges-legacy/l52_cache_same_query_is_stale.json
const QUERY_CACHE_TTL: Duration = Duration::from_secs(60);

pub struct FakeEndpoint(pub Arc<Shared>);

struct Incoming {
    method: String,
    segments: Vec<String>,
    query_string: String,
    json_content_type: bool,
    body: Vec<u8>,
}

impl Endpoint for FakeEndpoint {
    type Output = Response;

    async fn call(&self, mut request: Request) -> poem::Result<Response> {
        let body = request.take_body().into_vec().await.unwrap_or_default();
        let (delay, failure) = self.record(&request, &body);
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        if let Some(status) = failure {
            return Ok(answer(status, json!({"error": "injected_failure"})));
        }
        let raw_path = request.uri().path().to_owned();
        let Some(segments) = raw_path
            .split('/')
            .filter(|segment| !segment.is_empty())
            .map(decode_uri_component)
            .collect::<Option<Vec<_>>>()
        else {
            // exchanges-legacy/l82_bad_percent_encoding_in_path_no_key_crashes_server.json
            return Ok(self.crash("malformed percent escape in the path"));
        };
        if request.method() == "GET" && segments == ["health"] {
            // exchanges-legacy/l01_health.json: public
            return Ok(answer(
                200,
                json!({"ok": true, "version": "2.0-hsg-tiered", "tier": "hybrid"}),
            ));
        }
        if let Err(refused) = self.authenticate(&request) {
            return Ok(refused.into_response());
        }
        let incoming = Incoming {
            method: request.method().to_string(),
            segments,
            query_string: request.uri().query().unwrap_or_default().to_owned(),
            json_content_type: request
                .header("content-type")
                .is_some_and(|value| value.contains("application/json")),
            body,
        };
        if incoming.method == "POST" && incoming.segments == ["memory", "add"] {
            return Ok(self.add(&incoming).await);
        }
        Ok(self.route(incoming))
    }
}

impl FakeEndpoint {
    fn record(&self, request: &Request, body: &[u8]) -> (Option<Duration>, Option<u16>) {
        let mut state = self.0.state();
        state.requests.push(RecordedRequest {
            method: request.method().to_string(),
            path_and_query: request
                .uri()
                .path_and_query()
                .map(|value| value.to_string())
                .unwrap_or_default(),
            content_type: request.header("content-type").map(str::to_owned),
            authorization: request.header("authorization").map(str::to_owned),
            body: body.to_vec(),
        });
        (state.delay, state.failure)
    }

    fn crash(&self, reason: &str) -> Response {
        self.0.state().crashes.push(reason.to_owned());
        answer(
            500,
            json!({"error": "the real server process would have exited here"}),
        )
    }

    /// `x-api-key`, `Authorization: Bearer` or `Authorization: ApiKey`.
    // exchanges-legacy/l38_missing_api_key.json, l39_wrong_api_key.json, l40_apikey_scheme.json
    fn authenticate(&self, request: &Request) -> Result<(), Refusal> {
        if self.0.state().auth_not_configured {
            return Err(Refusal(
                503,
                json!({"error": "auth_not_configured", "message": "Server has no OM_API_KEY configured. Protected endpoints are unavailable."}),
            ));
        }
        let sent = request.header("x-api-key").map(str::to_owned).or_else(|| {
            let value = request.header("authorization")?;
            let (scheme, key) = value.split_once(' ')?;
            matches!(scheme, "Bearer" | "ApiKey").then(|| key.to_owned())
        });
        match sent {
            None => Err(Refusal(
                401,
                json!({"error": "authentication_required", "message": "API key required"}),
            )),
            Some(key) if key != self.0.key => {
                Err(Refusal(403, json!({"error": "invalid_api_key"})))
            }
            Some(_) => Ok(()),
        }
    }

    fn route(&self, incoming: Incoming) -> Response {
        let segments: Vec<&str> = incoming.segments.iter().map(String::as_str).collect();
        match (incoming.method.as_str(), segments.as_slice()) {
            ("POST", ["memory", "query"]) => self.query(&incoming),
            ("GET", ["memory", id]) => self.get_memory(id, &incoming.query_string),
            ("DELETE", ["memory", id]) => self.delete_memory(id, &incoming.query_string),
            ("GET", ["users", user, "summary"]) => self.summary(user),
            ("GET", ["users", user, "memories"]) => {
                self.user_memories(user, &incoming.query_string)
            }
            // exchanges-legacy/l43_unknown_route.json
            _ => Response::builder()
                .status(StatusCode::NOT_FOUND)
                .content_type("text/plain")
                .body("404: Not Found"),
        }
    }

    /// The user a request acts for: in the newest mode always the key's tenant, and any other
    /// non-empty `user_id` is refused.
    // exchanges-newest/a03_add_foreign_user_id_rejected.json, a14_query_foreign_user_rejected.json
    fn acting_user(&self, requested: Option<&str>) -> Result<Option<String>, Refusal> {
        let requested = requested.filter(|user| !user.is_empty());
        match self.0.mode {
            FakeMode::Legacy => Ok(requested.map(str::to_owned)),
            FakeMode::Newest => {
                let tenant = self.0.tenant();
                match requested {
                    Some(user) if user != tenant => Err(Refusal(
                        403,
                        json!({"error": "tenant_mismatch", "message": "user_id does not match authenticated tenant; user_id is derived from the API key and must not be supplied or must equal the tenant"}),
                    )),
                    _ => Ok(Some(tenant)),
                }
            }
        }
    }

    // exchanges-legacy/l02_add_caller_a_1.json, l08_add_without_user_id.json, l41_add_missing_content.json
    async fn add(&self, incoming: &Incoming) -> Response {
        let admitted = match self.admit(incoming) {
            Ok(admitted) => admitted,
            Err(answered) => return answered.into_response(),
        };
        let Some(hold) = self.0.state().stall_adds else {
            return admitted.store(&self.0);
        };
        // The duplicate check ran on arrival; the store happens after the hold, in a task of its
        // own, so it lands even when the client has given up: the check and the store are not
        // atomic, as on the real server.
        self.0.state().stalled_in_flight += 1;
        let shared = Arc::clone(&self.0);
        let landing = tokio::spawn(async move {
            tokio::time::sleep(hold).await;
            let answer = admitted.store(&shared);
            shared.state().stalled_in_flight -= 1;
            answer
        });
        landing.await.unwrap_or_else(|_| answer(500, json!({})))
    }

    /// Checks an add on arrival: content, user and the global duplicate lookup.
    fn admit(&self, incoming: &Incoming) -> Result<Admitted, Refusal> {
        let body: Value = if incoming.json_content_type {
            serde_json::from_slice(&incoming.body).unwrap_or(Value::Null)
        } else {
            json!({})
        };
        let content = body["content"].as_str().unwrap_or_default();
        if content.is_empty() {
            return Err(Refusal(400, json!({"err": "content"})));
        }
        let user = match self.acting_user(body["user_id"].as_str()) {
            Ok(user) => user.unwrap_or_else(|| "anonymous".to_owned()),
            Err(refused) => return Err(refused),
        };
        let state = self.0.state();
        // exchanges-legacy/l63_dedup_caller_b_same_content_as_a.json: the lookup has no user
        // filter, the new memory's tags and metadata are dropped and nothing is stored.
        let hash = token_set_hash(content);
        let duplicate = state.memories.iter().find(|memory| {
            memory.hash == hash || (state.deduplicate_every_add && memory.user_id != user)
        });
        if let Some(existing) = duplicate {
            return Err(Refusal(
                200,
                json!({"id": existing.id, "primary_sector": "semantic", "sectors": ["semantic"], "deduplicated": true}),
            ));
        }
        Ok(Admitted {
            user,
            content: content.to_owned(),
            tags: body["tags"].clone(),
            metadata: body["metadata"].clone(),
        })
    }

    // exchanges-legacy/l09 (filters.user_id), l11 (top-level), l12 (filters wins), l13 (no user:
    // every user), l19 (k 0 means 8); l81 and l84 crash a legacy server.
    fn query(&self, incoming: &Incoming) -> Response {
        if !incoming.json_content_type {
            return match self.0.mode {
                FakeMode::Legacy => self.crash("query without a json content type"),
                FakeMode::Newest => answer(
                    400,
                    json!({"error": "invalid_input", "details": ["query: required"]}),
                ),
            };
        }
        let Ok(body) = serde_json::from_slice::<Value>(&incoming.body) else {
            return match self.0.mode {
                FakeMode::Legacy => self.crash("query with unparseable json"),
                FakeMode::Newest => answer(400, json!({"error": "invalid_json"})),
            };
        };
        let requested = body["filters"]["user_id"]
            .as_str()
            .filter(|user| !user.is_empty())
            .or(body["user_id"].as_str());
        let user = match self.acting_user(requested) {
            Ok(user) => user,
            Err(refused) => return refused.into_response(),
        };
        let text = body["query"].as_str().unwrap_or_default();
        let k = match body["k"].as_u64() {
            Some(0) | None => 8,
            Some(k) => k as usize,
        };
        let cache_key = format!("{text}:{k}:{}", body["filters"]);
        let mut state = self.0.state();
        if let Some((at, cached)) = state.query_cache.get(&cache_key) {
            if at.elapsed() < QUERY_CACHE_TTL {
                return answer(200, cached.clone());
            }
        }
        let matches = rank(&state, user.as_deref(), text, k);
        let result = json!({"query": text, "matches": matches});
        state
            .query_cache
            .insert(cache_key, (Instant::now(), result.clone()));
        answer(200, result)
    }

    // exchanges-legacy/l30 (other user: 403), l31 (no user_id: anyone's), l32 (a raw + in the
    // query string decodes to a space), l33 (owner: 200 with metadata).
    fn get_memory(&self, id: &str, query_string: &str) -> Response {
        let requested = query_parameter(query_string, "user_id");
        let user = match self.acting_user(requested.as_deref()) {
            Ok(user) => user,
            Err(refused) => return refused.into_response(),
        };
        let state = self.0.state();
        let Some(memory) = state.memories.iter().find(|memory| memory.id == id) else {
            return answer(404, json!({"err": "nf"}));
        };
        if user.is_some_and(|user| user != memory.user_id) {
            return answer(403, json!({"err": "forbidden"}));
        }
        let mut full = memory_json(memory);
        full["user_id"] = json!(memory.user_id);
        answer(200, full)
    }

    // exchanges-legacy/l20 (placeholder summary), l22 (unknown user: 404)
    fn summary(&self, user: &str) -> Response {
        let user = match self.acting_user(Some(user)) {
            Ok(user) => user.unwrap_or_default(),
            Err(refused) => return refused.into_response(),
        };
        let state = self.0.state();
        match state.users.get(&user) {
            None => answer(404, json!({"error": "user not found"})),
            Some(updated_at) => answer(
                200,
                json!({"user_id": user, "summary": "User profile initializing...", "reflection_count": 0, "updated_at": updated_at}),
            ),
        }
    }

    // exchanges-legacy/l25 (newest first), l27 (`l` and `u` page, default 100 and 0), l29
    // (unknown user: empty)
    fn user_memories(&self, user: &str, query_string: &str) -> Response {
        let user = match self.acting_user(Some(user)) {
            Ok(user) => user.unwrap_or_default(),
            Err(refused) => return refused.into_response(),
        };
        let paging = |name: &str, default: usize| {
            query_parameter(query_string, name)
                .and_then(|value| value.parse().ok())
                .unwrap_or(default)
        };
        let (limit, offset) = (paging("l", 100).min(10_000), paging("u", 0));
        let state = self.0.state();
        let items: Vec<Value> = state
            .memories
            .iter()
            .rev()
            .filter(|memory| memory.user_id == user)
            .skip(offset)
            .take(limit)
            .map(memory_json)
            .collect();
        answer(200, json!({"user_id": user, "items": items}))
    }

    // exchanges-legacy/l37 (another user's memory: 403), exchanges-newest/a22 (deleted), a24
    // (unknown: 404). The legacy query cache is not invalidated (l57).
    fn delete_memory(&self, id: &str, query_string: &str) -> Response {
        let requested = query_parameter(query_string, "user_id");
        let user = match self.acting_user(requested.as_deref()) {
            Ok(user) => user,
            Err(refused) => return refused.into_response(),
        };
        let mut state = self.0.state();
        let Some(position) = state.memories.iter().position(|memory| memory.id == id) else {
            return answer(404, json!({"err": "nf"}));
        };
        if user.is_some_and(|user| user != state.memories[position].user_id) {
            return answer(403, json!({"err": "forbidden"}));
        }
        state.memories.remove(position);
        answer(200, json!({"ok": true}))
    }
}

/// The decoded value of one query-string parameter.
fn query_parameter(query_string: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query_string.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// An add that passed the checks made on arrival.
struct Admitted {
    user: String,
    content: String,
    tags: Value,
    metadata: Value,
}

impl Admitted {
    fn store(self, shared: &Shared) -> Response {
        let id = store(
            &mut shared.state(),
            &self.user,
            &self.content,
            self.tags,
            self.metadata,
        );
        answer(
            200,
            json!({"id": id, "primary_sector": "semantic", "sectors": ["semantic"], "chunks": 1}),
        )
    }
}

/// A refusal (or an answer given without storing), kept small until it becomes a response.
struct Refusal(u16, Value);

impl Refusal {
    fn into_response(self) -> Response {
        answer(self.0, self.1)
    }
}

fn answer(status: u16, body: Value) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .content_type("application/json")
        .body(body.to_string())
}
