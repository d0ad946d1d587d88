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

/// A rule ready for saturation: its name, its left-hand side (egg compiles the
/// pattern when it is parsed) with the variables it binds, and its applier.
pub struct Compiled {
    /// The rule's name.
    pub name: Symbol,
    /// What it matches.
    pub lhs: Pattern<Prog>,
    /// The variables `lhs` binds, in a fixed order.
    pub vars: Vec<egg::Var>,
    /// What it adds per match.
    pub applier: RuleApplier,
}

impl Compiled {
    /// A rule, compiled.
    pub fn of(rule: &Rule) -> Compiled {
        Compiled {
            name: Symbol::from(rule.name.as_str()),
            lhs: rule.lhs.clone(),
            vars: rule.lhs.vars(),
            applier: RuleApplier::of(rule),
        }
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

impl RuleApplier {
    /// [`Applier::apply_one`] without its allocations: extends the match through the
    /// conditions, adds the dim-set leaves they bind (every extension's, in order),
    /// then adds and unions the right-hand side once per extension, in the same
    /// order as [`RuleApplier::extensions`] followed by egg's pattern application,
    /// so the e-graph (its ids too) is the same. Returns whether a union changed
    /// the e-graph. `scratch` holds buffers reused between calls.
    pub fn apply_match(
        &self,
        egraph: &mut ProgGraph,
        eclass: Id,
        subst: &Subst,
        scratch: &mut Scratch,
    ) -> bool {
        let Scratch {
            binding,
            bound,
            ids,
        } = scratch;
        bound.clear();
        // The extensions' new variables, as (variable, leaf) runs of `width` each.
        let mut width = 0;
        let mut count = 0;
        if self.conditions.is_empty() {
            count = 1;
        } else {
            binding.clear();
            for v in self.conditions.iter().flat_map(|c| &c.args) {
                if let (Some(id), None) = (subst.get(*v), relation::lookup(binding, *v)) {
                    binding.push((*v, egraph[*id].data));
                }
            }
            relation::for_each_extension(&self.conditions, binding, &mut |b| {
                let before = bound.len();
                for &(v, set) in b {
                    if subst.get(v).is_none() {
                        let set = set.expect("relations bind dim sets");
                        bound.push((v, egraph.add(Prog::Set(set))));
                    }
                }
                width = bound.len() - before;
                count += 1;
            });
        }
        let ast = self.rhs.ast.as_ref();
        let mut changed = false;
        for e in 0..count {
            let extra = &bound[e * width..(e + 1) * width];
            ids.clear();
            for n in ast {
                let id = match n {
                    egg::ENodeOrVar::Var(v) => match subst.get(*v) {
                        Some(id) => *id,
                        None => {
                            extra
                                .iter()
                                .find(|(w, _)| w == v)
                                .expect("rule variables are checked when the file is read")
                                .1
                        }
                    },
                    egg::ENodeOrVar::ENode(node) => {
                        let node = node.clone().map_children(|c| ids[usize::from(c)]);
                        egraph.add(node)
                    }
                };
                ids.push(id);
            }
            let top = *ids.last().expect("patterns are non-empty");
            changed |= egraph.union(eclass, top);
        }
        changed
    }
}

/// Buffers [`RuleApplier::apply_match`] reuses between calls.
#[derive(Debug, Default)]
pub struct Scratch {
    binding: Binding,
    bound: Vec<(egg::Var, Id)>,
    ids: Vec<Id>,
}

impl Applier<Prog, Sets> for RuleApplier {
    fn apply_one(
        &self,
        egraph: &mut ProgGraph,
        eclass: Id,
        subst: &Subst,
        _searcher_ast: Option<&PatternAst<Prog>>,
        _rule_name: Symbol,
    ) -> Vec<Id> {
        if self.apply_match(egraph, eclass, subst, &mut Scratch::default()) {
            vec![eclass]
        } else {
            vec![]
        }
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
