//! The PyTorch target: a module with the placement's `DeviceMesh` (built from an
//! explicit rank tensor, one mesh dimension per axis, named as in the spec) and one
//! function per program that runs it in place with `torch.distributed`.
//!
//! Process groups are made once, in a fixed order, by `make_groups()`: one
//! `new_group` per group, called by every process (members or not), groups
//! ascending. Steps use `all_reduce`, `reduce_scatter_tensor`,
//! `all_gather_into_tensor`, `reduce` and `broadcast` (roots as global ranks: the
//! first member of each group) on slices of the flattened tensor, tracking every
//! rank's region as the semantics of docs/design.md does. It runs on NCCL and on gloo; where
//! gloo lacks reduce_scatter_tensor or all_gather_into_tensor the module falls back
//! to all_reduce (keeping its chunk) and all_gather into chunk views, and says so.
//! `GROUPS` exposes the groups so they can be compared with the lowered form.
//!
//! Each rank plans a program once, at its first call (its process group handles,
//! offsets and lengths in atoms, scaled once per tensor size); a call then runs only
//! the collectives. Every program also runs with `async_op=True` (a
//! `torch.futures.Future`), and `ddp_comm_hook` runs an all_reduce program as a
//! DistributedDataParallel communication hook (buckets padded to the program's atom
//! count, mean over the reduction group or sum).
//!
//! A reduce_scatter program takes the rank's whole buffer (left unchanged: it runs on
//! a copy) and returns its shard; an all_gather program takes the rank's shard and
//! returns the whole buffer (it runs in that buffer). `reduce_scatter_tensor(output,
//! input, async_op=False)` and `all_gather_into_tensor(output, input,
//! async_op=False)` mirror torch.distributed's signatures for FSDP-shaped code,
//! returning a work object (`wait()`, `get_future()`) when async. `device_mesh()` needs torch >= 2.2
//! and says so on older ones.
//!
//! A pipelined program (`CHUNKS[name] > 1`) has its own process group for every
//! step (separate communicators, hence separate NCCL streams) and runs its chunks
//! through the steps with `async_op=True`, in wavefront order: step s of chunk k is
//! launched once that chunk's previous step is done, so steps of different chunks
//! are in flight together.

use std::fmt::Write as _;

use super::{common_placement, header, program_text, py_groups, py_ident, py_str, py_tuple, Unit};
use crate::placement::Placement;
use crate::spec::{RequestKind, Spec};

const RUNTIME_PY: &str = include_str!("torch_runtime.py");

/// The module for these programs (one placement; each unit's `name` becomes its
/// function's name).
pub fn render(spec: &Spec, units: &[Unit]) -> Result<String, super::EmitError> {
    let first = common_placement(units, "torch")?;
    let placement = &first.placement;
    let mut s = header(spec, units, "torch");
    let names: Vec<String> = units.iter().map(|u| py_ident(&u.name)).collect();
    s.push('\n');
    s.push_str(
        "\"\"\"Collectives collsynth synthesized, for torch.distributed (NCCL or gloo).\n\n",
    );
    s.push_str("Use (every process, after dist.init_process_group(\"nccl\") or (\"gloo\")):\n\n");
    s.push_str("    import this_module as cs\n");
    s.push_str("    cs.make_groups()                # once; every process, members or not\n");
    for (u, n) in units.iter().zip(&names) {
        let call = match u.request.collective {
            RequestKind::ReduceScatter => {
                format!("shard = cs.{n}(tensor)      # tensor: the whole buffer")
            }
            RequestKind::AllGather => format!("whole = cs.{n}(shard)       # shard: this rank's"),
            _ => format!("cs.{n}(tensor)      # in place"),
        };
        let _ = writeln!(
            s,
            "    {call}; whole numel a multiple of ATOMS[{}]",
            py_str(n)
        );
    }
    s.push_str(concat!(
        "    fut = cs.run(name, tensor, async_op=True)   # a torch.futures.Future of the result\n",
        "\n",
        "reduce_scatter programs take this rank's whole buffer and return its shard (numel /\n",
        "SHARDS[name], shard SHARD_OF[name][rank], the request's numbering); all_gather\n",
        "programs take this rank's shard and return the whole buffer (numel x SHARDS[name]),\n",
        "chunk j from the member whose shard number is j. As FSDP calls torch.distributed:\n",
        "\n",
        "    cs.reduce_scatter_tensor(output, input)            # output: the shard\n",
        "    cs.all_gather_into_tensor(output, input)           # output: the whole buffer\n",
        "    work = cs.all_gather_into_tensor(output, input, async_op=True)   # work.wait()\n",
        "    # program=NAME picks one of this module's programs (default: the first of\n",
        "    # the collective, DEFAULT_REDUCE_SCATTER / DEFAULT_ALL_GATHER)\n",
        "\n",
        "In a training loop, as DistributedDataParallel's gradient reduction:\n\n",
        "    model = torch.nn.parallel.DistributedDataParallel(model)\n",
        "    model.register_comm_hook(None, cs.ddp_comm_hook)\n",
        "    # or {\"program\": name, \"average\": False} as the state: another all_reduce\n",
        "    # program of this module, or sums instead of means\n",
        "\n",
        "Each program plans this rank's steps (process groups, offsets, lengths) once, at\n",
        "its first call; later calls run only the collectives. gloo has no\n",
        "reduce_scatter_tensor or all_gather_into_tensor in torch 1.13: there those steps\n",
        "fall back to all_reduce (keeping the chunk) and all_gather into views, with a\n",
        "warning, once. device_mesh(\"cuda\") gives the placement's DeviceMesh on\n",
        "torch >= 2.2 (and raises on older torch); the rest needs torch >= 1.13.\n",
    ));
    let _ = writeln!(
        s,
        "\nThe world has {} processes; process r is rank r of the placement.",
        spec.devices()
    );
    s.push_str("\"\"\"\n\nimport torch\nimport torch.distributed as dist\n\n");
    let _ = writeln!(s, "DEVICES = {}", spec.devices());
    let axes: Vec<String> = spec.axes.iter().map(|a| py_str(&a.name)).collect();
    let _ = writeln!(s, "AXES = {}", py_tuple(&axes));
    let sizes: Vec<String> = spec.axes.iter().map(|a| a.size.to_string()).collect();
    let _ = writeln!(s, "AXIS_SIZES = {}", py_tuple(&sizes));
    let _ = writeln!(
        s,
        "# MESH_RANKS[{}] = the global rank with those axis coordinates",
        spec.axes
            .iter()
            .map(|a| format!("c_{}", a.name))
            .collect::<Vec<_>>()
            .join("][")
    );
    let _ = writeln!(s, "MESH_RANKS = {}", mesh_ranks(spec, placement));
    s.push_str(
        "# GROUPS[name]: the program's steps as (collective, groups), each group ascending.\n",
    );
    s.push_str("GROUPS = {\n");
    for (u, n) in units.iter().zip(&names) {
        let _ = writeln!(s, "    {}: [", py_str(n));
        for st in &u.lowered.steps {
            let _ = writeln!(
                s,
                "        ({}, {}),",
                py_str(st.collective.name()),
                py_groups(&st.groups)
            );
        }
        s.push_str("    ],\n");
    }
    s.push_str("}\n");
    s.push_str("PROGRAMS = {\n");
    for (u, n) in units.iter().zip(&names) {
        let _ = writeln!(s, "    {}: {},", py_str(n), py_str(&program_text(spec, u)));
    }
    s.push_str("}\n");
    s.push_str("# The whole buffer's number of elements must be a multiple of ATOMS[name] x\n");
    s.push_str("# CHUNKS[name] (whole chunks of whole atoms; a sharded request's atoms make\n");
    s.push_str("# whole shards).\n");
    s.push_str("ATOMS = {\n");
    for (u, n) in units.iter().zip(&names) {
        let _ = writeln!(s, "    {}: {},", py_str(n), super::buffer_atoms(spec, u));
    }
    s.push_str("}\n");
    s.push_str("# Pipelined programs run on this many chunks at once (1: plain).\n");
    s.push_str("CHUNKS = {\n");
    for (u, n) in units.iter().zip(&names) {
        let _ = writeln!(s, "    {}: {},", py_str(n), u.chunks);
    }
    s.push_str("}\n");
    s.push_str("# The request's collective of each program.\n");
    s.push_str("PROGRAM_COLLECTIVE = {\n");
    for (u, n) in units.iter().zip(&names) {
        let _ = writeln!(
            s,
            "    {}: {},",
            py_str(n),
            py_str(&u.request.collective.to_string())
        );
    }
    s.push_str("}\n");
    s.push_str(
        "# The request's shard count of each program (1 for all_reduce); the shard number\n",
    );
    s.push_str("# of every rank (the mixed radix of its coordinates on the request's axes in\n");
    s.push_str("# the request's order, the first most significant).\n");
    s.push_str("SHARDS = {\n");
    for (u, n) in units.iter().zip(&names) {
        let _ = writeln!(s, "    {}: {},", py_str(n), super::shards(spec, u));
    }
    s.push_str("}\n");
    s.push_str("SHARD_OF = {\n");
    for (u, n) in units.iter().zip(&names) {
        let _ = writeln!(
            s,
            "    {}: {},",
            py_str(n),
            super::py_ints(&super::shard_numbers(spec, u))
        );
    }
    s.push_str("}\n");
    s.push_str("# Every rank's shard number as each program's steps number it (the order of its\n");
    s.push_str(
        "# layout(L): clause, docs/design.md section 3.7; else SHARD_OF), and its relayout:\n",
    );
    s.push_str("# None, or (blocks, perm), the block transpose of regions.relaid.\n");
    s.push_str("PROGRAM_SHARD_OF = {\n");
    for (u, n) in units.iter().zip(&names) {
        let _ = writeln!(
            s,
            "    {}: {},",
            py_str(n),
            super::py_ints(&super::program_shard_numbers(spec, u))
        );
    }
    s.push_str("}\n");
    s.push_str("RELAYOUT = {\n");
    for (u, n) in units.iter().zip(&names) {
        let _ = writeln!(s, "    {}: {},", py_str(n), super::py_relayout(u));
    }
    s.push_str("}\n");
    s.push_str("# The size of each program's reduction group (what \"average\" divides by).\n");
    s.push_str("REDUCTION_SIZE = {\n");
    for (u, n) in units.iter().zip(&names) {
        let size: u64 = u.request.axes.iter().map(|&a| spec.axes[a].size).product();
        let _ = writeln!(s, "    {}: {size},", py_str(n));
    }
    s.push_str("}\n");
    let default = units
        .iter()
        .zip(&names)
        .find(|(u, _)| u.request.collective == RequestKind::AllReduce)
        .map_or("None".to_string(), |(_, n)| py_str(n));
    s.push_str("# The program ddp_comm_hook runs when its state names none.\n");
    let _ = writeln!(s, "DEFAULT_PROGRAM = {default}");
    let first_of = |kind: RequestKind| {
        units
            .iter()
            .zip(&names)
            .find(|(u, _)| u.request.collective == kind)
            .map_or("None".to_string(), |(_, n)| py_str(n))
    };
    s.push_str("# The programs reduce_scatter_tensor and all_gather_into_tensor run by default.\n");
    let _ = writeln!(
        s,
        "DEFAULT_REDUCE_SCATTER = {}",
        first_of(RequestKind::ReduceScatter)
    );
    let _ = writeln!(
        s,
        "DEFAULT_ALL_GATHER = {}\n\n",
        first_of(RequestKind::AllGather)
    );
    for (u, n) in units.iter().zip(&names) {
        let _ = writeln!(s, "def {n}(tensor, async_op=False):");
        let _ = writeln!(
            s,
            "    \"\"\"{} on {}:\n\n        {}\n\n    It {}.\n    Returns the result; with async_op=True a torch.futures.Future of it (see run).\n    \"\"\"",
            spec.describe_request(&u.request),
            u.placement.dim_names(spec).join(", "),
            program_text(spec, u),
            super::interface_text(u)
        );
        let _ = writeln!(s, "    return run({}, tensor, async_op)\n\n", py_str(n));
    }
    s.push_str(super::REGIONS_PY);
    s.push_str("\n\n");
    s.push_str(RUNTIME_PY);
    Ok(s)
}

/// The nested list of global ranks indexed by axis coordinates (spec axis order).
fn mesh_ranks(spec: &Spec, placement: &Placement) -> String {
    fn rec(spec: &Spec, placement: &Placement, prefix: &mut Vec<u64>, out: &mut String) {
        let a = prefix.len();
        if a == spec.axes.len() {
            let _ = write!(out, "{}", placement.rank_of_coords(prefix));
            return;
        }
        out.push('[');
        for c in 0..spec.axes[a].size {
            if c > 0 {
                out.push_str(", ");
            }
            prefix.push(c);
            rec(spec, placement, prefix, out);
            prefix.pop();
        }
        out.push(']');
    }
    let mut out = String::new();
    rec(spec, placement, &mut Vec::new(), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{spec, unit};
    use super::super::EmitError;
    use super::*;

    #[test]
    fn snapshot_relayout() {
        let spec = spec();
        let units = super::super::fixture::relaid_units(&spec);
        insta::assert_snapshot!(render(&spec, &units).unwrap());
    }

    #[test]
    fn snapshot_sharded_requests() {
        let spec = spec();
        let units = super::super::fixture::sharded_units(&spec);
        insta::assert_snapshot!(render(&spec, &units).unwrap());
    }

    #[test]
    fn snapshot_reduce_scatter_all_gather() {
        let spec = spec();
        let u = unit(
            &spec,
            "all_reduce_data",
            vec![vec![2, 1], vec![1, 2]],
            "reduce_scatter(node:data) ; all_gather(node:data)",
        );
        insta::assert_snapshot!(render(&spec, &[u]).unwrap());
    }

    #[test]
    fn mesh_ranks_index_by_axis_coordinates() {
        let spec = spec();
        // node:model, gpu:data: rank = 2 model + data.
        let p = Placement::from_valid_matrix(vec![vec![1, 2], vec![2, 1]]);
        assert_eq!(mesh_ranks(&spec, &p), "[[0, 2], [1, 3]]");
        let p = Placement::from_valid_matrix(vec![vec![2, 1], vec![1, 2]]);
        assert_eq!(mesh_ranks(&spec, &p), "[[0, 1], [2, 3]]");
    }

    #[test]
    fn one_module_holds_one_placement() {
        let spec = spec();
        let a = unit(
            &spec,
            "a",
            vec![vec![2, 1], vec![1, 2]],
            "all_reduce(node:data)",
        );
        let b = unit(
            &spec,
            "b",
            vec![vec![1, 2], vec![2, 1]],
            "all_reduce(gpu:data)",
        );
        assert!(matches!(
            render(&spec, &[a, b]),
            Err(EmitError::MixedPlacements {
                first: 1,
                other: 0,
                ..
            })
        ));
    }
}
