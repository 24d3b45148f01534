//! The `certkeeper` command: the server and its operator tools.

mod cli;
mod cli_keys;
mod cli_lifecycle;
mod config;
mod listener;
mod remote;
mod serve;

use std::process::ExitCode;

use clap::Parser;

/// jemalloc, not the system allocator: large answers (the status-change list is megabytes at
/// 10M certificates) took fresh pages from the kernel on every request with glibc, whose
/// page faults were ~10 % of the request (`perf`); jemalloc reuses freed pages. Measured in
/// docs/benchmarks.md.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        // Remote commands report their own errors (one line, or JSON) and pick the code.
        Err(e) => match e.downcast_ref::<remote::Exit>() {
            Some(remote::Exit(code)) => ExitCode::from(*code),
            None => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
    }
}
