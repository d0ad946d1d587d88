//! Rules as egg rewrites: [`RuleApplier`] extends each match of a rule's left-hand
//! side through the rule's conditions ([`super::relation::extend`]) and instantiates
//! the right-hand side once per extension.

use egg::{Applier, Id, Language, Pattern, PatternAst, Rewrite, Searcher, Subst, Symbol};

use super::relation::{self, Binding};
use super::{Condition, Prog, ProgGraph, Rule, RuleSet, Sets};

impl RuleSet {
    /// The rules as egg rewrites.
    pub fn rewrites(&self) -> Vec<Rewrite<Prog, Sets>> {
        self.rules()
            .map(|r| {
                Rewrite::new(r.name.as_str(), r.lhs.clone(), RuleApplier::of(r))
                    .expect("rule variables are checked when the file is read")
            })
            .collect()
    }
}

/// A rule's right-hand side with its relations: extends each match, then adds and
/// unions the right-hand side once per extension.
pub struct RuleApplier {
    rhs: Pattern<Prog>,
    conditions: Vec<Condition>,
}

impl RuleApplier {
    /// The applier of a rule.
    pub fn of(rule: &Rule) -> RuleApplier {
        RuleApplier {
            rhs: rule.rhs.clone(),
            conditions: rule.conditions.clone(),
        }
    }

    /// Every extension of `subst` that satisfies the conditions.
    pub fn extensions(&self, egraph: &mut ProgGraph, subst: &Subst) -> Vec<Subst> {
        if self.conditions.is_empty() {
            return vec![subst.clone()];
        }
        // The variables the conditions mention that the match binds, with their sets.
        let mut binding: Binding = Vec::new();
        for v in self.conditions.iter().flat_map(|c| &c.args) {
            if let (Some(id), None) = (subst.get(*v), relation::lookup(&binding, *v)) {
                binding.push((*v, egraph[*id].data));
            }
        }
        relation::extend(&self.conditions, binding)
            .into_iter()
            .map(|b| {
                let mut s = subst.clone();
                for (v, set) in b {
                    if s.get(v).is_none() {
                        let set = set.expect("relations bind dim sets");
                        s.insert(v, egraph.add(Prog::Set(set)));
                    }
                }
                s
            })
            .collect()
    }
}

impl Applier<Prog, Sets> for RuleApplier {
    fn apply_one(
        &self,
        egraph: &mut ProgGraph,
        eclass: Id,
        subst: &Subst,
        _searcher_ast: Option<&PatternAst<Prog>>,
        rule_name: Symbol,
    ) -> Vec<Id> {
        let mut changed = Vec::new();
        for s in self.extensions(egraph, subst) {
            changed.extend(self.rhs.apply_one(egraph, eclass, &s, None, rule_name));
        }
        changed
    }
}

/// Applies one rule once to a term and returns every instance of its right-hand side
/// (for checking rules on concrete placements).
pub fn instances(rule: &Rule, egraph: &mut ProgGraph, id: Id) -> Vec<Id> {
    let applier = RuleApplier::of(rule);
    egraph.rebuild();
    let Some(m) = rule.lhs.search_eclass(egraph, id) else {
        return vec![];
    };
    let mut out = Vec::new();
    for s in m.substs {
        for e in applier.extensions(egraph, &s) {
            out.push(add_instance(egraph, &rule.rhs, &e));
        }
    }
    out
}

/// Adds a pattern's instance without unioning it (helper of [`instances`]).
fn add_instance(egraph: &mut ProgGraph, p: &Pattern<Prog>, s: &Subst) -> Id {
    let ast = p.ast.as_ref();
    let mut ids: Vec<Id> = Vec::with_capacity(ast.len());
    for n in ast {
        let id = match n {
            egg::ENodeOrVar::Var(v) => s[*v],
            egg::ENodeOrVar::ENode(e) => {
                let e = e.clone().map_children(|c| ids[usize::from(c)]);
                egraph.add(e)
            }
        };
        ids.push(id);
    }
    *ids.last().expect("patterns are non-empty")
}
