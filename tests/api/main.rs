//! Integration tests: the real application on a free port, driven over HTTP.

mod cli;
mod client_data;
mod health;
mod helpers;
mod openapi;
mod profiles;
mod search_data;
