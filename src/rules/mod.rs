//! The rule language: rewrite rules over programs on abstract reduction dims, kept as
//! data in `grammar/rules`.
//!
//! * [`dims`]: sets of abstract dims ([`DimSet`]), the values of set variables;
//! * [`lang`]: the egg language [`Prog`] of abstract programs and its step
//!   [`AbsStep`];
//! * [`relation`]: the named relations of rule conditions and the one engine that
//!   runs them;
//! * [`mod@file`]: the rules file, read and written by one function pair;
//! * [`apply`]: rules as egg rewrites.
//!
//! Synthesis ([`crate::synth`]) saturates with these rules; rule soundness
//! ([`crate::soundness`]) states an obligation for each. Neither is needed here.

pub mod apply;
pub mod dims;
pub mod file;
pub mod lang;
pub mod relation;

pub use apply::{instances, Compiled, RuleApplier, Scratch};
pub use dims::{DimSet, DimSetError};
pub use file::{read_rules, write_rules, Line, Rule, RuleSet, DEFAULT_RULES, DEFAULT_RULES_NAME};
pub use lang::{add_step, request_term, AbsStep, Prog, ProgGraph, Sets};
pub use relation::{Condition, Relation};
