//! collsynth synthesizes provably correct, hierarchy-aware reduction programs and
//! chooses where each parallelism axis should live.
//!
//! The modules follow the data flow of `docs/design.md` (§8):
//! `spec` → `placement` → `program` / `lowered` → `semantics` → `cost` → `report` / `cli`.

#![warn(missing_docs)]
// Counterexamples and input errors are large and on the cold path; boxing them would
// only add noise at every `?`.
#![allow(clippy::result_large_err)]

pub mod bench;
pub mod cli;
pub mod cost;
pub mod emit;
pub mod lowered;
pub mod number;
pub mod placement;
pub mod problem;
pub mod program;
pub mod report;
pub mod rules;
pub mod semantics;
pub mod soundness;
pub mod source;
pub mod spec;
pub mod synth;
pub mod units;
pub mod verdict;
pub mod verify;
