//! The `collsynth` binary: parse arguments, run, map the outcome to an exit code
//! (all in [`collsynth::cli::run_args`], which the fuzz targets call too).

use std::process::ExitCode;

use collsynth::cli::{exit_code, run_args};

fn main() -> ExitCode {
    exit_code(run_args(std::env::args_os()))
}
