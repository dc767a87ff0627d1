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

/// `mi_option_purge_delay` in mimalloc's option enum (not named by the
/// bindings): how long freed memory stays with the process before it goes
/// back to the OS (1 s by default in the bundled build).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Return freed memory to the OS at once. A detection commit builds and
/// drops tens of megabytes within a second; with the default delay much of
/// it stayed resident. Measured on the load bench (60 s, both packs with an
/// early burst rule): resident memory 250–450 MiB with the default, 200–300
/// MiB without a delay, at the same throughput. `MIMALLOC_PURGE_DELAY` in
/// the environment still wins.
fn purge_freed_memory_at_once() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: plain option getter and setter of the linked allocator,
    // called before any other thread exists.
    unsafe {
        if libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) > 0 {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0);
        }
    }
}

fn main() -> std::process::ExitCode {
    purge_freed_memory_at_once();
    let cli = cli::Cli::parse();
    match cmd::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
