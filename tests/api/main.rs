//! Integration tests: the real application on a free port, driven over HTTP.

mod cli;
mod client_data;
mod end_to_end;
mod health;
mod helpers;
mod hostile_requests;
mod openapi;
mod post_call;
mod privacy;
mod profiles;
mod search_data;
mod service_process;
