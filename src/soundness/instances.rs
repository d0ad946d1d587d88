//! From a rewrite rule of `grammar/rules` to the *virtual instances* its soundness
//! obligation is stated on (see `proofs/README.md`, "Rewrite rules").
//!
//! A rule's set variables (`?g`, `?a`, `?s`, ...) stand for sets of dims. Every concrete
//! application of the rule cuts the dims it names into classes with the same
//! *signature* (the set of variables a dim belongs to); each class acts as one
//! *virtual dim* whose digit is the mixed radix of the class's digits. This module
//! enumerates the applications over a few abstract dims with the very relations the
//! e-graph runs ([`relation::extend`]), keeps those where every dim has its own
//! signature (one per class), and keeps one application per *order key*: the
//! signatures present and, for every reduce_scatter / all_gather step, the order of
//! the signatures in its dims (the only place where significance order matters).
//! It also checks, on every application over up to [`COVER_DIMS`] dims, the two facts
//! the reduction needs: every class is contiguous inside the dims of each
//! reduce_scatter / all_gather step, and every node the right-hand side adds keeps the
//! node invariant the left-hand side's nodes have (see [`node_ok`]).

use std::collections::BTreeSet;

use egg::{ENodeOrVar, Id, Pattern, Var};

use super::obligation::{Instance, VStep};
use crate::program::Collective;
use crate::rules::relation;
use crate::rules::{DimSet, Prog, Relation, Rule};

/// Most abstract dims applications are enumerated over for the obligations; a rule
/// with a reduced application over this many dims is rejected (its classes might not
/// all be covered).
pub const MAX_CLASSES: usize = 5;

/// Abstract dims over which the contiguity and node-invariant checks enumerate every
/// application (reduced or not).
pub const COVER_DIMS: usize = 4;

/// Why a rule has no obligation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rule `{rule}`: {message}")]
pub struct InstanceError {
    /// The rule.
    pub rule: String,
    /// What is wrong.
    pub message: String,
}

/// A dim-set position of a step pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetTerm {
    Var(Var),
    Const(DimSet),
}

/// A step of a pattern: the collective and its `[dims, shard, roots]`.
#[derive(Debug, Clone, Copy)]
struct PStep {
    op: Collective,
    sets: [SetTerm; 3],
}

/// A side of a rule: its steps in order, and the program variable that follows them.
#[derive(Debug, Clone)]
struct PSeq {
    steps: Vec<PStep>,
    tail: Option<Var>,
}

fn flatten(p: &Pattern<Prog>) -> Result<PSeq, String> {
    let ast = p.ast.as_ref();
    let mut out = PSeq {
        steps: vec![],
        tail: None,
    };
    fn walk(ast: &[ENodeOrVar<Prog>], id: Id, out: &mut PSeq) -> Result<(), String> {
        if out.tail.is_some() {
            return Err(
                "a program variable stands before a step; it may only end a sequence".into(),
            );
        }
        match &ast[usize::from(id)] {
            ENodeOrVar::Var(v) => {
                out.tail = Some(*v);
                Ok(())
            }
            ENodeOrVar::ENode(Prog::Seq([a, b])) => {
                walk(ast, *a, out)?;
                walk(ast, *b, out)
            }
            ENodeOrVar::ENode(Prog::Set(_)) => Err("a dim set stands where a step belongs".into()),
            ENodeOrVar::ENode(n) => {
                let (op, children) = n.as_step().ok_or("unknown node")?;
                let mut sets = [SetTerm::Const(DimSet::EMPTY); 3];
                for (slot, c) in sets.iter_mut().zip(children) {
                    *slot = match &ast[usize::from(c)] {
                        ENodeOrVar::Var(v) => SetTerm::Var(*v),
                        ENodeOrVar::ENode(Prog::Set(s)) => SetTerm::Const(*s),
                        _ => return Err("a step's dims, shard and roots must be dim sets".into()),
                    };
                }
                out.steps.push(PStep { op, sets });
                Ok(())
            }
        }
    }
    let root = Id::from(ast.len().saturating_sub(1));
    if ast.is_empty() {
        return Err("empty pattern".into());
    }
    walk(ast, root, &mut out)?;
    Ok(out)
}

/// The invariant every step node of the e-graph keeps (the request
/// `(all_reduce G {} {})` has it, and every rule's right-hand side keeps it, which
/// [`instances`] checks): dims non-empty and disjoint from the roots, shard disjoint
/// from the roots, and the shard disjoint from the dims, except for all_gather, whose
/// dims are part of its shard (they were scattered before it).
pub fn node_ok(op: Collective, dims: DimSet, shard: DimSet, roots: DimSet) -> bool {
    !dims.is_empty()
        && dims.disjoint(roots)
        && shard.disjoint(roots)
        && if op == Collective::AllGather {
            dims.subset_of(shard)
        } else {
            dims.disjoint(shard)
        }
}

/// One application of a rule: a dim set per set variable.
type Binding = Vec<(Var, DimSet)>;

fn value(b: &Binding, t: SetTerm) -> Option<DimSet> {
    match t {
        SetTerm::Const(s) => Some(s),
        SetTerm::Var(v) => b.iter().find(|(w, _)| *w == v).map(|(_, s)| *s),
    }
}

/// A rule read as sides and set variables.
struct RuleSides<'r> {
    rule: &'r Rule,
    lhs: PSeq,
    rhs: PSeq,
    /// Set variables of the left-hand side that are enumerated.
    free: Vec<Var>,
}

impl<'r> RuleSides<'r> {
    fn of(rule: &'r Rule) -> Result<Self, InstanceError> {
        let err = |m: String| InstanceError {
            rule: rule.name.clone(),
            message: m,
        };
        let lhs = flatten(&rule.lhs).map_err(|m| err(format!("left-hand side: {m}")))?;
        let rhs = flatten(&rule.rhs).map_err(|m| err(format!("right-hand side: {m}")))?;
        if lhs.steps.is_empty() || rhs.steps.is_empty() {
            return Err(err("each side must have at least one step".into()));
        }
        if lhs.tail != rhs.tail {
            return Err(err(
                "both sides must end in the same program variable (or none)".into(),
            ));
        }
        let mut vars: Vec<Var> = vec![];
        for s in &lhs.steps {
            for t in s.sets {
                if let SetTerm::Var(v) = t {
                    if !vars.contains(&v) {
                        vars.push(v);
                    }
                }
            }
        }
        // A left-hand-side variable that a union or diff computes before anything reads
        // it is not enumerated: the relation binds it (equivalently, checks it).
        let free = vars
            .into_iter()
            .filter(|v| {
                let first = rule.conditions.iter().find(|c| c.args.contains(v));
                !first.is_some_and(|c| {
                    let (ins, _) = c.relation.arity();
                    matches!(c.relation, Relation::Union | Relation::Diff)
                        && c.args[ins..].contains(v)
                })
            })
            .collect();
        Ok(RuleSides {
            rule,
            lhs,
            rhs,
            free,
        })
    }

    /// Every application over `k` abstract dims whose left-hand-side nodes keep the
    /// node invariant, in a fixed order.
    fn applications(&self, k: usize) -> Vec<Binding> {
        let mut out = vec![];
        let mut b: Binding = vec![];
        self.enumerate(k, 0, &mut b, &mut out);
        out
    }

    fn enumerate(&self, k: usize, i: usize, b: &mut Binding, out: &mut Vec<Binding>) {
        if i == self.free.len() {
            self.extend(b.clone(), out);
            return;
        }
        for s in DimSet::all(k).subsets() {
            b.push((self.free[i], s));
            // Prune as soon as a left-hand-side node is fully bound and breaks the invariant.
            let ok = self.lhs.steps.iter().all(|st| {
                match (
                    value(b, st.sets[0]),
                    value(b, st.sets[1]),
                    value(b, st.sets[2]),
                ) {
                    (Some(d), Some(sh), Some(r)) => node_ok(st.op, d, sh, r),
                    _ => true,
                }
            });
            if ok {
                self.enumerate(k, i + 1, b, out);
            }
            b.pop();
        }
    }

    /// Runs the conditions (the relation engine the e-graph runs) and keeps the
    /// extensions whose left-hand-side nodes keep the node invariant.
    fn extend(&self, b: Binding, out: &mut Vec<Binding>) {
        let start = b.into_iter().map(|(v, s)| (v, Some(s))).collect();
        for e in relation::extend(&self.rule.conditions, start) {
            let b: Binding = e
                .into_iter()
                .map(|(v, s)| (v, s.expect("rule applications bind dim sets")))
                .collect();
            let lhs_ok = self.lhs.steps.iter().all(|st| {
                match (
                    value(&b, st.sets[0]),
                    value(&b, st.sets[1]),
                    value(&b, st.sets[2]),
                ) {
                    (Some(d), Some(sh), Some(r)) => node_ok(st.op, d, sh, r),
                    _ => false,
                }
            });
            if lhs_ok {
                out.push(b);
            }
        }
    }

    /// The signature of abstract dim `d`: which variables (in binding order) hold it.
    fn signature(b: &Binding, d: usize) -> u32 {
        b.iter()
            .enumerate()
            .filter(|(_, (_, s))| s.contains(d))
            .fold(0, |acc, (i, _)| acc | (1 << i))
    }

    fn steps(&self, b: &Binding, side: &PSeq) -> Vec<(Collective, [DimSet; 3])> {
        side.steps
            .iter()
            .map(|st| (st.op, st.sets.map(|t| value(b, t).unwrap_or(DimSet::EMPTY))))
            .collect()
    }
}

/// The virtual instances of a rule's obligation, in a fixed order.
pub fn instances(rule: &Rule) -> Result<Vec<Instance>, InstanceError> {
    let sides = RuleSides::of(rule)?;
    let err = |m: String| InstanceError {
        rule: rule.name.clone(),
        message: m,
    };
    // Checks on every application over up to COVER_DIMS dims.
    for k in 1..=COVER_DIMS {
        for b in sides.applications(k) {
            let show = || {
                b.iter()
                    .map(|(v, s)| format!("{v} = {s}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            for (op, [d, sh, r]) in sides.steps(&b, &sides.rhs) {
                if !node_ok(op, d, sh, r) {
                    return Err(err(format!(
                        "with {} the right-hand side adds ({op} {d} {sh} {r}), which breaks the node invariant (dims non-empty, disjoint from roots; shard disjoint from roots and from dims, or containing them for all_gather)",
                        show()
                    )));
                }
            }
            let all = sides
                .steps(&b, &sides.lhs)
                .into_iter()
                .chain(sides.steps(&b, &sides.rhs));
            for (op, [d, _, _]) in all {
                if !matches!(op, Collective::ReduceScatter | Collective::AllGather) {
                    continue;
                }
                let sigs: Vec<u32> = d.iter().map(|x| RuleSides::signature(&b, x)).collect();
                for (i, s) in sigs.iter().enumerate() {
                    if let Some(j) = sigs[i + 1..].iter().position(|t| t == s) {
                        if sigs[i + 1..i + 1 + j].iter().any(|t| t != s) {
                            return Err(err(format!(
                                "with {} the dims of a {op} step interleave dims of different classes; the parametric encoding does not cover this application",
                                show()
                            )));
                        }
                    }
                }
            }
        }
    }
    // Reduced applications, one per order key.
    let mut keys: BTreeSet<(Vec<u32>, Vec<Vec<u32>>)> = BTreeSet::new();
    let mut out = vec![];
    for k in 1..=MAX_CLASSES {
        for b in sides.applications(k) {
            let sigs: Vec<u32> = (0..k).map(|d| RuleSides::signature(&b, d)).collect();
            let distinct: BTreeSet<u32> = sigs.iter().copied().collect();
            if sigs.contains(&0) || distinct.len() != k {
                continue;
            }
            if k == MAX_CLASSES {
                return Err(err(format!(
                    "it has an application with {k} classes of dims; obligations cover at most {}",
                    MAX_CLASSES - 1
                )));
            }
            let lhs = sides.steps(&b, &sides.lhs);
            let rhs = sides.steps(&b, &sides.rhs);
            let orders: Vec<Vec<u32>> = lhs
                .iter()
                .chain(&rhs)
                .filter(|(op, _)| matches!(op, Collective::ReduceScatter | Collective::AllGather))
                .map(|(_, [d, _, _])| d.iter().map(|x| sigs[x]).collect())
                .collect();
            if !keys.insert((distinct.into_iter().collect(), orders)) {
                continue;
            }
            let vstep = |(op, [d, sh, r]): (Collective, [DimSet; 3])| VStep {
                op,
                dims: d.iter().collect(),
                shard: sh.iter().collect(),
                roots: r.iter().collect(),
            };
            let classes = (0..k)
                .map(|d| {
                    let vars: Vec<String> = b
                        .iter()
                        .filter(|(_, s)| s.contains(d))
                        .map(|(v, _)| v.to_string())
                        .collect();
                    vars.join(" ")
                })
                .collect();
            let binding = b
                .iter()
                .map(|(v, s)| {
                    let names: Vec<String> = s.iter().map(|d| format!("v{d}")).collect();
                    format!("{v} = {{{}}}", names.join(","))
                })
                .collect::<Vec<_>>()
                .join(", ");
            out.push(Instance {
                dims: k,
                classes,
                binding,
                lhs: lhs.into_iter().map(vstep).collect(),
                rhs: rhs.into_iter().map(vstep).collect(),
            });
        }
    }
    if out.is_empty() {
        return Err(err(
            "it applies nowhere (no application keeps the node invariant)".into(),
        ));
    }
    Ok(out)
}
