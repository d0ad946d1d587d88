//! Why an engine run stopped ([`StopReason`]), for both engines: saturation ends
//! saturated or at one of egg's named budgets; enumeration ends complete or at its
//! node budget. Only a run that was not cut short ([`StopReason::exhaustive`])
//! guarantees that nothing cheaper was missed.

use std::fmt;

use serde::Serialize;

/// Why an engine run stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// Saturation: every rule applied to a fixpoint.
    Saturated,
    /// Enumeration: every program up to the step limit visited.
    Complete,
    /// Saturation: egg's iteration budget.
    IterationLimit,
    /// Saturation: egg's node budget.
    NodeLimit,
    /// Saturation: the wall-clock safety net.
    TimeLimit,
    /// Enumeration: the budget of visited prefixes.
    NodeBudget,
    /// The run did not start.
    NotRun,
    /// Anything else egg reports.
    Other(String),
}

impl StopReason {
    /// Whether the run explored everything it was asked to (no budget cut it).
    pub fn exhaustive(&self) -> bool {
        matches!(self, StopReason::Saturated | StopReason::Complete)
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::Saturated => f.write_str("saturated"),
            StopReason::Complete => f.write_str("complete"),
            StopReason::IterationLimit => f.write_str("iteration limit"),
            StopReason::NodeLimit => f.write_str("node limit"),
            StopReason::TimeLimit => f.write_str("time limit"),
            StopReason::NodeBudget => f.write_str("node budget"),
            StopReason::NotRun => f.write_str("not run"),
            StopReason::Other(s) => write!(f, "other: {s}"),
        }
    }
}

impl Serialize for StopReason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
