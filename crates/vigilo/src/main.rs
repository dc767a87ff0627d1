//! The `vigilo` binary: one process that ingests, stores, detects and serves.

mod cli;
mod cmd;
mod config;
mod logging;
mod out;
mod table;

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
    let error_status = cmd::error_status(&cli.command);
    match cmd::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", error_text(&e));
            std::process::ExitCode::from(error_status)
        }
    }
}

/// The error and its causes, outermost first, joined by `: `; a cause
/// whose text already ends the message (a context or error type that
/// includes its source) is not repeated.
fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if part.is_empty() || text.ends_with(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::error_text;

    #[derive(Debug)]
    struct Inner;
    impl std::fmt::Display for Inner {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("address in use")
        }
    }
    impl std::error::Error for Inner {}

    #[derive(Debug)]
    struct Outer(Inner);
    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "cannot listen on x: {}", self.0)
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn causes_already_in_the_message_are_not_repeated() {
        let e = anyhow::Error::new(Outer(Inner)).context("starting");
        assert_eq!(
            error_text(&e),
            "starting: cannot listen on x: address in use"
        );
        let e = anyhow::Error::new(Inner).context("binding");
        assert_eq!(error_text(&e), "binding: address in use");
    }
}
