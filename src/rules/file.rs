//! The rules file (`grammar/rules`): [`Rule`] and [`RuleSet`], read and written by
//! one function pair ([`read_rules`] / [`write_rules`], inverse of each other).
//!
//! A line is blank, a `#` comment, or a rule
//! `name: lhs ==> rhs [if relation ?x ?y ..., ...]` with both sides in egg's pattern
//! syntax over [`Prog`] and the conditions naming [`Relation`]s.

use std::fmt;

use egg::{Pattern, Var};

use super::apply::Compiled;
use super::{Condition, Prog, Relation};
use crate::source::{InputError, Source};

/// The rules shipped in `grammar/rules`, compiled in.
pub const DEFAULT_RULES: &str = include_str!("../../grammar/rules");
/// What the compiled-in rules are called in messages.
pub const DEFAULT_RULES_NAME: &str = "grammar/rules";

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

/// A rules file: its lines, so that writing it back gives the same text. Read-only
/// once read, so its rules compile once ([`RuleSet::compiled`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSet {
    /// Where it came from.
    pub source: String,
    /// Every line.
    lines: Vec<Line>,
    /// The rules compiled for saturation, on first use.
    compiled: CompiledOnce,
}

/// The compiled rules of a [`RuleSet`], built on first use. They follow from the
/// lines, so they take no part in equality and print as nothing.
#[derive(Clone, Default)]
struct CompiledOnce(std::sync::OnceLock<std::sync::Arc<[Compiled]>>);

impl PartialEq for CompiledOnce {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl fmt::Debug for CompiledOnce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("..")
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
        compiled: CompiledOnce::default(),
    })
}

/// `?` then one or more ASCII letters, digits or `_`: the variables the rules file
/// writes back exactly as it reads them.
fn is_var_name(s: &str) -> bool {
    s.strip_prefix('?')
        .is_some_and(|r| !r.is_empty() && r.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
}

fn parse_rule(t: &str, line: usize) -> Result<Rule, String> {
    if let Some((col, c)) = t
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_graphic() || *c == ' ' || *c == '\t') || *c == '"')
    {
        return Err(format!(
            "the rule contains {c:?} at byte {}: a rule is written in printable ASCII without quotes",
            col + 1
        ));
    }
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
    if let Some(v) = lhs
        .vars()
        .into_iter()
        .chain(rhs.vars())
        .find(|v| !is_var_name(&v.to_string()))
    {
        return Err(format!(
            "rule `{name}` has a variable `{v}`: a variable is `?` then letters, digits or `_`, like `?dims`"
        ));
    }
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
                w.parse::<Var>()
                    .ok()
                    .filter(|_| is_var_name(w))
                    .ok_or_else(|| {
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
        RuleSet::shipped().clone()
    }

    /// The compiled-in rules, parsed once per process.
    pub fn shipped() -> &'static RuleSet {
        static SHIPPED: std::sync::OnceLock<RuleSet> = std::sync::OnceLock::new();
        SHIPPED.get_or_init(|| {
            read_rules(&Source::new(DEFAULT_RULES_NAME, DEFAULT_RULES))
                .expect("grammar/rules is valid (tested)")
        })
    }

    /// Whether the two sets hold the same rules in the same order (comments, blank
    /// lines, line numbers and the file name aside).
    pub fn same_rules(&self, other: &RuleSet) -> bool {
        let same = |a: &Rule, b: &Rule| {
            a.name == b.name && a.lhs == b.lhs && a.rhs == b.rhs && a.conditions == b.conditions
        };
        self.rules().count() == other.rules().count()
            && self.rules().zip(other.rules()).all(|(a, b)| same(a, b))
    }

    /// Every line, in file order.
    pub fn lines(&self) -> &[Line] {
        &self.lines
    }

    /// The rules compiled for saturation (in file order), compiled on the first
    /// call and shared by every later one and every clone.
    pub fn compiled(&self) -> &[Compiled] {
        self.compiled
            .0
            .get_or_init(|| self.rules().map(Compiled::of).collect())
    }

    /// The rules, in file order.
    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.lines.iter().filter_map(|l| match l {
            Line::Rule(r) => Some(r.as_ref()),
            _ => None,
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> RuleSet {
        read_rules(&Source::new("test-rules", text)).expect("valid rules")
    }

    #[test]
    fn same_rules_ignores_comments_and_lines_only() {
        let shipped = RuleSet::shipped();
        let bare: String = DEFAULT_RULES
            .lines()
            .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(parse(&bare).same_rules(shipped));
        let dropped: String = bare.lines().skip(1).map(|l| format!("{l}\n")).collect();
        assert!(!parse(&dropped).same_rules(shipped));
        let renamed = bare.replacen("all-reduce-split:", "all-reduce-split-2:", 1);
        assert!(!parse(&renamed).same_rules(shipped));
        let reordered = bare.replacen("if split ?g ?a ?b", "if split ?g ?b ?a", 1);
        assert!(!parse(&reordered).same_rules(shipped));
    }
}
