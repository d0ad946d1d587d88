//! The one owner of z3: a solver set up from [`SmtOptions`], loaded with SMT-LIB2
//! text, asked under named assumptions, and its models read by constant name. No
//! other module of collsynth touches the z3 API; program proofs ([`super::prove`])
//! and rule obligations ([`crate::soundness`]) both go through [`Solver`].

use z3::ast::{Bool, BV};
use z3::{Params, SatResult};

/// Solver options: the budgets one check may spend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmtOptions {
    /// z3's timeout per check, in milliseconds (wall clock: a timeout depends on the
    /// machine and its load).
    pub timeout_ms: u64,
    /// z3's resource limit per check (`rlimit`, a count of solver operations): a
    /// deterministic budget, so that the same query under the same limit always gets
    /// the same answer. `None`: no limit.
    pub rlimit: Option<u64>,
}

impl Default for SmtOptions {
    fn default() -> Self {
        SmtOptions {
            timeout_ms: 10_000,
            rlimit: None,
        }
    }
}

impl SmtOptions {
    /// What the budgets are, for "could not decide within …" messages.
    pub fn budget_text(&self) -> String {
        match self.rlimit {
            Some(r) => format!("{} ms (resource limit {r})", self.timeout_ms),
            None => format!("{} ms", self.timeout_ms),
        }
    }
}

/// A named Boolean constant of the query, asserted to hold or to fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assumption<'a> {
    /// The constant's name in the query.
    pub name: &'a str,
    /// Whether it is assumed true (or false).
    pub holds: bool,
}

impl<'a> Assumption<'a> {
    /// `name` is assumed true.
    pub fn holds(name: &'a str) -> Self {
        Assumption { name, holds: true }
    }

    /// `name` is assumed false.
    pub fn fails(name: &'a str) -> Self {
        Assumption { name, holds: false }
    }
}

/// z3's answer to one check.
pub enum Answer {
    /// No model: the negated claim is refuted (a proof).
    Unsat,
    /// A model (a counterexample to the claim).
    Sat(Model),
    /// z3 could not decide (timeout, resource limit, incompleteness): its reason.
    /// Never a proof.
    Unknown(String),
}

/// A model of a satisfiable check, read by constant name.
pub struct Model(z3::Model);

impl Model {
    /// Whether the Boolean constant `name` is true in the model (false when the
    /// model does not fix it).
    pub fn is_true(&self, name: &str) -> bool {
        self.0
            .eval(&Bool::new_const(name), true)
            .and_then(|b| b.as_bool())
            .unwrap_or(false)
    }

    /// The value of the bit-vector constant `name` of `width` bits.
    pub fn bits(&self, name: &str, width: u32) -> Option<u64> {
        self.0
            .eval(&BV::new_const(name, width), true)
            .and_then(|v| v.as_u64())
    }
}

/// A solver holding one query.
pub struct Solver {
    inner: z3::Solver,
}

impl Solver {
    /// A solver for `logic` (e.g. `"BV"`; `None`: z3's default tactic) under the
    /// options' budgets, holding the SMT-LIB2 text `query` (declarations and
    /// assertions; a `(check-sat)` in it is not run).
    pub fn new(logic: Option<&str>, opts: &SmtOptions, query: &str) -> Solver {
        let inner = match logic {
            Some(l) => z3::Solver::new_for_logic(l).unwrap_or_default(),
            None => z3::Solver::new(),
        };
        let mut params = Params::new();
        params.set_u32("timeout", opts.timeout_ms.min(u32::MAX as u64) as u32);
        if let Some(r) = opts.rlimit {
            params.set_u32("rlimit", r.min(u32::MAX as u64) as u32);
        }
        inner.set_params(&params);
        let start = std::time::Instant::now();
        inner.from_string(query);
        tracing::debug!(
            bytes = query.len(),
            ms = start.elapsed().as_secs_f64() * 1e3,
            "z3 parsed the query"
        );
        Solver { inner }
    }

    /// Checks the assertions under `assumptions`.
    pub fn check(&self, assumptions: &[Assumption]) -> Answer {
        let lits: Vec<Bool> = assumptions
            .iter()
            .map(|a| {
                let b = Bool::new_const(a.name);
                if a.holds {
                    b
                } else {
                    b.not()
                }
            })
            .collect();
        let start = std::time::Instant::now();
        let result = if lits.is_empty() {
            self.inner.check()
        } else {
            self.inner.check_assumptions(&lits)
        };
        tracing::debug!(
            assumptions = lits.len(),
            answer = ?result,
            ms = start.elapsed().as_secs_f64() * 1e3,
            "z3 check"
        );
        match result {
            SatResult::Unsat => Answer::Unsat,
            SatResult::Unknown => Answer::Unknown(
                self.inner
                    .get_reason_unknown()
                    .unwrap_or_else(|| "no reason given".into()),
            ),
            SatResult::Sat => match self.inner.get_model() {
                Some(m) => Answer::Sat(Model(m)),
                None => Answer::Unknown("z3 answered sat without a model".into()),
            },
        }
    }
}
