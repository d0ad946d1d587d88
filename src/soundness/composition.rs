//! The rules with reduce_scatter / all_gather steps whose soundness for every group
//! size follows by composing equivalences that are proved for every size
//! (proofs/README.md, "Composition"): the union-only rules (z3 and Theorem S) and six
//! elementary lemmas about slicing and gathering. The argument is about a rule's
//! exact text: a rule whose text differs from the one written here, or a rule set
//! without the union-only rules the argument uses (with their exact texts), gets no
//! such coverage and stays "checked sizes only".

use super::obligation::{Coverage, RuleObligation};
use crate::rules::RuleSet;

/// One rule proved by composition: its exact text (as in `grammar/rules`), the
/// union-only rules the argument uses (exact texts), and the README paragraph.
struct Composition {
    rule: &'static str,
    uses: &'static [&'static str],
    argument: &'static str,
}

const ALL_REDUCE_SPLIT: &str = "all-reduce-split: (all_reduce ?g ?s ?r) ==> (seq (all_reduce ?a ?s ?r) (all_reduce ?b ?s ?r)) if split ?g ?a ?b";
const ALL_REDUCE_REDUCE_BROADCAST: &str = "all-reduce-reduce-broadcast: (all_reduce ?g ?s ?r) ==> (seq (reduce ?g ?s ?r) (broadcast ?g ?s ?r))";
const COMMUTE_ALL_REDUCE: &str = "commute-all-reduce: (seq (all_reduce ?a ?s ?r) (all_reduce ?b ?s ?r)) ==> (seq (all_reduce ?b ?s ?r) (all_reduce ?a ?s ?r)) if disjoint ?a ?b";

const COMPOSED: &[Composition] = &[
    Composition {
        rule: "all-reduce-scatter-gather: (all_reduce ?g ?s ?r) ==> (seq (reduce_scatter ?g ?s ?r) (all_gather ?g ?sg ?r)) if union ?s ?g ?sg",
        uses: &[],
        argument: "C1",
    },
    Composition {
        rule: "all-reduce-hierarchical: (all_reduce ?g ?s ?r) ==> (seq (reduce_scatter ?a ?s ?r) (seq (all_reduce ?b ?sa ?r) (all_gather ?a ?sa ?r))) if split ?g ?a ?b, union ?s ?a ?sa",
        uses: &[ALL_REDUCE_SPLIT],
        argument: "C2",
    },
    Composition {
        rule: "reduce-scatter-split: (reduce_scatter ?g ?s ?r) ==> (seq (reduce_scatter ?a ?s ?r) (reduce_scatter ?b ?sa ?r)) if split-ordered ?g ?a ?b, union ?s ?a ?sa",
        uses: &[ALL_REDUCE_SPLIT],
        argument: "C3",
    },
    Composition {
        rule: "all-gather-split: (all_gather ?g ?s ?r) ==> (seq (all_gather ?b ?s ?r) (all_gather ?a ?sb ?r)) if split-ordered ?g ?a ?b, diff ?s ?b ?sb",
        uses: &[],
        argument: "C4",
    },
    Composition {
        rule: "commute-reduce-scatter-all-reduce: (seq (reduce_scatter ?a ?s ?r) (seq (all_reduce ?b ?sa ?r) ?z)) ==> (seq (all_reduce ?b ?s ?r) (seq (reduce_scatter ?a ?s ?r) ?z)) if disjoint ?a ?b, union ?s ?a ?sa",
        uses: &[COMMUTE_ALL_REDUCE],
        argument: "C5",
    },
    Composition {
        rule: "reduce-scatter-via-roots: (seq (reduce_scatter ?a ?s ?r) (all_reduce ?b ?sa ?r)) ==> (seq (reduce ?b ?s ?r) (seq (reduce_scatter ?a ?s ?rb) (broadcast ?b ?sa ?r))) if disjoint ?a ?b, union ?s ?a ?sa, union ?r ?b ?rb",
        uses: &[COMMUTE_ALL_REDUCE, ALL_REDUCE_REDUCE_BROADCAST],
        argument: "C6",
    },
];

/// Raises the coverage of every obligation whose rule is proved by composition: its
/// own checks pass at the checked sizes (that is still required), and the argument
/// extends it to every size when the rules it uses are in `rules` with their exact
/// texts and are themselves covered for every size.
pub fn extend(rules: &RuleSet, obligations: &mut [RuleObligation]) {
    let mut coverage: Vec<Coverage> = obligations.iter().map(|o| o.coverage).collect();
    compose(rules, &mut coverage);
    for (o, c) in obligations.iter_mut().zip(coverage) {
        o.coverage = c;
    }
}

/// [`extend`] on the rules' coverages alone (`coverage[i]` of the `i`-th rule).
pub fn compose(rules: &RuleSet, coverage: &mut [Coverage]) {
    let texts: Vec<String> = rules.rules().map(|r| r.to_string()).collect();
    let all_sizes = |text: &str, coverage: &[Coverage]| {
        texts
            .iter()
            .zip(coverage)
            .any(|(t, &c)| t == text && c == Coverage::AllSizes)
    };
    let upgrades: Vec<(usize, &'static str)> = texts
        .iter()
        .enumerate()
        .filter_map(|(i, t)| {
            let c = COMPOSED.iter().find(|c| c.rule == t)?;
            c.uses
                .iter()
                .all(|u| all_sizes(u, coverage))
                .then_some((i, c.argument))
        })
        .collect();
    for (i, argument) in upgrades {
        coverage[i] = Coverage::Composed(argument);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_composed_rule_and_every_rule_it_uses_is_a_shipped_rule() {
        let texts: Vec<String> = RuleSet::builtin().rules().map(|r| r.to_string()).collect();
        for c in COMPOSED {
            assert!(
                texts.iter().any(|t| t == c.rule),
                "{} is not in grammar/rules",
                c.rule
            );
            for u in c.uses {
                assert!(texts.iter().any(|t| t == u), "{u} is not in grammar/rules");
            }
        }
    }
}
