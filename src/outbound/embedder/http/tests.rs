use std::time::Duration;

use serde_json::{json, Value};
use wiremock::matchers::{bearer_token, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use super::*;

const TIMEOUT: Duration = Duration::from_secs(2);

/// The error with its causes, as the logs show it.
fn chain(error: EmbedderError) -> String {
    format!("{:#}", anyhow::Error::from(error))
}

/// A vector that depends on the text, so order mistakes show: (length, 1, first byte).
fn vector_of(text: &str) -> Vec<f32> {
    vec![
        text.len() as f32,
        1.0,
        f32::from(text.bytes().next().unwrap_or(0)),
    ]
}

/// Answers like the public API: one embedding per input, listed in reverse order (clients must
/// order them by `index`).
fn embeddings_api(request: &Request) -> ResponseTemplate {
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    let inputs = body["input"].as_array().unwrap();
    let mut data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, text)| {
            json!({"object": "embedding", "index": index, "embedding": vector_of(text.as_str().unwrap())})
        })
        .collect();
    data.reverse();
    ResponseTemplate::new(200).set_body_json(json!({
        "object": "list",
        "data": data,
        "model": body["model"],
        "usage": {"prompt_tokens": 1, "total_tokens": 1}
    }))
}

async fn server_with(response: impl wiremock::Respond + 'static) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .respond_with(response)
        .mount(&server)
        .await;
    server
}

async fn connect(server: &MockServer) -> anyhow::Result<HttpEmbedder> {
    let url = Url::parse(&server.uri()).unwrap();
    HttpEmbedder::connect(&url, "text-embedding-3-small", "secret-key", None, TIMEOUT).await
}

fn texts(count: usize) -> Vec<String> {
    (0..count).map(|index| "x".repeat(index + 1)).collect()
}

#[tokio::test]
async fn embeddings_come_back_in_input_order_with_the_key_and_model_sent() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .and(bearer_token("secret-key"))
        .respond_with(embeddings_api)
        .mount(&server)
        .await;
    let embedder = connect(&server).await.unwrap();
    assert_eq!(embedder.dimensions(), 3);
    assert_eq!(embedder.model_id(), "api:text-embedding-3-small");
    let texts = vec!["a".to_owned(), "bbb".to_owned(), "cc".to_owned()];
    let embeddings = embedder.embed(&texts).await.unwrap();
    for (text, embedding) in texts.iter().zip(&embeddings) {
        assert_eq!(embedding, &Embedding::new(vector_of(text)));
    }
    let sent: Value =
        serde_json::from_slice(&server.received_requests().await.unwrap()[1].body).unwrap();
    assert_eq!(
        sent,
        json!({"model": "text-embedding-3-small", "input": texts})
    );
}

#[tokio::test]
async fn with_input_types_questions_and_memories_are_embedded_as_their_kind() {
    // Like an E5 server taking `input_type`: a query's vector differs from a passage's.
    let server = server_with(|request: &Request| {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        let marker = match body["input_type"].as_str() {
            Some("query") => 2.0,
            Some("passage") => 3.0,
            _ => 0.0,
        };
        let data: Vec<Value> = body["input"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(index, _)| json!({"index": index, "embedding": [marker, 1.0]}))
            .collect();
        ResponseTemplate::new(200).set_body_json(json!({"data": data}))
    })
    .await;
    let url = Url::parse(&server.uri()).unwrap();
    let types = InputTypes {
        query: "query".to_owned(),
        document: "passage".to_owned(),
    };
    let embedder = HttpEmbedder::connect(&url, "e5", "", Some(types), TIMEOUT)
        .await
        .unwrap();
    let memory = embedder.embed(&texts(1)).await.unwrap();
    let question = embedder.embed_query("allergies?").await.unwrap();
    assert_eq!(memory, vec![Embedding::new(vec![3.0, 1.0])]);
    assert_eq!(question, Embedding::new(vec![2.0, 1.0]));
    let requests = server.received_requests().await.unwrap();
    let sent: Vec<Value> = requests
        .iter()
        .map(|request| {
            serde_json::from_slice::<Value>(&request.body).unwrap()["input_type"].clone()
        })
        .collect();
    assert_eq!(sent, [json!("passage"), json!("passage"), json!("query")]);
}

#[tokio::test]
async fn many_texts_are_sent_in_batches_and_kept_in_order() {
    let server = server_with(embeddings_api).await;
    let embedder = connect(&server).await.unwrap();
    let texts = texts(2 * BATCH_SIZE + 5);
    let embeddings = embedder.embed(&texts).await.unwrap();
    assert_eq!(embeddings.len(), texts.len());
    let last = texts.len() - 1;
    assert_eq!(embeddings[last], Embedding::new(vector_of(&texts[last])));
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1 + 3, "the probe, then three batches");
}

#[tokio::test]
async fn a_base_url_ending_in_v1_is_not_given_a_second_one() {
    let server = server_with(embeddings_api).await;
    let url = Url::parse(&format!("{}/v1/", server.uri())).unwrap();
    let embedder = HttpEmbedder::connect(&url, "m", "", None, TIMEOUT)
        .await
        .unwrap();
    assert_eq!(embedder.embed(&texts(1)).await.unwrap().len(), 1);
}

/// An embedder connected while the server answered, then facing `failure`.
async fn embedder_then(failure: ResponseTemplate) -> EmbedderError {
    let server = server_with(embeddings_api).await;
    let embedder = connect(&server).await.unwrap();
    server.reset().await;
    Mock::given(method("POST"))
        .respond_with(failure)
        .mount(&server)
        .await;
    embedder.embed(&texts(2)).await.unwrap_err()
}

#[tokio::test]
async fn an_overloaded_or_failing_server_is_unavailable() {
    for status in [429, 500, 503] {
        let error = embedder_then(ResponseTemplate::new(status)).await;
        assert!(
            matches!(error, EmbedderError::Unavailable(_)),
            "{status}: {error:?}"
        );
        assert!(error.is_retryable());
    }
}

#[tokio::test]
async fn a_slow_server_is_unavailable() {
    let error =
        embedder_then(ResponseTemplate::new(200).set_delay(TIMEOUT + Duration::from_millis(500)))
            .await;
    assert!(matches!(error, EmbedderError::Unavailable(_)), "{error:?}");
}

#[tokio::test]
async fn a_refusal_is_rejected_with_the_servers_message() {
    let openai = json!({"error": {"message": "This model's maximum context length is 8192 tokens", "type": "invalid_request_error"}});
    let error = embedder_then(ResponseTemplate::new(400).set_body_json(openai)).await;
    assert!(matches!(error, EmbedderError::Rejected(_)), "{error:?}");
    assert!(!error.is_retryable());
    assert!(chain(error).contains("maximum context length"));
    let flat = json!({"error": "Input validation error: inputs cannot be empty", "error_type": "Validation"});
    let error = chain(embedder_then(ResponseTemplate::new(413).set_body_json(flat)).await);
    assert!(error.contains("inputs cannot be empty"), "{error}");
}

#[tokio::test]
async fn an_answer_with_a_missing_embedding_or_the_wrong_size_is_an_error() {
    let one = json!({"data": [{"index": 0, "embedding": [1.0, 0.0, 0.0]}]});
    let error = chain(embedder_then(ResponseTemplate::new(200).set_body_json(one)).await);
    assert!(error.contains("1 embeddings for 2 texts"), "{error}");
    let small = json!({"data": [
        {"index": 0, "embedding": [1.0, 0.0]},
        {"index": 1, "embedding": [0.0, 1.0]}
    ]});
    let error = chain(embedder_then(ResponseTemplate::new(200).set_body_json(small)).await);
    assert!(error.contains("3 dimensions"), "{error}");
    let html = ResponseTemplate::new(200).set_body_string("<html>proxy</html>");
    let error = chain(embedder_then(html).await);
    assert!(error.contains("not embeddings"), "{error}");
}

#[tokio::test]
async fn a_wrong_key_stops_the_connection_with_the_servers_message() {
    let refusal = json!({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}});
    let server = server_with(ResponseTemplate::new(401).set_body_json(refusal)).await;
    let error = connect(&server).await.unwrap_err();
    assert!(
        format!("{error:#}").contains("Incorrect API key"),
        "{error:#}"
    );
}
