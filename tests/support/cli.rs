//! Running the `collsynth` binary: one runner and a few readers of its output.

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Runs the `collsynth` binary with `args` from the repository root (as cargo runs
/// the tests), `RUST_LOG` unset, `stdin` written to its standard input if given
/// (else an empty, closed stdin); waits and returns status, stdout and stderr.
pub fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_collsynth"));
    cmd.args(args)
        .current_dir(super::root())
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let Some(input) = stdin else {
        return cmd.output().expect("collsynth runs");
    };
    let mut child = cmd.stdin(Stdio::piped()).spawn().expect("collsynth runs");
    let mut pipe = child.stdin.take().expect("piped stdin");
    let input = input.to_string();
    // Written from a thread so that a large input never waits on a full stdout pipe.
    // A binary that rejects its arguments exits before reading stdin; the broken
    // pipe that leaves is not the test's concern (the exit code is).
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(input.as_bytes());
    });
    let out = child.wait_with_output().expect("collsynth finishes");
    writer.join().expect("stdin writer");
    out
}

/// The exit code (-1 when killed by a signal).
pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// Standard output as text (it must be UTF-8).
pub fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("stdout is UTF-8")
}

/// Standard error as text (it must be UTF-8).
pub fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("stderr is UTF-8")
}

/// Standard output, then standard error, as one text, lossily (for failure
/// messages, and for tools like `mpirun` that may print on either).
pub fn text(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Exit code, stdout and stderr, for destructuring.
pub fn parts(o: &Output) -> (i32, String, String) {
    (code(o), stdout(o), stderr(o))
}

/// Asserts exit code `want` (stderr in the message) and returns stdout.
pub fn expect_code(o: &Output, want: i32) -> String {
    assert_eq!(
        o.status.code(),
        Some(want),
        "exit {:?}, not {want}: {}",
        o.status.code(),
        stderr(o)
    );
    stdout(o)
}

/// Asserts success (exit 0) and returns stdout.
pub fn success(o: &Output) -> String {
    expect_code(o, 0)
}
