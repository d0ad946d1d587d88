//! Soundness of the rewrite rules: every rule of `grammar/rules` gets an obligation,
//! a set of SMT-LIB2 queries z3 must answer `unsat` to, written to `proofs/` and
//! re-derived and discharged by `collsynth prove --check`.
//!
//! * [`instances`]: from a rule to the *virtual instances* its obligation is stated
//!   on (one virtual dim per class of concrete dims);
//! * [`obligation`]: the queries of an instance at each size assignment, and their
//!   discharge by z3 (through [`crate::verify::smt`]);
//! * [`composition`]: the argument that extends the checked sizes to every size for
//!   the rules with reduce_scatter / all_gather steps;
//! * [`check`]: the obligation files (write, compare) and the whole check.
//!
//! `proofs/README.md` ("Rewrite rules") gives the arguments.

pub mod check;
pub mod composition;
pub mod instances;
pub mod obligation;

pub use check::{difference, CheckReport, ObligationVerdict, RuleRow};
pub use instances::InstanceError;
pub use obligation::{Coverage, RuleObligation};

use crate::rules::RuleSet;

/// Every rule's obligation, in file order; a rule the encoding cannot state is an error.
pub fn derive(rules: &RuleSet) -> Result<Vec<RuleObligation>, InstanceError> {
    derive_upto(rules, 0)
}

/// Whether every rule of `rules` is covered for every size (Theorem S, or composition
/// from rules that are): what proofs/README.md, "One proof for every size", needs
/// for a proof of a derived program to carry to other sizes. It says what the checks
/// prove *if* z3 answers `unsat` to them; `collsynth prove --check` (run by the tests
/// for `grammar/rules`) is what discharges them.
pub fn covers_every_size(rules: &RuleSet) -> bool {
    coverages(rules).is_ok_and(|c| c.iter().all(|&c| c != Coverage::Checked))
}

/// Every rule's [`RuleObligation::coverage`], in file order, without writing the
/// queries ([`derive()`] writes them; both agree, as a test checks).
pub fn coverages(rules: &RuleSet) -> Result<Vec<Coverage>, InstanceError> {
    let mut out = rules
        .rules()
        .map(|r| Ok(obligation::coverage_of(&instances::instances(r)?)))
        .collect::<Result<Vec<_>, InstanceError>>()?;
    composition::compose(rules, &mut out);
    Ok(out)
}

/// [`derive()`], with the queries of sizes up to `max_size` beyond the files appended
/// (`--max-size`; nothing is appended up to the largest size the files hold).
pub fn derive_upto(rules: &RuleSet, max_size: u64) -> Result<Vec<RuleObligation>, InstanceError> {
    let mut out = vec![];
    for r in rules.rules() {
        let inst = instances::instances(r)?;
        let mut o = obligation::rule_obligation(&r.name, &r.to_string(), &inst);
        // Theorem S already covers every size of the other instances.
        let extra: Vec<obligation::Query> = inst
            .iter()
            .filter(|i| obligation::coverage(i) == Coverage::Checked)
            .flat_map(|i| obligation::deeper_queries(i, max_size))
            .collect();
        o.deeper = extra.len();
        o.queries.extend(extra);
        out.push(o);
    }
    composition::extend(rules, &mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverages_are_the_obligations_coverages() {
        let rules = RuleSet::shipped();
        let derived: Vec<Coverage> = derive(rules)
            .expect("the shipped rules derive")
            .iter()
            .map(|o| o.coverage)
            .collect();
        assert_eq!(coverages(rules).expect("instances"), derived);
        assert!(derived.iter().any(|c| matches!(c, Coverage::Composed(_))));
        assert!(covers_every_size(rules));
    }
}
