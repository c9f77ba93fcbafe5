//! How every spiketrain binary logs and fails: one log set-up, one error format, one table of
//! exit codes.
//!
//! | exit code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | error: nothing usable was produced (the message says why) |
//! | 2 | partial failure: some inputs failed (listed, e.g. in `errors.json`), the rest was written |
//! | 64 | the command line does not parse ([`crate::settings::EXIT_USAGE`]) |
//!
//! An error is printed once, on one line, as `<binary>: error: <cause>: <cause>…`, each message
//! of the cause chain once: a cause whose text its wrapper already printed is not repeated.

use std::process::ExitCode;

/// What a successful command reports to [`finish`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything was done (exit 0).
    Success,
    /// Some inputs failed and were reported; the rest was written (exit 2).
    Partial,
}

/// Exit status of an error.
pub const EXIT_ERROR: u8 = 1;
/// Exit status of a partial failure.
pub const EXIT_PARTIAL: u8 = 2;

/// Logs to stderr through `tracing`: `RUST_LOG` overrides `default_filter` (e.g. `"info"`),
/// colours only when stderr is a terminal. Calling it twice is harmless.
pub fn init_logging(default_filter: &str) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// Turns a binary's result into its exit code, printing an error as the module docs describe.
pub fn finish(bin: &str, result: anyhow::Result<Outcome>) -> ExitCode {
    match result {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Partial) => ExitCode::from(EXIT_PARTIAL),
        Err(e) => {
            eprintln!("{bin}: error: {}", error_message(&e));
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// The cause chain of `err` joined by `": "`, leaving out a cause whose text is already part of
/// the message before it (error types that print their source and also return it from
/// `source()`).
pub fn error_message(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string();
        let said = parts
            .last()
            .is_some_and(|last| last.contains(text.as_str()));
        if !text.is_empty() && !said {
            parts.push(text);
        }
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("corrupt record 3 of shard.dvsf at offset 96: {source}")]
    struct Repeats {
        #[source]
        source: std::io::Error,
    }

    #[test]
    fn each_cause_is_printed_once() {
        let inner = std::io::Error::other("checksum mismatch");
        let e = anyhow::Error::new(Repeats { source: inner }).context("cannot evaluate");
        assert_eq!(
            error_message(&e),
            "cannot evaluate: corrupt record 3 of shard.dvsf at offset 96: checksum mismatch"
        );
    }
}
