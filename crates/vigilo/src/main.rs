//! The `vigilo` binary: one process that ingests, stores, detects and serves.

mod cli;
mod cmd;
mod config;

use clap::Parser;

/// mimalloc instead of the system allocator: decoding, detecting and
/// storing events allocates and frees many small values on several threads,
/// where glibc's allocator spent a sixth of the process's time.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    match cmd::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
