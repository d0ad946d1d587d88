//! The `collsynth` binary: parse arguments, run, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

use collsynth::cli::{self, exit_code, Outcome};

fn main() -> ExitCode {
    let args = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return exit_code(if e.use_stderr() {
                Outcome::BadInput
            } else {
                Outcome::Success
            });
        }
    };
    init_logging(args.verbose);
    match cli::run(args) {
        Ok(outcome) => exit_code(outcome),
        Err(e) => {
            eprintln!("{e}");
            exit_code(e.outcome())
        }
    }
}

fn init_logging(verbose: u8) {
    // egg logs every iteration at info; its summary is reported by collsynth itself.
    let default = match verbose {
        0 => "warn",
        1 => "info,egg=warn",
        2 => "debug,egg=info",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .init();
}
