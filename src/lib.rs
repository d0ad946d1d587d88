//! collsynth synthesizes provably correct, hierarchy-aware reduction programs and
//! chooses where each parallelism axis should live.
//!
//! A [`Spec`] names the system hierarchy, the parallelism axes and the requests; every
//! [`Placement`] of the axes on the levels gets, per request, the cheapest
//! [`Program`]s that synthesis finds, each proved correct by z3 ([`Verdict`]):
//!
//! ```
//! use collsynth::synth::backend::Standard;
//! use collsynth::{synthesize, Options, RuleSet, Spec, Verdict};
//!
//! // 4 x DGX A100, data = 8, model = 4, a 1 GB all_reduce over data.
//! let spec = Spec::embedded_default();
//! let opts = Options { top: 1, ..Options::default() };
//! let result = synthesize(&spec, &Standard::default(), &RuleSet::builtin(), &opts).unwrap();
//! let best = &result.placements[0];
//! let program = &best.results[0].programs[0];
//! assert_eq!(program.verdict, Some(Verdict::Proved));
//! println!("placement {}: {}", best.placement.matrix_text(), program.program.text(&spec));
//! ```
//!
//! The modules follow the data flow of `docs/design.md` (§8), bottom to top — each
//! uses only the ones before it (`tests/layering.rs`): `units`, `source` → [`spec`]
//! → [`catalog`] → [`placement`] → [`program`], [`lowered`] → [`semantics`] (the reference
//! interpreter) → [`verdict`] → [`cost`] → [`rules`] → [`verify`] (z3) →
//! [`soundness`] → [`synth`] → [`problem`] → [`report`] → [`emit`] → [`bench`](mod@bench) →
//! [`cli`]. The stages are public modules; the central types are re-exported here.

#![warn(missing_docs)]
// Counterexamples and input errors are large and on the cold path; boxing them would
// only add noise at every `?`.
#![allow(clippy::result_large_err)]

pub mod bench;
pub mod calibrate;
pub mod catalog;
pub mod cli;
pub mod cost;
pub mod emit;
pub mod lowered;
pub(crate) mod number;
pub mod placement;
pub mod problem;
pub mod program;
pub mod progress;
pub mod report;
pub mod rules;
pub mod semantics;
pub mod simulate;
pub mod soundness;
pub mod source;
pub mod spec;
pub mod synth;
pub mod units;
pub mod verdict;
pub mod verify;

pub use placement::Placement;
pub use program::{Collective, Program};
pub use rules::RuleSet;
pub use semantics::Counterexample;
pub use source::{InputError, Source};
pub use spec::Spec;
pub use synth::{synthesize, Options, Synthesis};
pub use verdict::{Checker, Inconsistency, Verdict};
