//! `collsynth cost`: predict a program's time on a placement, next to the lower bound
//! and the flat single-step all_reduce, for one size or a sweep of sizes.

use super::outcome::{usage, Outcome, Result};
use super::{print, CostArgs};
use crate::cost;
use crate::report::{self, cost::CostRow};
use crate::units::parse_size;

/// Sizes `a, 4a, 16a, ...` up to `b`, from `A..B` text.
pub(crate) fn sweep_sizes(text: &str) -> Result<Vec<u64>> {
    let Some((lo, hi)) = text.split_once("..") else {
        return Err(usage(format!(
            "--sweep takes two sizes joined by `..`, like \"4KB..4GB\", not `{text}`"
        )));
    };
    let lo = parse_size(lo.trim()).map_err(|e| usage(format!("--sweep: {}", e.0)))?;
    let hi = parse_size(hi.trim()).map_err(|e| usage(format!("--sweep: {}", e.0)))?;
    if lo > hi {
        return Err(usage(format!(
            "--sweep {text}: the first size is larger than the last; write the smaller one first"
        )));
    }
    let mut sizes = vec![lo];
    while let Some(next) = sizes.last().and_then(|s| s.checked_mul(4)) {
        if next > hi {
            break;
        }
        sizes.push(next);
    }
    // The sweep ends at the size asked for, even off the powers of four.
    if sizes.last() != Some(&hi) {
        sizes.push(hi);
    }
    Ok(sizes)
}

pub(super) fn cost(a: CostArgs) -> Result {
    let problem = a.problem.resolve()?;
    let sizes = match (&a.sweep, &a.bytes) {
        (Some(s), _) => sweep_sizes(s)?,
        (None, Some(b)) => vec![parse_size(b).map_err(|e| usage(format!("--bytes: {}", e.0)))?],
        (None, None) => vec![problem.request.bytes],
    };
    let flat = cost::flat_program(&problem.placement, &problem.request);
    // busbw: a one-step program is that collective over its group; anything else
    // implements the request's all_reduce over its reduction group.
    let one_step = match (&problem.program, &problem.lowered) {
        (Some(p), _) if p.steps.len() == 1 => Some((
            p.steps[0].op,
            crate::lowered::dim_indices(&problem.placement, &p.steps[0].dims)
                .iter()
                .map(|&i| problem.placement.dims[i].size)
                .product(),
        )),
        (None, Some(l)) if l.steps.len() == 1 => Some((
            l.steps[0].collective,
            l.steps[0].groups.first().map_or(1, |g| g.len() as u64),
        )),
        _ => None,
    };
    let (factor_op, n) = match one_step {
        Some(f) => f,
        _ => (
            cost::request_collective(&problem.request),
            cost::group_size(&problem.placement, &problem.request),
        ),
    };
    let rows: Vec<CostRow> = sizes
        .iter()
        .map(|&bytes| {
            // An all_gather program starts from each device's shard.
            let start = cost::program_bytes(&problem.spec, &problem.request, bytes);
            let program = match &problem.program {
                Some(p) => cost::program_cost(&problem.spec, &problem.placement, p, start),
                None => cost::lowered_cost(
                    &problem.spec,
                    &problem.placement,
                    problem
                        .lowered
                        .as_ref()
                        .expect("a program without a group form is lowered JSON"),
                    start,
                ),
            };
            let mut request = problem.request.clone();
            request.bytes = bytes;
            let pipelined = cost::pipelined_cost(&problem.spec, &program, problem.chunks);
            let atoms = cost::chunk_atoms(&problem.spec, &request, problem.atoms());
            let best = cost::best_chunks(&problem.spec, &program, bytes, atoms);
            CostRow {
                bytes,
                algbw_gbs: cost::algbw_gbs(bytes, pipelined.total_s),
                busbw_gbs: cost::busbw_gbs(factor_op, n, bytes, pipelined.total_s),
                pipelined,
                best,
                lower_bound_s: cost::lower_bound(&problem.spec, &problem.placement, &request),
                flat: cost::program_cost(&problem.spec, &problem.placement, &flat, start),
                nccl: cost::nccl_cost(&problem.spec, &problem.placement, &request, bytes),
                program,
            }
        })
        .collect();
    let factor = (factor_op, n);
    let out = match (a.json, a.sweep.is_some(), rows.first()) {
        (true, true, _) => report::cost::sweep_json(&problem, &flat, factor, &rows),
        (false, true, _) => report::cost::sweep_text(&problem, &flat, &rows),
        (true, false, Some(row)) => report::cost::cost_json(&problem, &flat, factor, row),
        (false, false, Some(row)) => report::cost::cost_text(&problem, &flat, factor, row),
        (_, false, None) => return Err(usage("no size to cost")),
    };
    print(&out);
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_is_powers_of_four() {
        assert_eq!(
            sweep_sizes("4KB..1MB").unwrap(),
            vec![4_000, 16_000, 64_000, 256_000, 1_000_000]
        );
        assert_eq!(
            sweep_sizes("4KB..256KB").unwrap(),
            vec![4_000, 16_000, 64_000, 256_000]
        );
        assert_eq!(sweep_sizes("1KB..1KB").unwrap(), vec![1_000]);
        assert!(sweep_sizes("4GB..4KB").is_err());
        assert!(sweep_sizes("4GB").is_err());
        assert!(sweep_sizes("x..4KB").is_err());
    }
}
