//! What a subcommand comes to, and the one place that turns it into the process's
//! exit code ([`exit_code`]): 0 success or proved, 1 refuted or a check failed,
//! 2 bad input or usage, 3 undecided, 4 internal inconsistency (`docs/design.md`,
//! "Exit codes").

use std::process::ExitCode;

use crate::problem::ProblemError;
use crate::source::InputError;
use crate::verdict::{Inconsistency, Verdict};

/// What a subcommand came to once its answer is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Success; the program is proved.
    Success,
    /// Refuted, or a check failed.
    Refuted,
    /// Bad input or usage.
    BadInput,
    /// Could not decide (a solver's unknown or timeout, too large to check).
    Undecided,
    /// A bug in collsynth: a rewrite produced a refuted program, or two checkers
    /// disagree.
    Internal,
}

impl Outcome {
    /// The outcome of a verdict.
    pub fn of<C>(v: &Verdict<C>) -> Outcome {
        match v {
            Verdict::Proved => Outcome::Success,
            Verdict::Refuted(_) => Outcome::Refuted,
            Verdict::Unknown(_) => Outcome::Undecided,
        }
    }
}

/// The exit code of an outcome: the only mapping from outcomes to numbers.
pub fn exit_code(o: Outcome) -> ExitCode {
    ExitCode::from(match o {
        Outcome::Success => 0,
        Outcome::Refuted => 1,
        Outcome::BadInput => 2,
        Outcome::Undecided => 3,
        Outcome::Internal => 4,
    })
}

/// Why a subcommand stopped before (all of) its answer; the message goes to stderr
/// and the outcome decides the exit code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input or usage: what is wrong and what to give instead.
    #[error("error: {0}")]
    Input(String),
    /// A check failed; the message carries its own first word (`refused:`, `error:`).
    #[error("{0}")]
    Failed(String),
    /// Could not decide.
    #[error("undecided: {0}")]
    Undecided(String),
    /// A bug in collsynth.
    #[error("error: internal inconsistency: {0}")]
    Internal(String),
}

impl Error {
    /// The outcome, hence the exit code.
    pub fn outcome(&self) -> Outcome {
        match self {
            Error::Input(_) => Outcome::BadInput,
            Error::Failed(_) => Outcome::Refuted,
            Error::Undecided(_) => Outcome::Undecided,
            Error::Internal(_) => Outcome::Internal,
        }
    }
}

/// A usage error.
pub fn usage(msg: impl Into<String>) -> Error {
    Error::Input(msg.into())
}

impl From<InputError> for Error {
    fn from(e: InputError) -> Self {
        Error::Input(e.to_string())
    }
}

impl From<ProblemError> for Error {
    fn from(e: ProblemError) -> Self {
        Error::Input(e.to_string())
    }
}

impl From<Inconsistency> for Error {
    fn from(e: Inconsistency) -> Self {
        Error::Internal(e.0)
    }
}

/// The result of a subcommand.
pub type Result<T = Outcome> = std::result::Result<T, Error>;
