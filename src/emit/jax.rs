//! The JAX target: a mesh with one axis per dim of the placement (in significance
//! order) and, per program, a body for `shard_map` written with `psum`,
//! `psum_scatter(tiled=True)` and `all_gather(tiled=True)`.
//!
//! Mesh axes are named after the spec's axes, so that they read like the model's own
//! `PartitionSpec`s: an axis that lives on one level is one mesh axis of its own name
//! (`data`); an axis spread over several levels is one mesh axis per level,
//! `axis_level` (`data_node`, `data_gpu`), outer level first, and the module's `AXES`
//! maps the axis to that tuple (`PartitionSpec(AXES["data"])` shards over it with the
//! axis coordinate's numbering: outer level most significant). Should those names
//! collide with another axis's, every mesh axis is named `level:axis` instead. The
//! module also builds `axis_mesh()`: the same devices with one mesh axis per spec axis,
//! indexed by axis coordinates, for a model that wants exactly `Mesh(..., ("data",
//! "model"))`.
//!
//! One mesh axis per dim makes every group of a dim-structured step a tuple of mesh
//! axes, which is all `shard_map` supports (`axis_index_groups` is not supported
//! there, jax-ml/jax issue 19709). A rank is the mixed-radix number of its dim
//! digits, so reshaping the device list in rank order to the dims' sizes puts device
//! r at its digits. JAX has no reduce or broadcast collective: reduce is a `psum`
//! (every member gets the sum; the program treats the non-roots' copy as invalid),
//! broadcast is a `psum` of the root's data and zeros elsewhere, and `@ roots(...)`
//! is a `jnp.where` that keeps the old data off the roots. The header says what that
//! costs. A reduce_scatter or all_gather with roots would change shapes on some
//! devices only, which SPMD code cannot write: such programs are refused.

use std::fmt::Write as _;

use super::{common_placement, header, program_text, py_ident, py_str, py_tuple, EmitError, Unit};
use crate::placement::Placement;
use crate::program::{Collective, DimRef, Text};
use crate::spec::{RequestKind, Spec};

/// The module for these programs (one placement; each unit's `name` becomes its
/// function's name).
pub fn render(spec: &Spec, units: &[Unit]) -> Result<String, EmitError> {
    let first = common_placement(units, "jax")?;
    let placement = &first.placement;
    let mut bodies = Vec::new();
    for u in units {
        bodies.push(body(spec, placement, u)?);
    }
    let names: Vec<String> = units.iter().map(|u| py_ident(&u.name)).collect();
    let mut s = header(spec, units, "jax");
    s.push('\n');
    s.push_str(DOC);
    for n in &names {
        let _ = writeln!(s, "    f = cs.{n}(mesh)          # jitted; call f(x)");
    }
    s.push_str("\"\"\"\n\n");
    s.push_str("import numpy as np\nimport jax\nimport jax.numpy as jnp\n");
    s.push_str("from jax.sharding import Mesh, PartitionSpec\n\n");
    s.push_str("try:\n    from jax import shard_map\nexcept ImportError:  # jax < 0.7\n");
    s.push_str("    from jax.experimental.shard_map import shard_map\n\n");
    let _ = writeln!(s, "DEVICES = {}", spec.devices());
    s.push_str("# One mesh axis per dim of the placement, in significance order.\n");
    let mesh_names = mesh_axis_names(spec, placement);
    let axes: Vec<String> = mesh_names.iter().map(|d| py_str(d)).collect();
    let _ = writeln!(s, "MESH_AXES = {}", py_tuple(&axes));
    let sizes: Vec<String> = placement.dims.iter().map(|d| d.size.to_string()).collect();
    let _ = writeln!(s, "MESH_SHAPE = {}", py_tuple(&sizes));
    s.push_str("# Every axis of the spec: its mesh axes, outer level (most significant) first.\n");
    s.push_str("AXES = {\n");
    for (a, axis) in spec.axes.iter().enumerate() {
        let of_axis: Vec<String> = placement
            .dims
            .iter()
            .zip(&mesh_names)
            .filter(|(d, _)| d.axis == a)
            .map(|(_, n)| py_str(n))
            .collect();
        let _ = writeln!(s, "    {}: {},", py_str(&axis.name), py_tuple(&of_axis));
    }
    s.push_str("}\n");
    let axis_names: Vec<String> = spec.axes.iter().map(|a| py_str(&a.name)).collect();
    let _ = writeln!(s, "AXIS_NAMES = {}", py_tuple(&axis_names));
    let axis_sizes: Vec<String> = spec.axes.iter().map(|a| a.size.to_string()).collect();
    let _ = writeln!(s, "AXIS_SHAPE = {}", py_tuple(&axis_sizes));
    s.push_str("PROGRAMS = {\n");
    for (u, n) in units.iter().zip(&names) {
        let _ = writeln!(s, "    {}: {},", py_str(n), py_str(&program_text(spec, u)));
    }
    s.push_str("}\n");
    s.push_str("# Pipelined programs run on this many chunks of the buffer (1: plain).\n");
    s.push_str("CHUNKS = {\n");
    for (u, n) in units.iter().zip(&names) {
        let _ = writeln!(s, "    {}: {},", py_str(n), u.chunks);
    }
    s.push_str("}\n");
    s.push_str(
        "# The whole buffer's length must be a multiple of ATOMS[name] x CHUNKS[name] (whole\n",
    );
    s.push_str("# chunks; a sharded request's atoms make whole shards).\n");
    s.push_str("ATOMS = {\n");
    for (u, n) in units.iter().zip(&names) {
        let _ = writeln!(s, "    {}: {},", py_str(n), super::buffer_atoms(spec, u));
    }
    s.push_str("}\n");
    s.push_str("# The request's shard count (1 for all_reduce) and every rank's shard number.\n");
    s.push_str("SHARDS = {\n");
    for (u, n) in units.iter().zip(&names) {
        let _ = writeln!(s, "    {}: {},", py_str(n), super::shards(spec, u));
    }
    s.push_str("}\nSHARD_OF = {\n");
    for (u, n) in units.iter().zip(&names) {
        let _ = writeln!(
            s,
            "    {}: {},",
            py_str(n),
            super::py_ints(&super::shard_numbers(spec, u))
        );
    }
    s.push_str("}\n\n\n");
    s.push_str(HELPERS);
    for ((u, n), b) in units.iter().zip(&names).zip(&bodies) {
        let _ = writeln!(s, "\n\ndef {n}_local(x):");
        let _ = writeln!(
            s,
            "    \"\"\"{} on {}.\n\n        {}\n\n    The body of shard_map: x is this device's 1-D buffer (of one chunk when\n    pipelined); it {}.\n    \"\"\"",
            spec.describe_request(&u.request),
            placement.dim_names(spec).join(", "),
            program_text(spec, u),
            super::interface_text(u)
        );
        s.push_str(b);
        s.push_str("    return x\n\n\n");
        let _ = writeln!(s, "def {n}(mesh):");
        let shape = match u.request.collective {
            RequestKind::ReduceScatter => "a ({devices}, L) array whose row r is rank r's whole buffer\n    (L a multiple of ATOMS[{key}] x CHUNKS[{key}]) to a ({devices}, L / SHARDS[{key}]) one, row r\n    holding rank r's shard (shard number SHARD_OF[{key}][r]) of the sum",
            RequestKind::AllGather => "a ({devices}, S) array whose row r is rank r's shard (S x SHARDS[{key}]\n    a multiple of ATOMS[{key}] x CHUNKS[{key}]) to a ({devices}, S x SHARDS[{key}]) one, row r\n    holding the whole buffer, chunk j from the member whose shard number is j",
            _ => "a ({devices}, L) array whose row r is rank r's buffer\n    (L a multiple of ATOMS[{key}] x CHUNKS[{key}]) to the same shape, row r holding rank r's result",
        }
        .replace("{devices}", &spec.devices().to_string())
        .replace("{key}", &py_str(n));
        let _ = writeln!(s, "    \"\"\"A jitted function from {shape}.\"\"\"");
        let _ = writeln!(
            s,
            "    return _sharded(mesh, {n}_local, CHUNKS[{k}], {kind}, SHARDS[{k}])",
            k = py_str(n),
            kind = py_str(&u.request.collective.to_string())
        );
    }
    Ok(s)
}

/// The mesh axis of every dim (in dim order): the axis's name when the axis lives on
/// one level, `axis_level` when it spans several; `level:axis` for every dim should
/// those names not be distinct.
pub fn mesh_axis_names(spec: &Spec, placement: &Placement) -> Vec<String> {
    let spans = |axis: usize| placement.dims.iter().filter(|d| d.axis == axis).count();
    let short: Vec<String> = placement
        .dims
        .iter()
        .map(|d| {
            let axis = &spec.axes[d.axis].name;
            if spans(d.axis) == 1 {
                axis.clone()
            } else {
                format!("{axis}_{}", spec.system.levels[d.level].name)
            }
        })
        .collect();
    let distinct = short
        .iter()
        .collect::<std::collections::BTreeSet<_>>()
        .len()
        == short.len();
    if distinct {
        short
    } else {
        placement.dim_names(spec)
    }
}

/// The Python tuple of the mesh axes of `dims`.
fn axis_tuple(placement: &Placement, mesh_names: &[String], dims: &[DimRef]) -> String {
    let names: Vec<String> = dims
        .iter()
        .map(|d| {
            let i = placement
                .dim_index(d.level, d.axis)
                .expect("the program fits the placement");
            py_str(&mesh_names[i])
        })
        .collect();
    py_tuple(&names)
}

/// `layout(gpu:data, node:data)`, for comments.
fn layout_text(spec: &Spec, layout: &[DimRef]) -> String {
    let dims: Vec<String> = layout.iter().map(|d| d.name(spec)).collect();
    format!("layout({})", dims.join(", "))
}

/// The statements of one program's body, indented for a function.
fn body(spec: &Spec, placement: &Placement, u: &Unit) -> Result<String, EmitError> {
    let program = u
        .program
        .as_ref()
        .filter(|p| p.fits(placement))
        .ok_or_else(|| EmitError::NotDimStructured {
            target: "jax",
            name: u.name.clone(),
        })?;
    let mesh_names = mesh_axis_names(spec, placement);
    let mut b = String::new();
    // A reduce_scatter request returns the shard: track where this device's region
    // starts (`off`, in elements), which differs between devices, to cut it out.
    let track = u.request.collective == RequestKind::ReduceScatter;
    let relayout = super::py_relayout(u);
    let relaid = super::relayout(u).is_some();
    if relaid && track {
        let _ = writeln!(
            b,
            "    # {}: permute the blocks of the whole buffer into the layout's numbering.",
            layout_text(spec, &program.layout)
        );
        let _ = writeln!(b, "    x = _relaid(x, {relayout})");
    }
    if track {
        b.push_str("    whole, off = x.shape[0], 0  # this device's region starts at off\n");
    }
    for (i, st) in program.steps.iter().enumerate() {
        let d = axis_tuple(placement, &mesh_names, &st.dims);
        let roots = (!st.roots.is_empty()).then(|| axis_tuple(placement, &mesh_names, &st.roots));
        let _ = writeln!(b, "    # step {}: {}", i + 1, Text(spec, st));
        let new = match st.op {
            Collective::AllReduce => format!("jax.lax.psum(x, {d})"),
            Collective::Reduce => {
                b.push_str("    # reduce as psum: every member gets the sum; only the root's copy counts.\n");
                format!("jax.lax.psum(x, {d})")
            }
            Collective::Broadcast => {
                b.push_str("    # broadcast as psum of the root's data (digits 0 on the dims) and zeros.\n");
                format!("jax.lax.psum(jnp.where(_zero_on({d}), x, jnp.zeros_like(x)), {d})")
            }
            Collective::ReduceScatter | Collective::AllGather if roots.is_some() => {
                return Err(EmitError::RootedShapeChange {
                    name: u.name.clone(),
                    step: i + 1,
                    op: st.op,
                })
            }
            Collective::ReduceScatter => {
                format!("jax.lax.psum_scatter(x, {d}, scatter_dimension=0, tiled=True)")
            }
            Collective::AllGather => format!("jax.lax.all_gather(x, {d}, axis=0, tiled=True)"),
        };
        if track && st.op == Collective::AllGather {
            let _ = writeln!(b, "    off = off - _index({d}) * x.shape[0]");
        }
        match roots {
            None => {
                let _ = writeln!(b, "    x = {new}");
            }
            Some(r) => {
                let _ = writeln!(
                    b,
                    "    # @ roots: every device computes it; off the roots the old data is kept."
                );
                let _ = writeln!(b, "    x = jnp.where(_zero_on({r}), {new}, x)");
            }
        }
        if track && st.op == Collective::ReduceScatter {
            let _ = writeln!(b, "    off = off + _index({d}) * x.shape[0]");
        }
        if track && st.op == Collective::Broadcast && st.roots.is_empty() {
            // Members take the root's whole state, its region too.
            let _ = writeln!(
                b,
                "    off = jax.lax.psum(jnp.where(_zero_on({d}), off, 0), {d})"
            );
        }
    }
    if track && relaid {
        // The steps leave the shard at its number in the layout's order: the mixed
        // radix of the device's digits on the layout's mesh axes, in that order.
        let _ = writeln!(
            b,
            "    # this device's shard: at its number in the layout's order ({})",
            layout_text(spec, &program.layout)
        );
        let _ = writeln!(b, "    size = whole // {}", super::shards(spec, u));
        let _ = writeln!(
            b,
            "    x = jax.lax.dynamic_slice(x, (_index({}) * size - off,), (size,))",
            axis_tuple(placement, &mesh_names, &program.layout)
        );
    } else if track {
        let axes: Vec<String> = u
            .request
            .axes
            .iter()
            .map(|&a| py_str(&spec.axes[a].name))
            .collect();
        let _ = writeln!(
            b,
            "    # this device's shard: shard number = mixed radix of its coordinates on {}",
            u.request
                .axes
                .iter()
                .map(|&a| spec.axes[a].name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        let _ = writeln!(b, "    size = whole // {}", super::shards(spec, u));
        let _ = writeln!(
            b,
            "    x = jax.lax.dynamic_slice(x, (_shard_number({}) * size - off,), (size,))",
            py_tuple(&axes)
        );
    }
    if relaid && u.request.collective == RequestKind::AllGather {
        let _ = writeln!(
            b,
            "    # {}: the steps gathered in the layout's numbering; permute the blocks back.",
            layout_text(spec, &program.layout)
        );
        let _ = writeln!(b, "    x = _relaid(x, {relayout}, inverse=True)");
    }
    Ok(b)
}

const DOC: &str = r#""""Collectives collsynth synthesized, for JAX (shard_map over a device mesh).

How the five collectives are written, and what that costs (k = group size, M =
bytes per device of the step's region):
- all_reduce(D):     jax.lax.psum(x, D)                                  as asked.
- reduce_scatter(D): jax.lax.psum_scatter(x, D, tiled=True)              as asked;
                     member i (mixed radix of its digits on D) gets chunk i.
- all_gather(D):     jax.lax.all_gather(x, D, tiled=True)                as asked.
- reduce(D):         jax.lax.psum(x, D): JAX has no reduce; every member receives the
                     sum and the program treats only the root's copy as valid. Costs an
                     all-reduce, about 2(k-1)/k * M per device instead of (k-1)/k * M.
- broadcast(D):      psum of the root's data and zeros elsewhere (the root is the
                     member with digits 0 on D). Costs an all-reduce, about
                     2(k-1)/k * M per device instead of about M for a pipelined
                     broadcast, plus the additions.
- @ roots(R):        every device runs the step (shard_map is SPMD); jnp.where keeps
                     the old data on devices whose digits on R are not all 0, so the
                     idle groups' traffic is spent for nothing on their links.

Mesh axes are named after the spec's axes: an axis on one level is the mesh axis of
its name; an axis over several levels is one mesh axis per level ("data_node",
"data_gpu", outer first), and AXES["data"] is that tuple. A shard's number on an axis
is its coordinate, outer level most significant, so for the model's arrays

    mesh = cs.make_mesh()
    PartitionSpec(cs.AXES["data"])        # shard c of the batch on data coordinate c

agrees with the programs' groups. A model that wants one mesh axis per spec axis
(Mesh(..., ("data", "model"))) can use cs.axis_mesh(): the same devices, device
[c_data, c_model] being the one with those coordinates; arrays sharded on it with
PartitionSpec("data") put shard c on the same device as above, so moving a buffer
between the two meshes moves no data.

Use (set XLA_FLAGS=--xla_force_host_platform_device_count=N to try it on a CPU):

    import this_module as cs
    mesh = cs.make_mesh()                 # the first DEVICES devices, in rank order
"#;

const HELPERS: &str = r#"def make_mesh(devices=None):
    """The mesh of this placement: a rank is the mixed-radix number of its digits on
    the dims (most significant first), so the device list in rank order, reshaped to
    MESH_SHAPE, puts rank r at its digits. Device r of the list is rank r."""
    devices = jax.devices() if devices is None else list(devices)
    if len(devices) < DEVICES:
        raise ValueError("the placement needs %d devices, but there are %d"
                         % (DEVICES, len(devices)))
    return Mesh(np.asarray(devices[:DEVICES], dtype=object).reshape(MESH_SHAPE), MESH_AXES)


def axis_mesh(devices=None):
    """The same devices with one mesh axis per spec axis (AXIS_NAMES, AXIS_SHAPE):
    device [c_0, c_1, ...] is the one whose coordinate on axis i is c_i (an axis's
    coordinate is the mixed radix of its mesh axes in AXES, outer level first)."""
    grid = make_mesh(devices).devices
    order = [MESH_AXES.index(m) for a in AXIS_NAMES for m in AXES[a]]
    return Mesh(np.transpose(grid, order).reshape(AXIS_SHAPE), AXIS_NAMES)


def _zero_on(axes):
    """True on the devices whose digits on every mesh axis in `axes` are 0."""
    ok = jnp.bool_(True)
    for a in axes:
        ok = jnp.logical_and(ok, jax.lax.axis_index(a) == 0)
    return ok


def _index(axes):
    """This device's index in a group over the mesh axes `axes`: the mixed radix of
    its digits on them, the first most significant (member order of the steps)."""
    i = 0
    for a in axes:
        i = i * MESH_SHAPE[MESH_AXES.index(a)] + jax.lax.axis_index(a)
    return i


def _shard_number(axes):
    """This device's shard number for a request over the spec axes `axes`: the
    mixed radix of its coordinates on them, the first most significant (an axis's
    coordinate is the mixed radix of its mesh axes, AXES[axis], outer first)."""
    c = 0
    for a in axes:
        c = c * AXIS_SHAPE[AXIS_NAMES.index(a)] + _index(AXES[a])
    return c


def _relaid(x, relayout, inverse=False):
    """A layout(L): program's local relayout of the 1-D buffer x (docs/design.md,
    section 3.7): relayout = (blocks, perm); x is reshaped to blocks + [rest] (the
    request's dims in the request's order), its first axes are put in the order
    perm (the layout's dims) and it is flattened, moving the block numbered j in
    the request's order to its number in the layout's; inverse=True moves back."""
    blocks, perm = relayout
    n = len(perm)
    if inverse:
        shape = [blocks[p] for p in perm] + [-1]
        axes = [list(perm).index(k) for k in range(n)] + [n]
    else:
        shape = list(blocks) + [-1]
        axes = list(perm) + [n]
    return jnp.transpose(x.reshape(shape), axes).reshape(-1)


def _sharded(mesh, local, chunks=1, collective="all_reduce", shards=1):
    """shard_map of `local` over the mesh, each device's row its input (the whole
    buffer; for all_gather its shard). With chunks > 1 every shard is cut into that
    many parts, chunk k being the k-th part of every shard (contiguous chunks for
    all_reduce), and every chunk runs the program: XLA may overlap one chunk's
    collectives with another's (its scheduler decides; nothing here forces it, and
    on CPU it does not), and the result is the same either way."""
    spec = PartitionSpec(MESH_AXES)

    def body(x):
        x = x.reshape(-1)
        if chunks == 1:
            return local(x).reshape(1, -1)
        if collective == "all_gather":
            # x is this device's shard: part k of it is its shard of chunk k.
            parts = jnp.stack([local(c) for c in jnp.split(x, chunks)])
            return parts.reshape(chunks, shards, -1).transpose(1, 0, 2).reshape(1, -1)
        packed = x.reshape(shards, chunks, -1)
        parts = [local(packed[:, k, :].reshape(-1)) for k in range(chunks)]
        return jnp.concatenate(parts).reshape(1, -1)

    return jax.jit(shard_map(body, mesh=mesh, in_specs=spec, out_specs=spec))
"#;

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
    fn snapshot_rooted_reduce_broadcast() {
        let spec = spec();
        let u = unit(
            &spec,
            "all_reduce_data",
            vec![vec![2, 1], vec![1, 2]],
            "reduce(node:data) ; all_reduce(gpu:model) @ roots(node:data) ; broadcast(node:data)",
        );
        insta::assert_snapshot!(render(&spec, &[u]).unwrap());
    }

    #[test]
    fn mesh_axes_are_named_after_the_spec_axes() {
        let spec = spec();
        // data = 4 over node and gpu, model = 1: two mesh axes for data.
        let p = Placement::from_valid_matrix(vec![vec![2, 2], vec![1, 1]]);
        assert_eq!(mesh_axis_names(&spec, &p), ["data_node", "data_gpu"]);
        // One level each: the axis names themselves.
        let p = Placement::from_valid_matrix(vec![vec![2, 1], vec![1, 2]]);
        assert_eq!(mesh_axis_names(&spec, &p), ["data", "model"]);
        // `data_node` is also an axis name: every mesh axis falls back to level:axis.
        // (Naming looks at names and levels only; the matrix need not fit the spec.)
        let mut clash = spec.clone();
        clash.axes[1].name = "data_node".into();
        let p = Placement::from_valid_matrix(vec![vec![2, 2], vec![2, 1]]);
        assert_eq!(
            mesh_axis_names(&clash, &p),
            ["node:data", "node:data_node", "gpu:data"]
        );
    }

    #[test]
    fn rooted_reduce_scatter_is_refused() {
        let spec = spec();
        let u = unit(
            &spec,
            "x",
            vec![vec![2, 1], vec![1, 2]],
            "reduce(node:data) ; reduce_scatter(gpu:model) @ roots(node:data)",
        );
        assert_eq!(
            render(&spec, &[u]),
            Err(EmitError::RootedShapeChange {
                name: "x".into(),
                step: 2,
                op: Collective::ReduceScatter
            })
        );
    }

    #[test]
    fn explicit_groups_without_group_form_are_refused() {
        let spec = spec();
        let mut u = unit(
            &spec,
            "x",
            vec![vec![2, 1], vec![1, 2]],
            "all_reduce(node:data)",
        );
        u.program = None;
        u.lowered.steps[0].groups = vec![vec![0, 3], vec![1, 2]];
        assert!(matches!(
            render(&spec, &[u]),
            Err(EmitError::NotDimStructured { .. })
        ));
    }
}
