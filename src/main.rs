use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    caller_memory::cli::run().await
}
