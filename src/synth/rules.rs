//! The rewrite rules as data: the `grammar/rules` file, read and written by one
//! function pair ([`read_rules`] / [`write_rules`]), and the named relations
//! ([`Relation`]) rules use for set reasoning.
//!
//! A line is blank, a `#` comment, or a rule
//! `name: lhs ==> rhs [if relation ?x ?y ..., ...]` with both sides in egg's pattern
//! syntax over [`Prog`]. A relation's leading arguments are inputs; its trailing
//! arguments are outputs, bound when new and checked when already bound. A rule
//! becomes an egg [`Rewrite`] whose applier ([`RuleApplier`]) runs the relations to
//! extend each match and instantiates the right-hand side once per extension.

use std::fmt;

use egg::{Applier, Id, Language, Pattern, PatternAst, Rewrite, Searcher, Subst, Symbol, Var};

use super::egraph::{Prog, ProgGraph, Sets};
use super::shape::DimSet;
use crate::source::{InputError, Source};

/// The rules shipped in `grammar/rules`, compiled in.
pub const DEFAULT_RULES: &str = include_str!("../../grammar/rules");
/// What the compiled-in rules are called in messages.
pub const DEFAULT_RULES_NAME: &str = "grammar/rules";

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

    fn from_name(s: &str) -> Option<Relation> {
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

/// A rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Kebab-case name.
    pub name: String,
    /// What it matches.
    pub lhs: Pattern<Prog>,
    /// What it adds, once per extension of the match by the conditions.
    pub rhs: Pattern<Prog>,
    /// Relations, in order.
    pub conditions: Vec<Condition>,
    /// 1-based line in its file.
    pub line: usize,
}

/// A line of a rules file.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    /// An empty line.
    Blank,
    /// A comment, with its `#`.
    Comment(String),
    /// A rule.
    Rule(Box<Rule>),
}

/// A rules file: its lines, so that writing it back gives the same text.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSet {
    /// Where it came from.
    pub source: String,
    /// Every line.
    pub lines: Vec<Line>,
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

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ==> {}", self.name, self.lhs, self.rhs)?;
        for (i, c) in self.conditions.iter().enumerate() {
            f.write_str(if i == 0 { " if " } else { ", " })?;
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

/// Writes a rules file: the inverse of [`read_rules`].
pub fn write_rules(set: &RuleSet) -> String {
    let mut out = String::new();
    for l in &set.lines {
        match l {
            Line::Blank => {}
            Line::Comment(c) => out.push_str(c),
            Line::Rule(r) => out.push_str(&r.to_string()),
        }
        out.push('\n');
    }
    out
}

fn is_kebab(s: &str) -> bool {
    !s.is_empty()
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && !s.ends_with('-')
        && !s.contains("--")
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Reads a rules file; every error names the file and line.
pub fn read_rules(source: &Source) -> Result<RuleSet, InputError> {
    let mut lines = Vec::new();
    let mut names: Vec<(String, usize)> = Vec::new();
    for (i, text) in source.text.lines().enumerate() {
        let n = i + 1;
        let err = |msg: String| {
            InputError {
            file: source.name.clone(),
            line: Some((n, 1)),
            message: msg,
            help: Some(
                "a rule is `name: lhs ==> rhs [if relation ?x ?y, ...]`; see the header of grammar/rules"
                    .into(),
            ),
        }
        };
        let t = text.trim();
        if t.is_empty() {
            lines.push(Line::Blank);
            continue;
        }
        if t.starts_with('#') {
            lines.push(Line::Comment(text.trim_end().to_string()));
            continue;
        }
        let rule = parse_rule(t, n).map_err(err)?;
        if let Some((_, first)) = names.iter().find(|(x, _)| *x == rule.name) {
            return Err(err(format!(
                "rule `{}` is defined twice (first on line {first}): give each rule its own name",
                rule.name
            )));
        }
        names.push((rule.name.clone(), n));
        lines.push(Line::Rule(Box::new(rule)));
    }
    Ok(RuleSet {
        source: source.name.clone(),
        lines,
    })
}

fn parse_rule(t: &str, line: usize) -> Result<Rule, String> {
    let (name, rest) = t
        .split_once(':')
        .ok_or("expected `name:` at the start of the rule")?;
    let name = name.trim();
    if !is_kebab(name) {
        return Err(format!(
            "rule name `{name}` is not kebab-case: use lowercase words joined by `-`, like `all-reduce-split`"
        ));
    }
    let (lhs, rest) = rest
        .split_once("==>")
        .ok_or_else(|| format!("rule `{name}` has no `==>` between its two sides"))?;
    if rest.contains("==>") {
        return Err(format!("rule `{name}` has more than one `==>`"));
    }
    let (rhs, conds) = match rest.split_once(" if ") {
        Some((r, c)) => (r, Some(c)),
        None => (rest, None),
    };
    let pattern = |side: &str, text: &str| -> Result<Pattern<Prog>, String> {
        text.trim().parse::<Pattern<Prog>>().map_err(|e| {
            format!(
                "the {side} of rule `{name}` is not a pattern: {e} (in `{}`)",
                text.trim()
            )
        })
    };
    let lhs = pattern("left-hand side", lhs)?;
    let rhs = pattern("right-hand side", rhs)?;
    if lhs
        .ast
        .as_ref()
        .last()
        .is_some_and(|n| matches!(n, egg::ENodeOrVar::Var(_)))
    {
        return Err(format!(
            "the left-hand side of rule `{name}` is a bare variable; it must match a node"
        ));
    }
    let mut bound: Vec<Var> = lhs.vars();
    let mut conditions = Vec::new();
    for c in conds
        .map(|c| c.split(',').collect::<Vec<_>>())
        .unwrap_or_default()
    {
        let mut words = c.split_whitespace();
        let rel_name = words
            .next()
            .ok_or_else(|| format!("rule `{name}` has an empty condition"))?;
        let relation = Relation::from_name(rel_name).ok_or_else(|| {
            format!(
                "rule `{name}` names an unknown relation `{rel_name}`: use one of {}",
                Relation::ALL.map(|r| r.name()).join(", ")
            )
        })?;
        let args: Vec<Var> = words
            .map(|w| {
                w.parse::<Var>().map_err(|_| {
                    format!(
                        "`{w}` in condition `{}` of rule `{name}` is not a variable like `?a`",
                        c.trim()
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        let (ins, outs) = relation.arity();
        if args.len() != ins + outs {
            return Err(format!(
                "`{rel_name}` takes {} arguments ({} in, {} out), rule `{name}` gives {}",
                ins + outs,
                ins,
                outs,
                args.len()
            ));
        }
        for a in &args[..ins] {
            if !bound.contains(a) {
                return Err(format!(
                    "condition `{}` of rule `{name}` reads {a}, which neither the left-hand side nor an earlier condition binds",
                    c.trim()
                ));
            }
        }
        for a in &args[ins..] {
            if !bound.contains(a) {
                bound.push(*a);
            }
        }
        conditions.push(Condition { relation, args });
    }
    for v in rhs.vars() {
        if !bound.contains(&v) {
            return Err(format!(
                "the right-hand side of rule `{name}` uses {v}, which neither the left-hand side nor a condition binds"
            ));
        }
    }
    Ok(Rule {
        name: name.to_string(),
        lhs,
        rhs,
        conditions,
        line,
    })
}

impl RuleSet {
    /// The compiled-in rules.
    pub fn builtin() -> RuleSet {
        read_rules(&Source::new(DEFAULT_RULES_NAME, DEFAULT_RULES))
            .expect("grammar/rules is valid (tested)")
    }

    /// The rules, in file order.
    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.lines.iter().filter_map(|l| match l {
            Line::Rule(r) => Some(r.as_ref()),
            _ => None,
        })
    }

    /// The rules as egg rewrites.
    pub fn rewrites(&self) -> Vec<Rewrite<Prog, Sets>> {
        self.rules()
            .map(|r| {
                Rewrite::new(
                    r.name.as_str(),
                    r.lhs.clone(),
                    RuleApplier {
                        rhs: r.rhs.clone(),
                        conditions: r.conditions.clone(),
                    },
                )
                .expect("rule variables are checked when the file is read")
            })
            .collect()
    }

    /// The rule table: one line per rule, then the relations.
    pub fn table(&self) -> String {
        let rules: Vec<&Rule> = self.rules().collect();
        let w = rules.iter().map(|r| r.name.len()).max().unwrap_or(4);
        let mut out = format!("{} rules from {}\n", rules.len(), self.source);
        for r in &rules {
            out.push_str(&format!(
                "{:<w$}  {}\n{:<w$}    ==> {}\n",
                r.name, r.lhs, "", r.rhs
            ));
            if !r.conditions.is_empty() {
                let c: Vec<String> = r.conditions.iter().map(|c| c.to_string()).collect();
                out.push_str(&format!("{:<w$}    if {}\n", "", c.join(", ")));
            }
        }
        out.push_str("relations\n");
        for rel in Relation::ALL {
            out.push_str(&format!("  {:<14} {}\n", rel.name(), rel.doc()));
        }
        out
    }
}

/// A rule's right-hand side with its relations: extends each match, then adds and
/// unions the right-hand side once per extension.
pub struct RuleApplier {
    rhs: Pattern<Prog>,
    conditions: Vec<Condition>,
}

fn set_of(egraph: &ProgGraph, id: Id) -> Option<DimSet> {
    egraph[id].data
}

impl RuleApplier {
    /// Every extension of `subst` that satisfies the conditions.
    pub fn extensions(&self, egraph: &mut ProgGraph, subst: &Subst) -> Vec<Subst> {
        let mut substs = vec![subst.clone()];
        for c in &self.conditions {
            let (ins, _) = c.relation.arity();
            let mut next = Vec::new();
            for s in &substs {
                let Some(inputs) = c.args[..ins]
                    .iter()
                    .map(|v| set_of(egraph, s[*v]))
                    .collect::<Option<Vec<DimSet>>>()
                else {
                    continue;
                };
                'outs: for outs in c.relation.eval(&inputs) {
                    let mut s2 = s.clone();
                    for (v, val) in c.args[ins..].iter().zip(outs) {
                        match s2.get(*v) {
                            Some(&id) => {
                                if set_of(egraph, id) != Some(val) {
                                    continue 'outs;
                                }
                            }
                            None => {
                                let id = egraph.add(Prog::Set(val));
                                s2.insert(*v, id);
                            }
                        }
                    }
                    next.push(s2);
                }
            }
            substs = next;
        }
        substs
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
    let applier = RuleApplier {
        rhs: rule.rhs.clone(),
        conditions: rule.conditions.clone(),
    };
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
