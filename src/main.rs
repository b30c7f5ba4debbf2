use std::process::ExitCode;

// Requests allocate and free many small objects; mimalloc serves them faster than the system
// allocator (measured with scripts/load-test.sh, see README "Performance").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    caller_memory::cli::run().await
}
