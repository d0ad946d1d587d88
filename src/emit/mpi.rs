//! The mpi4py target: one script for `mpirun -np N python3 script.py` that holds one
//! or more programs as explicit groups.
//!
//! The script builds one communicator per distinct set of groups with `Comm.Split`
//! (color = the group, `MPI.UNDEFINED` for idle ranks, key = rank, so members are
//! ordered by rank), tracks every rank's region (offset, length, validity) as
//! the semantics of docs/design.md does, and runs the steps with `Allreduce`,
//! `Reduce_scatter_block`, `Allgather`, `Reduce` and `Bcast` on numpy buffers.
//! `run(name, data)` runs a program from Python (every rank calls it): an all_reduce
//! sums `data` in place; a reduce_scatter takes the rank's whole buffer and returns
//! its shard (`len / G`, shard number as docs/design.md §3.3.1 numbers it); an
//! all_gather takes the rank's shard and returns the whole buffer. Its plan
//! (communicators, regions, positions) is made once per program and length.
//! `--check` (the default) fills int64 buffers from a seed and compares every rank's
//! result with what the request asks for (the sum over its reduction group, of its
//! shard for reduce_scatter; the group's shards in shard order for all_gather),
//! computed independently of the program; `--bytes B --iters K` times each step (barrier, `MPI.Wtime`, slowest
//! rank). Several programs in one script share one `mpirun` start-up, which is what
//! the end-to-end tests use.
//!
//! A pipelined program (`chunks` > 1) runs every chunk of the buffer (for a sharded
//! request the `k`-th `1/C` of every shard, packed into one contiguous chunk) through the
//! steps with MPI-3 nonblocking collectives (`Iallreduce`, `Ireduce_scatter_block`,
//! `Iallgather`, `Ireduce`, `Ibcast`), one duplicated communicator per step so that
//! the steps of different chunks are separate collectives in flight at once; a chunk
//! waits for its previous step before it starts the next, in wavefront order.

use std::fmt::Write as _;

use super::{header, program_text, py_groups, py_ints, py_str, py_strs, step_texts, Unit};
use crate::spec::Spec;

const RUNTIME_PY: &str = include_str!("mpi_runtime.py");

/// The script for these programs (all on the spec's devices; placements may differ).
pub fn render(spec: &Spec, units: &[Unit]) -> Result<String, super::EmitError> {
    if units.is_empty() {
        return Err(super::EmitError::Empty);
    }
    let devices = spec.devices();
    let mut s = String::new();
    s.push_str("#!/usr/bin/env python3\n");
    s.push_str(&header(spec, units, "mpi4py"));
    let _ = writeln!(s, "#");
    let _ = writeln!(
        s,
        "# Run:   mpirun -np {devices} python3 THIS_FILE            # checks the sums"
    );
    let _ = writeln!(
        s,
        "#        mpirun -np {devices} python3 THIS_FILE --bytes 4MB --iters 10   # times each step"
    );
    let _ = writeln!(
        s,
        "# As root on one machine add --allow-run-as-root --oversubscribe (Open MPI)."
    );
    s.push_str("\nimport argparse\nimport sys\n\nimport numpy as np\nfrom mpi4py import MPI\n\n");
    s.push_str("WORLD = MPI.COMM_WORLD\n\n");
    let _ = writeln!(s, "DEVICES = {devices}");
    let axes: Vec<String> = spec.axes.iter().map(|a| a.name.clone()).collect();
    let _ = writeln!(s, "AXES = {}", py_strs(&axes));
    s.push_str("\n# Each program: its steps as (collective, groups), every group ascending;\n");
    s.push_str("# `reduction_groups` is what --check sums over (devices that agree on every\n");
    s.push_str(
        "# axis the request does not name), `atoms` what the whole buffer's length (of one\n",
    );
    s.push_str("# pipelined chunk) must divide by; `collective` the request's, cutting the\n");
    s.push_str("# buffer into `shards` shards, rank r's being shard_of[r]; `program_shard_of`\n");
    s.push_str("# numbers them as the steps do and `relayout` (None, or (blocks, perm)) is a\n");
    s.push_str(
        "# layout(L): program's block transpose (docs/design.md, section 3.7). run(name, data):\n",
    );
    s.push_str("# all_reduce sums data in place and returns it; reduce_scatter takes the whole\n");
    s.push_str("# buffer and returns this rank's shard; all_gather takes this rank's shard and\n");
    s.push_str("# returns the whole buffer.\n");
    s.push_str("PROGRAMS = [\n");
    for u in units {
        write_program(&mut s, spec, u);
    }
    s.push_str("]\n\n\n");
    s.push_str(super::REGIONS_PY);
    s.push_str("\n\n");
    s.push_str(RUNTIME_PY);
    Ok(s)
}

fn write_program(s: &mut String, spec: &Spec, u: &Unit) {
    let _ = writeln!(s, "    {{");
    let _ = writeln!(s, "        \"name\": {},", py_str(&u.name));
    let _ = writeln!(s, "        \"placement\": {},", u.placement_index);
    let _ = writeln!(
        s,
        "        \"matrix\": {},",
        py_str(&u.placement.matrix_text())
    );
    let _ = writeln!(
        s,
        "        \"request\": {},",
        py_str(&spec.describe_request(&u.request))
    );
    let _ = writeln!(s, "        \"text\": {},", py_str(&program_text(spec, u)));
    let _ = writeln!(
        s,
        "        \"step_texts\": {},",
        py_strs(&step_texts(spec, u))
    );
    let _ = writeln!(
        s,
        "        \"collective\": {},",
        py_str(&u.request.collective.to_string())
    );
    let _ = writeln!(s, "        \"atoms\": {},", super::buffer_atoms(spec, u));
    let _ = writeln!(s, "        \"shards\": {},", super::shards(spec, u));
    let _ = writeln!(
        s,
        "        \"shard_of\": {},",
        py_ints(&super::shard_numbers(spec, u))
    );
    let _ = writeln!(
        s,
        "        \"program_shard_of\": {},",
        py_ints(&super::program_shard_numbers(spec, u))
    );
    let _ = writeln!(s, "        \"relayout\": {},", super::py_relayout(u));
    let _ = writeln!(s, "        \"chunks\": {},", u.chunks);
    let _ = writeln!(
        s,
        "        \"reduction_groups\": {},",
        py_groups(&super::reduction_groups(&u.placement, &u.request.axes))
    );
    let coords: Vec<Vec<u64>> = (0..u.placement.devices())
        .map(|r| u.placement.coords(r))
        .collect();
    let _ = writeln!(s, "        \"coords\": {},", py_groups(&coords));
    let _ = writeln!(s, "        \"steps\": [");
    for st in &u.lowered.steps {
        let _ = writeln!(
            s,
            "            ({}, {}),",
            py_str(st.collective.name()),
            py_groups(&st.groups)
        );
    }
    let _ = writeln!(s, "        ],");
    let _ = writeln!(s, "    }},");
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{spec, unit};
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
    fn snapshot_reduce_broadcast() {
        let spec = spec();
        let u = unit(
            &spec,
            "all_reduce_data",
            vec![vec![2, 1], vec![1, 2]],
            "reduce(node:data) ; broadcast(node:data)",
        );
        let text = render(&spec, &[u]).unwrap();
        insta::assert_snapshot!(text);
    }

    #[test]
    fn several_programs_share_one_script() {
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
        let text = render(&spec, &[a, b]).unwrap();
        assert!(text.contains("\"name\": \"a\""));
        assert!(
            text.contains("(\"all_reduce\", [[0, 2], [1, 3]]),"),
            "{text}"
        );
        assert!(
            text.contains("(\"all_reduce\", [[0, 1], [2, 3]]),"),
            "{text}"
        );
        assert_eq!(render(&spec, &[]), Err(super::super::EmitError::Empty));
    }
}
