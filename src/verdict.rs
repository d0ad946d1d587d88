//! The one answer type of every checker in collsynth: [`Verdict`] — proved, refuted
//! with a counterexample, or unknown with a reason — and which checker gave it
//! ([`Checker`]). A checker that contradicts itself or another checker is not a
//! verdict but a bug in collsynth: an [`Inconsistency`].
//!
//! The SMT verifier and the reference interpreter answer for programs (their
//! counterexample is a [`Counterexample`]); the rule obligations of
//! [`crate::soundness`] answer with the fault selectors that hold in z3's model.
//! "Unknown" is never "proved": only [`Verdict::Proved`] lets a program be printed as
//! proved or emitted without `--unchecked`.

use std::fmt;

use crate::semantics::Counterexample;

/// A checker's answer.
///
/// ```
/// use collsynth::Verdict;
///
/// let v: Verdict = Verdict::Unknown("z3 could not decide within 10 ms: timeout".into());
/// assert!(!v.is_proved());
/// assert_eq!(v.name(), "unknown");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict<C = Counterexample> {
    /// Correct: an SMT `unsat`, or the reference interpreter's run.
    Proved,
    /// Incorrect, with what shows it.
    Refuted(C),
    /// Not decided (a solver's unknown or timeout, or too large for the checker),
    /// with the reason. Never a proof.
    Unknown(String),
}

impl<C> Verdict<C> {
    /// Whether this is a proof.
    pub fn is_proved(&self) -> bool {
        matches!(self, Verdict::Proved)
    }

    /// `proved`, `refuted` or `unknown`: the word of `--json` outputs.
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Proved => "proved",
            Verdict::Refuted(_) => "refuted",
            Verdict::Unknown(_) => "unknown",
        }
    }

    /// The verdict with its counterexample mapped.
    pub fn map<D>(self, f: impl FnOnce(C) -> D) -> Verdict<D> {
        match self {
            Verdict::Proved => Verdict::Proved,
            Verdict::Refuted(c) => Verdict::Refuted(f(c)),
            Verdict::Unknown(r) => Verdict::Unknown(r),
        }
    }
}

/// Which checker decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Checker {
    /// The z3 proof (does not grow with the device count); the default.
    #[default]
    Smt,
    /// The reference interpreter (grows with the device count).
    Interpreter,
    /// Both, agreeing.
    SmtAndInterpreter,
}

impl Checker {
    /// `smt`, `interpreter` or `smt+interpreter`: the `decided_by` of `--json`.
    pub fn name(self) -> &'static str {
        match self {
            Checker::Smt => "smt",
            Checker::Interpreter => "interpreter",
            Checker::SmtAndInterpreter => "smt+interpreter",
        }
    }
}

impl fmt::Display for Checker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A checker contradicted itself (z3's counterexample did not replay) or another
/// checker: a bug in collsynth, never an answer (the CLI exits 4).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Inconsistency(pub String);
