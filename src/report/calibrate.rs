//! `calibrate` output: the residual table for people and the `calibrate --json`
//! document (`docs/design.md`, "JSON outputs").

use serde::Serialize;

use super::{finite, to_string};
use crate::calibrate::Calibration;

/// `calibrate --json`.
#[derive(Serialize)]
struct CalibrateJson<'a> {
    schema_version: u32,
    template: &'a str,
    launch_s: f64,
    launch_fitted: bool,
    levels: Vec<LevelJson<'a>>,
    runs: Vec<RunJson<'a>>,
    system_toml: &'a str,
}

#[derive(Serialize)]
struct LevelJson<'a> {
    level: &'a str,
    key: &'static str,
    bandwidth_gbs: f64,
    latency_s: f64,
}

#[derive(Serialize)]
struct RunJson<'a> {
    file: &'a str,
    level: &'a str,
    ranks: u64,
    collective: &'static str,
    rms_residual: Option<f64>,
    max_abs_residual: Option<f64>,
    points: Vec<PointJson>,
}

#[derive(Serialize)]
struct PointJson {
    line: usize,
    bytes: u64,
    measured_s: f64,
    model_s: f64,
    residual: Option<f64>,
}

/// The JSON document.
pub fn calibrate_json(cal: &Calibration, template: &str, toml: &str) -> String {
    let name = |l: usize| cal.system.levels[l].name.as_str();
    to_string(&CalibrateJson {
        schema_version: 1,
        template,
        launch_s: cal.system.launch_s,
        launch_fitted: cal.launch_fitted,
        levels: cal
            .levels
            .iter()
            .map(|f| LevelJson {
                level: name(f.level),
                key: if f.device {
                    "device_bandwidth"
                } else {
                    "bandwidth"
                },
                bandwidth_gbs: f.rate_bps / 1e9,
                latency_s: f.latency_s,
            })
            .collect(),
        runs: cal
            .runs
            .iter()
            .map(|r| RunJson {
                file: &r.run.file,
                level: name(r.run.level),
                ranks: r.run.ranks,
                collective: r.run.collective.name(),
                rms_residual: finite(r.rms_residual),
                max_abs_residual: finite(r.max_abs_residual),
                points: r
                    .points
                    .iter()
                    .map(|p| PointJson {
                        line: p.line,
                        bytes: p.bytes,
                        measured_s: p.measured_s,
                        model_s: p.model_s,
                        residual: finite(p.residual),
                    })
                    .collect(),
            })
            .collect(),
        system_toml: toml,
    })
}

/// The fit and each run's residual summary, one line each (the per-row residuals are
/// in the TOML's comments and in `--json`).
pub fn calibrate_text(cal: &Calibration) -> String {
    use crate::calibrate::{bandwidth_text, duration_text};
    let mut s = String::new();
    for f in &cal.levels {
        s.push_str(&format!(
            "level {}: {} {}, latency {}\n",
            cal.system.levels[f.level].name,
            if f.device {
                "device_bandwidth"
            } else {
                "bandwidth"
            },
            bandwidth_text(f.rate_bps),
            duration_text(f.latency_s)
        ));
    }
    s.push_str(&format!(
        "launch {} ({})\n",
        duration_text(cal.system.launch_s),
        if cal.launch_fitted {
            "fitted"
        } else {
            "the template's; --fit-launch fits it"
        }
    ));
    for r in &cal.runs {
        let worst = r
            .points
            .iter()
            .max_by(|a, b| a.residual.abs().total_cmp(&b.residual.abs()));
        s.push_str(&format!(
            "run {} ({} over {} ranks at {}): {} rows, rms residual {:.1}%, max {:.1}%{}\n",
            r.run.file,
            r.run.collective,
            r.run.ranks,
            cal.system.levels[r.run.level].name,
            r.points.len(),
            100.0 * r.rms_residual,
            100.0 * r.max_abs_residual,
            worst.map_or(String::new(), |p| format!(
                " (at {} bytes, line {})",
                p.bytes, p.line
            ))
        ));
    }
    s
}
