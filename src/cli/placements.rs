//! `collsynth placements`: every parallelism matrix of a spec.

use super::outcome::{Outcome, Result};
use super::{load_spec, print, PlacementsArgs};
use crate::report;

pub(super) fn placements(a: PlacementsArgs) -> Result {
    let spec = load_spec(a.positional, &a.spec)?;
    let out = if a.json {
        report::placements_json(&spec, a.coords)
    } else {
        report::placements_text(&spec, a.coords)
    };
    print(&out);
    Ok(Outcome::Success)
}
