//! Integration tests: the real application on a free port, driven over HTTP.

mod cli;
mod health;
mod helpers;
mod openapi;
