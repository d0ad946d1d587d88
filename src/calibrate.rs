//! Calibration: fit a level's `latency` and `bandwidth` to measured nccl-tests runs
//! (docs/cost-model.md, "Calibration").
//!
//! **Input.** The standard stdout of nccl-tests (`all_reduce_perf`,
//! `reduce_scatter_perf`, `all_gather_perf`; rccl-tests prints the same table): the
//! column header `# size count type redop root time algbw busbw #wrong ...` and one row
//! per message size. The out-of-place `time` (microseconds) is read; the header says
//! which column it is, so the older layouts without `root` (or `redop`) read as well.
//! Each file is one run whose scope the command line gives: the level it spans and how
//! many ranks (one per subtree of that level, e.g. 8 GPUs of one node, or 1 GPU per
//! node on N nodes).
//!
//! **Model.** A run is the collective over one group of `n` level-`l` subtrees, costed
//! by the cost module itself ([`crate::cost::step_cost`]) on a system with the template's
//! levels where level `l` has arity `n` and every other level arity 1. That time is
//! linear in `1/R_l` and `α_l` (`R_l`: the rate the group's members get over level
//! `l`'s links, `α_l`: its latency) plus the launch cost:
//! `t(S) = c_bw(S) / R_l + c_lat · α_l + launch`, with `c_bw` and `c_lat` read off the
//! cost module at unit parameters. For a ring `all_reduce` over `n` ranks that is
//! `2(n−1)/n · S / R + 2(n−1) α + launch`.
//!
//! **Fit.** Weighted least squares on the relative error `(model − measured) /
//! measured` over every row of every run (so the 8-byte rows weigh as much as the 8 GB
//! ones), jointly for all levels and, with `fit_launch`, the system's `launch`;
//! `latency` and `launch` are kept non-negative (a negative one is fixed at zero and
//! the rest refitted). The residual of every row is then recomputed with the written
//! system by the cost module, the inner levels' links included.

use std::collections::BTreeSet;

use crate::catalog::toml_string;
use crate::cost::step_cost;
use crate::placement::Placement;
use crate::program::{Collective, DimRef, Step};
use crate::source::{InputError, Source};
use crate::spec::{Axis, Level, Spec, System};

/// The smallest latency written (the spec refuses 0): 1 ns.
pub const MIN_LATENCY_S: f64 = 1e-9;

/// One measured row.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// 1-based line in its file.
    pub line: usize,
    /// nccl-tests' `size` column (bytes): the whole buffer (for all_gather, the
    /// gathered output; for reduce_scatter, the input).
    pub bytes: u64,
    /// Out-of-place time, seconds.
    pub time_s: f64,
}

/// What one nccl-tests output file says.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// The rows, in file order (size-0 rows left out: no data moves).
    pub points: Vec<Point>,
    /// Distinct `# Rank N` lines, when the file lists them.
    pub ranks_listed: Option<u64>,
    /// The collective `# Collective test starting: X_perf` names, when present.
    pub collective_named: Option<Collective>,
    /// `busbw / algbw` of the row with the largest algbw (at least 1 GB/s), and its
    /// line: nccl-tests' bus factor, which says how many ranks and which collective.
    pub bus_factor: Option<(usize, f64)>,
}

/// A run to fit: a file, its scope and its rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// The file's name as given.
    pub file: String,
    /// Level index in the template system.
    pub level: usize,
    /// Ranks in the run (one per level subtree).
    pub ranks: u64,
    /// The collective the run measured.
    pub collective: Collective,
    /// The rows.
    pub points: Vec<Point>,
}

/// The fit of one level.
#[derive(Debug, Clone, PartialEq)]
pub struct LevelFit {
    /// Level index.
    pub level: usize,
    /// The rate one run's members get over the level's links, bytes/s.
    pub rate_bps: f64,
    /// Latency per hop, seconds (at least [`MIN_LATENCY_S`]).
    pub latency_s: f64,
    /// `true` when the rate went to the level's `device_bandwidth` (the template has
    /// one: a run with one rank per subtree measures one device's own link), `false`
    /// when it went to `bandwidth`.
    pub device: bool,
}

/// One row against the calibrated model.
#[derive(Debug, Clone, PartialEq)]
pub struct PointFit {
    /// 1-based line.
    pub line: usize,
    /// nccl-tests' size (bytes).
    pub bytes: u64,
    /// Measured time, seconds.
    pub measured_s: f64,
    /// The calibrated model's time, seconds.
    pub model_s: f64,
    /// `(model − measured) / measured`.
    pub residual: f64,
}

/// One run against the calibrated model.
#[derive(Debug, Clone, PartialEq)]
pub struct RunFit {
    /// The run.
    pub run: Run,
    /// Every row.
    pub points: Vec<PointFit>,
    /// Root mean square of the residuals.
    pub rms_residual: f64,
    /// The largest |residual|.
    pub max_abs_residual: f64,
}

/// The result: the written system and every residual.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    /// The template with the fitted levels (and launch) replaced.
    pub system: System,
    /// One entry per fitted level, outer first.
    pub levels: Vec<LevelFit>,
    /// Whether `launch` was fitted (else the template's).
    pub launch_fitted: bool,
    /// Every run, in command-line order.
    pub runs: Vec<RunFit>,
}

fn error_at(file: &str, line: usize, col: usize, msg: impl Into<String>) -> InputError {
    InputError {
        file: file.to_string(),
        line: Some((line, col)),
        message: msg.into(),
        help: None,
    }
}

/// The collective of an nccl-tests binary name (`all_reduce_perf`, ...).
pub fn collective_of_test(name: &str) -> Option<Collective> {
    let base = name.trim().trim_end_matches("_mpi");
    let base = base.strip_suffix("_perf").unwrap_or(base);
    match base {
        "all_reduce" => Some(Collective::AllReduce),
        "reduce_scatter" => Some(Collective::ReduceScatter),
        "all_gather" => Some(Collective::AllGather),
        "reduce" => Some(Collective::Reduce),
        "broadcast" => Some(Collective::Broadcast),
        _ => None,
    }
}

/// nccl-tests' bus factor `busbw / algbw` (doc/PERFORMANCE.md).
pub fn bus_factor(op: Collective, n: u64) -> f64 {
    let n = n as f64;
    match op {
        Collective::AllReduce => 2.0 * (n - 1.0) / n,
        Collective::ReduceScatter | Collective::AllGather => (n - 1.0) / n,
        Collective::Reduce | Collective::Broadcast => 1.0,
    }
}

/// Column positions read from the header line.
struct Columns {
    size: usize,
    time: usize,
    algbw: Option<usize>,
    busbw: Option<usize>,
}

/// Reads nccl-tests output. Errors name the file, line and column.
pub fn parse_table(source: &Source) -> Result<Table, InputError> {
    let file = source.name.as_str();
    let mut columns: Option<Columns> = None;
    let mut points = Vec::new();
    let mut ranks = BTreeSet::new();
    let mut collective_named = None;
    let mut best_bus: Option<(usize, f64, f64)> = None; // (line, algbw, ratio)
    for (i, raw_line) in source.text.lines().enumerate() {
        let line = i + 1;
        let trimmed = raw_line.trim();
        if let Some(rest) = trimmed.strip_prefix('#') {
            let rest = rest.trim_start_matches('#');
            if let Some(name) = rest.split("Collective test starting:").nth(1) {
                collective_named = collective_of_test(name);
            }
            let words: Vec<&str> = rest.split_whitespace().collect();
            if words.contains(&"size") && words.contains(&"time") && words.contains(&"algbw") {
                let pos = |w: &str| words.iter().position(|x| *x == w);
                let (Some(size), Some(time)) = (pos("size"), pos("time")) else {
                    continue;
                };
                let after = |w: &str| {
                    words
                        .iter()
                        .enumerate()
                        .skip(time)
                        .find(|(_, x)| **x == w)
                        .map(|(j, _)| j)
                };
                columns = Some(Columns {
                    size,
                    time,
                    algbw: after("algbw"),
                    busbw: after("busbw"),
                });
            } else if words.first() == Some(&"Rank") {
                if let Some(r) = words.get(1).and_then(|w| w.parse::<u64>().ok()) {
                    ranks.insert(r);
                }
            }
            continue;
        }
        let tokens: Vec<(usize, &str)> = tokens_with_columns(raw_line);
        let Some(&(_, first)) = tokens.first() else {
            continue;
        };
        if first.parse::<u64>().is_err() || !first.chars().all(|c| c.is_ascii_digit()) {
            continue; // log lines, prompts, anything that is not a result row
        }
        let Some(cols) = &columns else {
            return Err(error_at(
                file,
                line,
                1,
                "a result row before the column header: keep nccl-tests' header lines \
                 (`#  size  count  type  redop  root  time  algbw  busbw ...`), which say \
                 which column is the time",
            ));
        };
        if tokens.len() <= cols.time {
            return Err(error_at(
                file,
                line,
                1,
                format!(
                    "this row has {} columns, but the header puts the out-of-place time in \
                     column {}: is the row cut off?",
                    tokens.len(),
                    cols.time + 1
                ),
            ));
        }
        let (size_col, size_text) = tokens[cols.size];
        let bytes: u64 = size_text.parse().map_err(|_| {
            error_at(
                file,
                line,
                size_col,
                format!("`{size_text}` is not a size in bytes (the `size` column)"),
            )
        })?;
        let (time_col, time_text) = tokens[cols.time];
        let time_us: f64 = match time_text.parse::<f64>() {
            Ok(t) if t.is_finite() && t > 0.0 => t,
            _ => {
                return Err(error_at(
                    file,
                    line,
                    time_col,
                    format!(
                        "`{time_text}` is not a positive time in microseconds (the \
                         out-of-place `time` column)"
                    ),
                ))
            }
        };
        let num = |c: Option<usize>| {
            c.and_then(|c| tokens.get(c))
                .and_then(|(_, t)| t.parse::<f64>().ok())
        };
        if let (Some(alg), Some(bus)) = (num(cols.algbw), num(cols.busbw)) {
            if alg >= 1.0 && best_bus.is_none_or(|(_, a, _)| alg > a) {
                best_bus = Some((line, alg, bus / alg));
            }
        }
        if bytes == 0 {
            continue;
        }
        points.push(Point {
            line,
            bytes,
            time_s: time_us * 1e-6,
        });
    }
    if points.is_empty() {
        return Err(InputError::file(
            file,
            "no result rows: expected nccl-tests output (a `#  size  count  type ... time \
             algbw busbw` header, then one row per size)",
        ));
    }
    Ok(Table {
        points,
        ranks_listed: (!ranks.is_empty()).then_some(ranks.len() as u64),
        collective_named,
        bus_factor: best_bus.map(|(l, _, r)| (l, r)),
    })
}

/// Whitespace-separated tokens with their 1-based column.
fn tokens_with_columns(line: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in line.char_indices() {
        if c.is_whitespace() {
            if let Some(s) = start.take() {
                out.push((s, &line[s..i]));
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        out.push((s, &line[s..]));
    }
    out.into_iter()
        .map(|(s, t)| (line[..s].chars().count() + 1, t))
        .collect()
}

/// A run's scope as the command line gives it: `LEVEL[:RANKS][:COLLECTIVE]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// Level name.
    pub level: String,
    /// Ranks, if given.
    pub ranks: Option<u64>,
    /// Collective, if given.
    pub collective: Option<Collective>,
}

/// Parses `LEVEL[:RANKS][:COLLECTIVE]` (RANKS and COLLECTIVE in either order).
pub fn parse_scope(text: &str) -> Result<Scope, String> {
    let mut parts = text.split(':');
    let level = parts.next().unwrap_or("").trim().to_string();
    if level.is_empty() {
        return Err(format!(
            "`{text}`: the scope starts with the level the run spans, like `gpu:8` or `node:4`"
        ));
    }
    let mut scope = Scope {
        level,
        ranks: None,
        collective: None,
    };
    for p in parts {
        let p = p.trim();
        if let Ok(n) = p.parse::<u64>() {
            scope.ranks = Some(n);
        } else if let Some(c) = Collective::from_name(p).or_else(|| collective_of_test(p)) {
            scope.collective = Some(c);
        } else {
            return Err(format!(
                "`{text}`: `{p}` is neither a rank count nor a collective (all_reduce, \
                 reduce_scatter, all_gather)"
            ));
        }
    }
    Ok(scope)
}

/// Checks a table against its scope and makes the run: the level must exist, the run
/// must have at least 2 ranks (from the scope or the file's `# Rank` lines), and
/// nccl-tests' own bus factor must match the collective and rank count.
pub fn make_run(
    system: &System,
    scope: &Scope,
    table: Table,
    file: &str,
) -> Result<Run, InputError> {
    let names: Vec<&str> = system.levels.iter().map(|l| l.name.as_str()).collect();
    let Some(level) = names.iter().position(|n| *n == scope.level) else {
        return Err(InputError::file(
            file,
            format!(
                "the run's level `{}` is not a level of the system (levels: {})",
                scope.level,
                names.join(", ")
            ),
        ));
    };
    let Some(ranks) = scope.ranks.or(table.ranks_listed) else {
        return Err(InputError::file(
            file,
            "how many ranks ran? the file lists no `# Rank` lines: give them in the scope, \
             like `gpu:8=FILE`",
        ));
    };
    if ranks < 2 {
        return Err(InputError::file(
            file,
            format!("a run of {ranks} rank moves nothing: calibrate from runs of 2 or more ranks"),
        ));
    }
    let collective = scope
        .collective
        .or(table.collective_named)
        .unwrap_or(Collective::AllReduce);
    if !matches!(
        collective,
        Collective::AllReduce | Collective::ReduceScatter | Collective::AllGather
    ) {
        return Err(InputError::file(
            file,
            format!(
                "{collective} runs are not read: calibrate from all_reduce_perf, \
                 reduce_scatter_perf or all_gather_perf"
            ),
        ));
    }
    if let Some((line, ratio)) = table.bus_factor {
        let want = bus_factor(collective, ranks);
        if (ratio / want - 1.0).abs() > 0.02 {
            let hint = match collective {
                Collective::AllReduce if ratio < 2.0 => {
                    format!("{:.1} ranks of all_reduce", 2.0 / (2.0 - ratio))
                }
                _ if ratio < 1.0 => format!(
                    "{:.1} ranks of reduce_scatter/all_gather",
                    1.0 / (1.0 - ratio)
                ),
                _ => "a different collective".to_string(),
            };
            return Err(error_at(
                file,
                line,
                1,
                format!(
                    "busbw / algbw = {ratio:.3} on this row, but {collective} over {ranks} \
                     ranks has bus factor {want:.3}: the scope does not match the run (the \
                     factor fits {hint}); fix the scope's ranks or collective"
                ),
            ));
        }
    }
    Ok(Run {
        file: file.to_string(),
        level,
        ranks,
        collective,
        points: table.points,
    })
}

/// The one-level system and placement a run is costed on: the template's levels, level
/// `level` of arity `ranks`, every other of arity 1; one axis over the run's ranks.
fn run_problem(system: &System, run: &Run) -> (Spec, Placement, Step) {
    let levels: Vec<Level> = system
        .levels
        .iter()
        .enumerate()
        .map(|(l, lv)| Level {
            arity: if l == run.level { run.ranks } else { 1 },
            ..lv.clone()
        })
        .collect();
    let n = levels.len();
    let spec = Spec {
        source: run.file.clone(),
        axes: vec![Axis {
            name: "run".into(),
            size: run.ranks,
        }],
        system: System {
            name: system.name.clone(),
            launch_s: system.launch_s,
            copy_bandwidth_bps: system.copy_bandwidth_bps,
            levels,
        },
        requests: vec![],
    };
    let mut row = vec![1u64; n];
    row[run.level] = run.ranks;
    let placement = Placement::from_valid_matrix(vec![row]);
    let step = Step::new(
        run.collective,
        vec![DimRef {
            level: run.level,
            axis: 0,
        }],
    );
    (spec, placement, step)
}

/// What each member holds at the start, from nccl-tests' size: for all_gather the size
/// is the gathered output, so a member contributes `size / n`.
fn bytes_in(run: &Run, size: u64) -> f64 {
    match run.collective {
        Collective::AllGather => size as f64 / run.ranks as f64,
        _ => size as f64,
    }
}

/// The model's time for a run on a system (the cost module's step cost).
pub fn model_time(system: &System, run: &Run, size: u64) -> f64 {
    let (spec, placement, step) = run_problem(system, run);
    step_cost(&spec, &placement, &step, bytes_in(run, size)).time_s
}

/// `(c_bw, c_lat)` of a run at a size: the cost module's bandwidth term at rate 1 B/s
/// and its latency term at 1 s per hop, every other level's links free.
fn coefficients(system: &System, run: &Run, size: u64) -> (f64, f64) {
    let mut unit = system.clone();
    unit.launch_s = 0.0;
    for (l, lv) in unit.levels.iter_mut().enumerate() {
        lv.device_bandwidth_bps = None;
        if l == run.level {
            lv.bandwidth_bps = 1.0;
            lv.latency_s = 1.0;
        } else {
            lv.bandwidth_bps = f64::INFINITY;
            lv.latency_s = 0.0;
        }
    }
    let (spec, placement, step) = run_problem(&unit, run);
    let c = step_cost(&spec, &placement, &step, bytes_in(run, size));
    (c.bandwidth_s, c.latency_s)
}

/// Why a fit cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FitError(pub String);

/// Fits every level that has runs (and `launch` if asked) and checks the result against
/// every row with the cost module.
pub fn calibrate(
    template: &System,
    runs: Vec<Run>,
    fit_launch: bool,
) -> Result<Calibration, FitError> {
    if runs.is_empty() {
        return Err(FitError("no runs to fit: give at least one --run".into()));
    }
    let fitted: Vec<usize> = runs
        .iter()
        .map(|r| r.level)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    // Unknowns: per fitted level 1/R and α; then launch.
    let nu = 2 * fitted.len() + usize::from(fit_launch);
    let mut rows: Vec<(Vec<f64>, f64)> = Vec::new();
    for run in &runs {
        let j = fitted.iter().position(|&l| l == run.level).expect("fitted");
        for p in &run.points {
            let (cb, cl) = coefficients(template, run, p.bytes);
            let mut a = vec![0.0; nu];
            a[2 * j] = cb / p.time_s;
            a[2 * j + 1] = cl / p.time_s;
            let mut b = 1.0;
            if fit_launch {
                a[nu - 1] = 1.0 / p.time_s;
            } else {
                b -= template.launch_s / p.time_s;
            }
            rows.push((a, b));
        }
    }
    // Active set: non-negative latencies and launch.
    let mut fixed = vec![false; nu];
    let u = loop {
        let free: Vec<usize> = (0..nu).filter(|&i| !fixed[i]).collect();
        let sol = least_squares(&rows, &free).ok_or_else(|| {
            FitError(format!(
                "the runs cannot separate the unknowns ({}): each level needs rows at two or \
                 more sizes, and fitting launch needs runs of two rank counts at one level",
                unknown_names(template, &fitted, fit_launch).join(", ")
            ))
        })?;
        let mut u = vec![0.0; nu];
        for (k, &i) in free.iter().enumerate() {
            u[i] = sol[k];
        }
        let worst = (0..nu)
            .filter(|&i| !fixed[i] && (i % 2 == 1 || (fit_launch && i == nu - 1)) && u[i] < 0.0)
            .min_by(|&a, &b| u[a].total_cmp(&u[b]));
        match worst {
            Some(i) => fixed[i] = true,
            None => break u,
        }
    };
    let mut system = template.clone();
    if fit_launch {
        system.launch_s = u[nu - 1].max(0.0);
    }
    let mut levels = Vec::new();
    for (j, &l) in fitted.iter().enumerate() {
        let inv = u[2 * j];
        if !(inv > 0.0 && inv.is_finite()) {
            return Err(FitError(format!(
                "level `{}`: the measured times do not grow with the message size, so no \
                 bandwidth fits; include rows up to large sizes (nccl-tests -e 1G or more)",
                template.levels[l].name
            )));
        }
        let rate = 1.0 / inv;
        let latency_s = u[2 * j + 1].max(MIN_LATENCY_S);
        let lv = &mut system.levels[l];
        lv.latency_s = latency_s;
        let device = lv.device_bandwidth_bps.is_some();
        if device {
            lv.device_bandwidth_bps = Some(rate);
            lv.bandwidth_bps = lv.bandwidth_bps.max(rate);
        } else {
            lv.bandwidth_bps = rate;
        }
        levels.push(LevelFit {
            level: l,
            rate_bps: rate,
            latency_s,
            device,
        });
    }
    let runs = runs
        .into_iter()
        .map(|run| {
            let points: Vec<PointFit> = run
                .points
                .iter()
                .map(|p| {
                    let model_s = model_time(&system, &run, p.bytes);
                    PointFit {
                        line: p.line,
                        bytes: p.bytes,
                        measured_s: p.time_s,
                        model_s,
                        residual: (model_s - p.time_s) / p.time_s,
                    }
                })
                .collect();
            let n = points.len().max(1) as f64;
            let rms_residual =
                (points.iter().map(|p| p.residual * p.residual).sum::<f64>() / n).sqrt();
            let max_abs_residual = points.iter().map(|p| p.residual.abs()).fold(0.0, f64::max);
            RunFit {
                run,
                points,
                rms_residual,
                max_abs_residual,
            }
        })
        .collect();
    Ok(Calibration {
        system,
        levels,
        launch_fitted: fit_launch,
        runs,
    })
}

fn unknown_names(system: &System, fitted: &[usize], launch: bool) -> Vec<String> {
    let mut v: Vec<String> = fitted
        .iter()
        .flat_map(|&l| {
            let n = &system.levels[l].name;
            [format!("{n} bandwidth"), format!("{n} latency")]
        })
        .collect();
    if launch {
        v.push("launch".into());
    }
    v
}

/// Least squares `min ||A x − b||` over the columns `cols` of the rows, by the normal
/// equations with column scaling and partial pivoting; `None` when the columns are
/// (numerically) dependent.
fn least_squares(rows: &[(Vec<f64>, f64)], cols: &[usize]) -> Option<Vec<f64>> {
    let k = cols.len();
    if k == 0 {
        return Some(vec![]);
    }
    let scale: Vec<f64> = cols
        .iter()
        .map(|&c| {
            let s = rows.iter().map(|(a, _)| a[c] * a[c]).sum::<f64>().sqrt();
            if s > 0.0 {
                s
            } else {
                1.0
            }
        })
        .collect();
    let mut m = vec![vec![0.0; k + 1]; k];
    for (a, b) in rows {
        for i in 0..k {
            let ai = a[cols[i]] / scale[i];
            for j in 0..k {
                m[i][j] += ai * a[cols[j]] / scale[j];
            }
            m[i][k] += ai * b;
        }
    }
    for col in 0..k {
        let piv = (col..k).max_by(|&x, &y| m[x][col].abs().total_cmp(&m[y][col].abs()))?;
        if m[piv][col].abs() < 1e-10 {
            return None;
        }
        m.swap(col, piv);
        let pivot_row = m[col].clone();
        for (r, row) in m.iter_mut().enumerate() {
            if r != col {
                let f = row[col] / pivot_row[col];
                for (x, p) in row.iter_mut().zip(&pivot_row).skip(col) {
                    *x -= f * p;
                }
            }
        }
    }
    Some((0..k).map(|i| m[i][k] / m[i][i] / scale[i]).collect())
}

/// A quantity for a TOML file: 6 significant figures, trailing zeros trimmed.
fn quantity(v: f64, unit: &str) -> String {
    let digits = if v >= 1.0 {
        (5 - v.log10().floor() as i32).max(0) as usize
    } else {
        6
    };
    let s = format!("{v:.digits$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    format!("{s} {unit}")
}

/// A bandwidth as the spec writes it.
pub fn bandwidth_text(bps: f64) -> String {
    quantity(bps / 1e9, "GB/s")
}

/// A duration as the spec writes it.
pub fn duration_text(s: f64) -> String {
    quantity(s * 1e6, "us")
}

/// The system file: the calibrated levels, and a comment block with the fit and every
/// row's residual.
pub fn system_toml(cal: &Calibration, template_name: &str) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Calibrated by `collsynth calibrate` from nccl-tests output (docs/cost-model.md,"
    );
    let _ = writeln!(s, "# \"Calibration\"); template: {template_name}.");
    for f in &cal.levels {
        let name = &cal.system.levels[f.level].name;
        let _ = writeln!(
            s,
            "# level {name}: {} = {}, latency = {} (least squares on relative error)",
            if f.device {
                "device_bandwidth"
            } else {
                "bandwidth"
            },
            bandwidth_text(f.rate_bps),
            duration_text(f.latency_s)
        );
    }
    let _ = writeln!(
        s,
        "# launch = {} ({})",
        duration_text(cal.system.launch_s),
        if cal.launch_fitted {
            "fitted"
        } else {
            "the template's"
        }
    );
    for r in &cal.runs {
        let _ = writeln!(s, "#");
        let _ = writeln!(
            s,
            "# run {}: {} over {} ranks at level {}; rms residual {:.1}%, max {:.1}%",
            r.run.file,
            r.run.collective,
            r.run.ranks,
            cal.system.levels[r.run.level].name,
            100.0 * r.rms_residual,
            100.0 * r.max_abs_residual
        );
        let _ = writeln!(
            s,
            "#   {:>12}  {:>12}  {:>12}  {:>9}",
            "bytes", "measured_us", "model_us", "residual"
        );
        for p in &r.points {
            let _ = writeln!(
                s,
                "#   {:>12}  {:>12.2}  {:>12.2}  {:>8.1}%",
                p.bytes,
                p.measured_s * 1e6,
                p.model_s * 1e6,
                100.0 * p.residual
            );
        }
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "name = {}", toml_string(&cal.system.name));
    let _ = writeln!(s, "launch = \"{}\"", duration_text(cal.system.launch_s));
    if cal.system.copy_bandwidth_bps != crate::spec::DEFAULT_COPY_BANDWIDTH_BPS {
        let _ = writeln!(
            s,
            "copy_bandwidth = \"{}\"",
            bandwidth_text(cal.system.copy_bandwidth_bps)
        );
    }
    let _ = writeln!(s, "levels = [");
    for lv in &cal.system.levels {
        let _ = write!(
            s,
            "  {{ name = {}, arity = {}, bandwidth = \"{}\", latency = \"{}\"",
            toml_string(&lv.name),
            lv.arity,
            bandwidth_text(lv.bandwidth_bps),
            duration_text(lv.latency_s)
        );
        if let Some(d) = lv.device_bandwidth_bps {
            let _ = write!(s, ", device_bandwidth = \"{}\"", bandwidth_text(d));
        }
        let _ = writeln!(s, " }},");
    }
    let _ = writeln!(s, "]");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_syntax() {
        let s = parse_scope("gpu:8:all_gather").unwrap();
        assert_eq!(s.level, "gpu");
        assert_eq!(s.ranks, Some(8));
        assert_eq!(s.collective, Some(Collective::AllGather));
        assert_eq!(parse_scope("node").unwrap().ranks, None);
        assert!(parse_scope("gpu:eight").is_err());
        assert!(parse_scope(":8").is_err());
    }

    #[test]
    fn quantities_round_trip() {
        assert_eq!(bandwidth_text(235e9), "235 GB/s");
        assert_eq!(bandwidth_text(312.97e9), "312.97 GB/s");
        assert_eq!(duration_text(1.25e-6), "1.25 us");
        assert_eq!(duration_text(1e-9), "0.001 us");
        assert!(crate::units::Bandwidth::parse(&bandwidth_text(123.456789e9)).is_ok());
    }

    #[test]
    fn least_squares_solves_an_exact_system() {
        let rows = vec![
            (vec![1.0, 0.0], 2.0),
            (vec![0.0, 1.0], 3.0),
            (vec![1.0, 1.0], 5.0),
        ];
        let x = least_squares(&rows, &[0, 1]).unwrap();
        assert!((x[0] - 2.0).abs() < 1e-12 && (x[1] - 3.0).abs() < 1e-12);
        assert!(least_squares(&[(vec![1.0, 2.0], 1.0), (vec![2.0, 4.0], 2.0)], &[0, 1]).is_none());
    }
}
