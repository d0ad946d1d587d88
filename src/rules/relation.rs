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
        let mut out = Vec::new();
        self.each(inputs, |o| out.push(o.to_vec()));
        out
    }

    /// Calls `f` on every tuple of outputs for the inputs, in [`Relation::eval`]'s
    /// order, without collecting them (the rule applier runs this once per match).
    pub fn each(self, inputs: &[DimSet], mut f: impl FnMut(&[DimSet])) {
        match self {
            Relation::Split | Relation::SplitOrdered => {
                let g = inputs[0];
                for a in g.subsets() {
                    let b = g.minus(a);
                    if !a.is_empty() && a != g && (self == Relation::Split || a.all_before(b)) {
                        f(&[a, b]);
                    }
                }
            }
            Relation::Union => {
                let (x, y) = (inputs[0], inputs[1]);
                if x.disjoint(y) {
                    f(&[x.union(y)]);
                }
            }
            Relation::Diff => {
                let (x, y) = (inputs[0], inputs[1]);
                if y.subset_of(x) {
                    f(&[x.minus(y)]);
                }
            }
            Relation::Disjoint => {
                if inputs[0].disjoint(inputs[1]) {
                    f(&[]);
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
pub fn extend(conditions: &[Condition], mut binding: Binding) -> Vec<Binding> {
    let mut out = Vec::new();
    for_each_extension(conditions, &mut binding, &mut |b| out.push(b.to_vec()));
    out
}

/// Calls `f` on every extension of `binding` that satisfies `conditions`, in
/// [`extend`]'s order, growing and shrinking `binding` in place instead of copying
/// it per extension; `binding` is as given when this returns.
pub fn for_each_extension(
    conditions: &[Condition],
    binding: &mut Binding,
    f: &mut dyn FnMut(&Binding),
) {
    let Some((c, rest)) = conditions.split_first() else {
        f(binding);
        return;
    };
    let (ins, _) = c.relation.arity();
    // Relations take at most two inputs.
    let mut inputs = [DimSet::EMPTY; 2];
    for (slot, v) in inputs.iter_mut().zip(&c.args[..ins]) {
        match lookup(binding, *v).flatten() {
            Some(set) => *slot = set,
            None => return,
        }
    }
    let base = binding.len();
    c.relation.each(&inputs[..ins], |outs| {
        let fits = c.args[ins..]
            .iter()
            .zip(outs)
            .all(|(v, &val)| match lookup(binding, *v) {
                Some(x) => x == Some(val),
                None => {
                    binding.push((*v, Some(val)));
                    true
                }
            });
        if fits {
            for_each_extension(rest, binding, f);
        }
        binding.truncate(base);
    });
}
