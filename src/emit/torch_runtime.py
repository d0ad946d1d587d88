# ---------------------------------------------------------------- runtime
# The same in every torch module collsynth emits; the data above is what varies.

_GROUPS = None


def device_mesh(device_type="cuda"):
    """The DeviceMesh of this placement: one mesh dimension per axis (named as in
    the spec), built from the explicit rank tensor MESH_RANKS, so a mesh
    dimension's groups are exactly the devices that differ only on that axis."""
    from torch.distributed.device_mesh import DeviceMesh
    return DeviceMesh(device_type, torch.tensor(MESH_RANKS, dtype=torch.int),
                      mesh_dim_names=AXES)


def make_groups():
    """Creates every process group the programs use, once, in a fixed order.
    Every process must call this (new_group is collective over the world, for
    members and non-members alike); the functions below call it on first use."""
    global _GROUPS
    if _GROUPS is not None:
        return _GROUPS
    me = dist.get_rank()
    if dist.get_world_size() != DEVICES:
        raise RuntimeError("this module is for %d processes, but the world has %d"
                           % (DEVICES, dist.get_world_size()))
    made = {}
    for name in sorted(GROUPS):
        for _op, groups in GROUPS[name]:
            key = tuple(tuple(g) for g in groups)
            if key in made:
                continue
            mine = None
            for g in groups:  # ascending; new_group sorts its ranks anyway
                pg = dist.new_group(ranks=list(g))
                if me in g:
                    mine = pg
            made[key] = mine
    _GROUPS = made
    return made


# Whether the backend has reduce_scatter_tensor / all_gather_into_tensor; gloo's
# reduce_scatter is recent (and emulated there as all_reduce then chunk), older gloo
# builds raise, and then we fall back for good: all_reduce of the region, keeping
# our chunk (twice the bytes of a reduce_scatter), and all_gather into chunk views.
_NATIVE = {"reduce_scatter": True, "all_gather": True}
_UNSUPPORTED = (RuntimeError, NotImplementedError, AttributeError, ValueError)


def _reduce_scatter(buf, off, ln, pos, k, pg):
    region = buf[off:off + ln]
    c = ln // k
    if _NATIVE["reduce_scatter"]:
        out = torch.empty(c, dtype=buf.dtype, device=buf.device)
        try:
            dist.reduce_scatter_tensor(out, region, group=pg)
            buf[off + pos * c:off + (pos + 1) * c].copy_(out)
            return
        except _UNSUPPORTED:
            _NATIVE["reduce_scatter"] = False
    # all_reduce + chunk: our chunk of the summed region is already in place.
    dist.all_reduce(region, group=pg)


def _all_gather(buf, off, ln, pos, k, pg):
    start = off - pos * ln
    out = buf[start:start + k * ln]
    mine = buf[off:off + ln].clone()
    if _NATIVE["all_gather"]:
        try:
            dist.all_gather_into_tensor(out, mine, group=pg)
            return
        except _UNSUPPORTED:
            _NATIVE["all_gather"] = False
    dist.all_gather(list(out.chunk(k)), mine, group=pg)


def run(name, tensor):
    """Runs program `name` in place on `tensor` (contiguous, any shape, numel a
    multiple of ATOMS[name]); returns it. Every process of the world calls it."""
    steps = GROUPS[name]
    if not tensor.is_contiguous():
        raise ValueError("%s needs a contiguous tensor" % name)
    buf = tensor.view(-1)
    if buf.numel() % ATOMS[name]:
        raise ValueError("%s needs a tensor whose number of elements is a multiple of %d "
                         "(its reduce_scatter steps cut the buffer into that many "
                         "equal chunks), not %d" % (name, ATOMS[name], buf.numel()))
    made = make_groups()
    me = dist.get_rank()
    states, error = simulate(steps, DEVICES, buf.numel())
    if error is not None:
        raise ValueError("%s cannot run: %s" % (name, error))
    for si, ((op, groups), mine) in enumerate(zip(steps, groups_of(steps, me))):
        if mine is None:
            continue  # this rank idles in this step
        pos, group = mine
        pg = made[tuple(tuple(g) for g in groups)]
        off, ln, _ = states[si][me]
        if op == "all_reduce":
            dist.all_reduce(buf[off:off + ln], group=pg)
        elif op == "reduce_scatter":
            _reduce_scatter(buf, off, ln, pos, len(group), pg)
        elif op == "all_gather":
            _all_gather(buf, off, ln, pos, len(group), pg)
        elif op == "reduce":
            # dst is a global rank (group_dst, the rank inside the group, needs
            # torch >= 2.6; the group's first member is its root).
            dist.reduce(buf[off:off + ln], dst=group[0], group=pg)
        elif op == "broadcast":
            roff, rln, _ = states[si][group[0]]
            dist.broadcast(buf[roff:roff + rln], src=group[0], group=pg)
    return tensor
