//! Integration tests: the real application on a free port, driven over HTTP.

mod cli;
mod health;
mod helpers;
mod hostile_requests;
mod openapi;
mod post_call;
mod privacy;
mod service_process;
