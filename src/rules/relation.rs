//! The named relations rules use for set reasoning ([`Relation`]), and the one
//! engine that runs a rule's conditions ([`extend`]): the e-graph's rule applier and
//! the soundness obligations' instance enumeration both extend a binding of set
//! variables through it, so they apply exactly the same rules.
//!
//! A relation's leading arguments are inputs; its trailing arguments are outputs,
//! bound when new and checked when already bound.

use std::fmt;

use egg::Var;

use super::DimSet;

/// Set reasoning a rule can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Relation {
    /// `split g a b`: a, b non-empty, disjoint, a ∪ b = g; every ordered pair.
    Split,
    /// `split-ordered g a b`: as `split`, every dim of a before every dim of b.
    SplitOrdered,
    /// `union x y z`: x, y disjoint and z = x ∪ y.
    Union,
    /// `diff x y z`: y ⊆ x and z = x \ y.
    Diff,
    /// `disjoint x y`: x and y share no dim.
    Disjoint,
}

impl Relation {
    /// Every relation.
    pub const ALL: [Relation; 5] = [
        Relation::Split,
        Relation::SplitOrdered,
        Relation::Union,
        Relation::Diff,
        Relation::Disjoint,
    ];

    /// The name rules use.
    pub fn name(self) -> &'static str {
        match self {
            Relation::Split => "split",
            Relation::SplitOrdered => "split-ordered",
            Relation::Union => "union",
            Relation::Diff => "diff",
            Relation::Disjoint => "disjoint",
        }
    }

    /// `(inputs, outputs)`.
    pub fn arity(self) -> (usize, usize) {
        match self {
            Relation::Split | Relation::SplitOrdered => (1, 2),
            Relation::Union | Relation::Diff => (2, 1),
            Relation::Disjoint => (2, 0),
        }
    }

    /// What it means.
    pub fn doc(self) -> &'static str {
        match self {
            Relation::Split => "a, b non-empty, disjoint, a ∪ b = g (every ordered pair)",
            Relation::SplitOrdered => {
                "as split, every dim of a more significant than every dim of b"
            }
            Relation::Union => "x, y disjoint and z = x ∪ y",
            Relation::Diff => "y ⊆ x and z = x \\ y",
            Relation::Disjoint => "x and y share no dim",
        }
    }

    pub(crate) fn from_name(s: &str) -> Option<Relation> {
        Relation::ALL.into_iter().find(|r| r.name() == s)
    }

    /// Every tuple of outputs for the inputs, in a fixed order.
    pub fn eval(self, inputs: &[DimSet]) -> Vec<Vec<DimSet>> {
        match self {
            Relation::Split | Relation::SplitOrdered => {
                let g = inputs[0];
                g.subsets()
                    .filter(|a| !a.is_empty() && *a != g)
                    .map(|a| (a, g.minus(a)))
                    .filter(|(a, b)| self == Relation::Split || a.all_before(*b))
                    .map(|(a, b)| vec![a, b])
                    .collect()
            }
            Relation::Union => {
                let (x, y) = (inputs[0], inputs[1]);
                if x.disjoint(y) {
                    vec![vec![x.union(y)]]
                } else {
                    vec![]
                }
            }
            Relation::Diff => {
                let (x, y) = (inputs[0], inputs[1]);
                if y.subset_of(x) {
                    vec![vec![x.minus(y)]]
                } else {
                    vec![]
                }
            }
            Relation::Disjoint => {
                if inputs[0].disjoint(inputs[1]) {
                    vec![vec![]]
                } else {
                    vec![]
                }
            }
        }
    }
}

/// One use of a relation in a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// The relation.
    pub relation: Relation,
    /// Its arguments, inputs first.
    pub args: Vec<Var>,
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.relation.name())?;
        for a in &self.args {
            write!(f, " {a}")?;
        }
        Ok(())
    }
}

/// A binding of set variables, in binding order. A variable bound to `None` is bound
/// to something that is not a dim set (a program, in an e-graph match): a condition
/// that reads it does not hold, and one that would bind it as an output fails.
pub type Binding = Vec<(Var, Option<DimSet>)>;

/// The value of `v` in `b`: `None` if unbound, `Some(None)` if bound to a non-set.
pub fn lookup(b: &Binding, v: Var) -> Option<Option<DimSet>> {
    b.iter().find(|(w, _)| *w == v).map(|(_, s)| *s)
}

/// Every extension of `binding` that satisfies `conditions`, in a fixed order (the
/// lexicographic order of each relation's outputs, condition by condition).
pub fn extend(conditions: &[Condition], binding: Binding) -> Vec<Binding> {
    let mut out = Vec::new();
    extend_from(conditions, binding, &mut out);
    out
}

fn extend_from(conditions: &[Condition], b: Binding, out: &mut Vec<Binding>) {
    let Some((c, rest)) = conditions.split_first() else {
        out.push(b);
        return;
    };
    let (ins, _) = c.relation.arity();
    let Some(inputs) = c.args[..ins]
        .iter()
        .map(|v| lookup(&b, *v).flatten())
        .collect::<Option<Vec<DimSet>>>()
    else {
        return;
    };
    'outs: for outs in c.relation.eval(&inputs) {
        let mut b2 = b.clone();
        for (v, val) in c.args[ins..].iter().zip(outs) {
            match lookup(&b2, *v) {
                Some(x) if x != Some(val) => continue 'outs,
                Some(_) => {}
                None => b2.push((*v, Some(val))),
            }
        }
        extend_from(rest, b2, out);
    }
}
