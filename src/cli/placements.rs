//! `collsynth placements`: every parallelism matrix of a spec.

use super::outcome::{Outcome, Result};
use super::{load_spec, print, PlacementsArgs};
use crate::report;

pub(super) fn placements(a: PlacementsArgs) -> Result {
    let spec = load_spec(a.positional, &a.spec)?;
    crate::placement::checked_count(&spec).map_err(|e| super::outcome::usage(e.0))?;
    if a.coords && spec.devices() > crate::lowered::MAX_LOWERED_DEVICES {
        return Err(super::outcome::usage(format!(
            "--coords gives per-rank data for at most 2^20 devices; this system has {}",
            spec.devices()
        )));
    }
    let json = (a.json || a.html.is_some()).then(|| report::placements_json(&spec, a.coords));
    let out = match &json {
        Some(j) if a.json => j.clone(),
        _ => report::placements_text(&spec, a.coords),
    };
    print(&out);
    if let (Some(path), Some(json)) = (&a.html, &json) {
        super::write_html(path, &report::html::placements_html(&spec, json))?;
    }
    Ok(Outcome::Success)
}
