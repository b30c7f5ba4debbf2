use std::process::ExitCode;

// Requests allocate and free many small objects; mimalloc serves them faster than the system
// allocator (measured with scripts/load-test.sh, see README "Performance").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Before the runtime starts any thread: it sets an environment variable.
    caller_memory::outbound::embedder::local::one_thread_per_request();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the async runtime starts")
        .block_on(caller_memory::cli::run())
}
