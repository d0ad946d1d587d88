//! The single integration point between synthesis and the two services it relies on:
//! the cost model (step times, lower bound, flat baseline, bus bandwidth) and the
//! checker that decides every printed program (the SMT verifier, or the reference
//! interpreter).
//!
//! The engines never see a spec or a placement: the pipeline hands them a
//! [`super::extract::StepOracle`] built from a [`Backend`].

use crate::placement::Placement;
use crate::program::{Program, Step};
use crate::spec::{Request, Spec};

/// A checker's answer for one program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// Correct for the request (an SMT `unsat`, or the interpreter's run).
    Proved,
    /// Incorrect; the message says where. For a synthesized program this means a
    /// rewrite rule is unsound.
    Refuted(String),
    /// Not decided (timeout, unknown, or too large for the checker).
    Unknown(String),
}

/// Cost model and checker.
pub trait Backend {
    /// Time of one step when every participant holds `bytes_in` bytes at its start.
    fn step_time_s(&self, spec: &Spec, placement: &Placement, step: &Step, bytes_in: f64) -> f64;
    /// Lower bound of any all-reduce program for the request on the placement.
    fn lower_bound_s(&self, spec: &Spec, placement: &Placement, request: &Request) -> f64;
    /// Time of the flat single-step all_reduce over every reduction dim.
    fn flat_s(&self, spec: &Spec, placement: &Placement, request: &Request) -> f64;
    /// nccl-tests bus bandwidth of an all_reduce of `bytes` over `n` devices in
    /// `time_s`, GB/s.
    fn busbw_gbs(&self, n: u64, bytes: u64, time_s: f64) -> f64 {
        if n <= 1 || time_s <= 0.0 {
            return 0.0;
        }
        bytes as f64 / time_s * 2.0 * (n - 1) as f64 / n as f64 / 1e9
    }
    /// Decides a program for the request on the placement.
    fn check(&self, spec: &Spec, placement: &Placement, request: &Request, program: &Program)
        -> Check;
    /// What decides programs, for reports: `smt` or `interpreter`.
    fn checker_name(&self) -> &'static str;
}
