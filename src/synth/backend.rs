//! The single integration point between synthesis and the two services it relies on:
//! the cost model (step times, lower bound, flat baseline, bus bandwidth) and the
//! checker that decides every printed program (the SMT verifier, or the reference
//! interpreter).
//!
//! The engines never see a spec or a placement: the pipeline hands them a
//! [`super::extract::StepOracle`] built from a [`Backend`]. [`Standard`] is the one
//! the CLI uses: the `cost` model and the SMT verifier ([`crate::verify::prove`]).

use crate::cost;
use crate::placement::Placement;
use crate::program::{Collective, Program, Step};
use crate::semantics::Goal;
use crate::spec::{Request, RequestKind, Spec};
use crate::verdict::{Checker, Inconsistency, Verdict};
use crate::verify::{self, SmtOptions};

/// Cost model and checker. `Sync`: placements are synthesized on several threads.
pub trait Backend: Sync {
    /// Time of one step when every participant holds `bytes_in` bytes at its start.
    fn step_time_s(&self, spec: &Spec, placement: &Placement, step: &Step, bytes_in: f64) -> f64;
    /// Time of a local relayout of a whole buffer of `bytes` (docs/cost-model.md,
    /// §15).
    fn relayout_s(&self, spec: &Spec, bytes: u64) -> f64 {
        cost::RelayoutCost::of(spec, bytes as f64).time_s
    }
    /// Lower bound of any all-reduce program for the request on the placement.
    fn lower_bound_s(&self, spec: &Spec, placement: &Placement, request: &Request) -> f64;
    /// A lower bound on [`Backend::lower_bound_s`] over every placement whose first
    /// rows are `known`, the columns' remaining products being `col_rem` (the
    /// branch and bound over placements; docs/cost-model.md, §4.2).
    fn prefix_lower_bound_s(
        &self,
        spec: &Spec,
        request: &Request,
        known: &[Vec<u64>],
        col_rem: &[u64],
    ) -> f64 {
        cost::prefix_lower_bound(spec, request, known, col_rem)
    }
    /// Time of the flat single-step all_reduce over every reduction dim.
    fn flat_s(&self, spec: &Spec, placement: &Placement, request: &Request) -> f64;
    /// Time of what NCCL would run by itself for the request's flat group.
    fn nccl_s(&self, spec: &Spec, placement: &Placement, request: &Request) -> f64;
    /// The price of a request that is priced, not synthesized (send_recv).
    fn priced_s(&self, spec: &Spec, placement: &Placement, request: &Request) -> Option<f64>;
    /// nccl-tests bus bandwidth of an all_reduce of `bytes` over `n` devices in
    /// `time_s`, GB/s.
    fn busbw_gbs(&self, n: u64, bytes: u64, time_s: f64) -> f64 {
        cost::busbw_gbs(Collective::AllReduce, n, bytes, time_s)
    }
    /// Decides a program for the request on the placement, with what decided it; an
    /// [`Inconsistency`] when the checker contradicts itself (a bug).
    fn check(
        &self,
        spec: &Spec,
        placement: &Placement,
        request: &Request,
        program: &Program,
    ) -> Result<(Verdict, Checker), Inconsistency>;
    /// What decides programs, for reports.
    fn checker(&self) -> Checker;
    /// The program at its fastest chunk count for `request` (docs/cost-model.md,
    /// §14; chunks of whole atoms, ties keep one chunk). An all_gather program is
    /// priced from its shard; the chunk count cuts whole atoms as
    /// [`cost::chunk_atoms`] says.
    fn best_chunks(
        &self,
        spec: &Spec,
        placement: &Placement,
        program: &Program,
        request: &Request,
    ) -> cost::PipelineCost {
        let start = cost::program_bytes(spec, request, request.bytes);
        let plain = cost::program_cost(spec, placement, program, start);
        let atoms = crate::lowered::program_atoms(placement, program);
        cost::best_chunks(
            spec,
            &plain,
            request.bytes,
            cost::chunk_atoms(spec, request, atoms),
        )
    }
}

/// The cost model of [`crate::cost`] and the SMT verifier of [`crate::verify`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Standard {
    /// Solver options.
    pub smt: SmtOptions,
}

impl Backend for Standard {
    fn step_time_s(&self, spec: &Spec, placement: &Placement, step: &Step, bytes_in: f64) -> f64 {
        cost::step_time(spec, placement, step, bytes_in)
    }

    fn lower_bound_s(&self, spec: &Spec, placement: &Placement, request: &Request) -> f64 {
        cost::lower_bound(spec, placement, request)
    }

    fn flat_s(&self, spec: &Spec, placement: &Placement, request: &Request) -> f64 {
        if let Some(t) = self.priced_s(spec, placement, request) {
            return t;
        }
        let flat = cost::flat_program(placement, request);
        let bytes = cost::program_bytes(spec, request, request.bytes);
        cost::program_cost(spec, placement, &flat, bytes).total_s
    }

    fn nccl_s(&self, spec: &Spec, placement: &Placement, request: &Request) -> f64 {
        cost::nccl_cost(spec, placement, request, request.bytes).best_s
    }

    fn priced_s(&self, spec: &Spec, placement: &Placement, request: &Request) -> Option<f64> {
        match request.collective {
            RequestKind::SendRecv => Some(cost::send_recv_cost(spec, placement, request).time_s),
            RequestKind::ReduceScatter | RequestKind::AllGather | RequestKind::AllReduce => None,
        }
    }

    fn check(
        &self,
        spec: &Spec,
        placement: &Placement,
        request: &Request,
        program: &Program,
    ) -> Result<(Verdict, Checker), Inconsistency> {
        // Where z3 leaves a sharded goal undecided the interpreter decides it; the
        // output counts those (`stats.interpreted`).
        verify::prove_or_interpret(spec, placement, &Goal::of(request), program, &self.smt)
    }

    fn checker(&self) -> Checker {
        Checker::Smt
    }
}
