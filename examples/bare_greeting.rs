//! The reference the load script measures the greeting against: a bare poem server that answers
//! `POST /webhook/client-data` with a fixed JSON body, doing no work for it. The ratio of the
//! service's throughput to this server's, on the same machine in the same run, is the figure.
//!
//! Usage: `bare_greeting <address> <file holding the answer>`, for example
//! `cargo run --release --example bare_greeting -- 127.0.0.1:18090 answer.json`.

use poem::listener::TcpListener;
use poem::web::Data;
use poem::{handler, post, Body, EndpointExt, Response, Route, Server};

#[handler]
async fn client_data(body: Body, answer: Data<&bytes::Bytes>) -> Response {
    // The body is read, as the service must read it, and then ignored.
    let _ = body.into_bytes().await;
    Response::builder()
        .content_type("application/json; charset=utf-8")
        .body(answer.0.clone())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut arguments = std::env::args().skip(1);
    let (Some(address), Some(answer)) = (arguments.next(), arguments.next()) else {
        eprintln!("usage: bare_greeting <address> <file holding the answer>");
        std::process::exit(2);
    };
    let answer = bytes::Bytes::from(std::fs::read(answer)?);
    let app = Route::new()
        .at("/webhook/client-data", post(client_data))
        .data(answer);
    Server::new(TcpListener::bind(address)).run(app).await
}
