# ---------------------------------------------------------------- runtime
# The same in every torch module collsynth emits; the data above is what varies.
#
# First use of a program computes this rank's plan once: for every step it takes
# part in, the process group handle, its region (offset and length in atoms, scaled
# to elements once per tensor size) and its position; a call then runs only the
# collectives on slices of the flattened tensor.

import re as _re
import warnings as _warnings

_GROUPS = None
_PLANS = {}    # name -> this rank's steps, regions in atoms
_SCALED = {}   # (name, numel) -> this rank's steps, regions in elements
_WARNED = set()


def _torch_version():
    m = _re.match(r"(\d+)\.(\d+)", torch.__version__)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def device_mesh(device_type="cuda"):
    """The DeviceMesh of this placement: one mesh dimension per axis (named as in
    the spec), built from the explicit rank tensor MESH_RANKS, so a mesh
    dimension's groups are exactly the devices that differ only on that axis.

    Needs torch >= 2.2 (torch.distributed.device_mesh with mesh_dim_names); on an
    older torch it raises RuntimeError: use MESH_RANKS, or the programs below,
    which need only torch.distributed (torch >= 1.13)."""
    if _torch_version() < (2, 2):
        raise RuntimeError(
            "device_mesh() needs torch >= 2.2 (torch.distributed.device_mesh with "
            "mesh_dim_names); this is torch %s. The programs of this module do not "
            "need it; MESH_RANKS holds the rank grid." % torch.__version__)
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
        for si, (_op, groups) in enumerate(GROUPS[name]):
            key = _group_key(name, si, groups)
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


def _group_key(name, si, groups):
    """Plain programs share a process group between equal groups; a pipelined
    program's step si gets its own (shared only with step si of other pipelined
    programs, which never run at the same time), so its steps are separate
    streams of collectives."""
    key = tuple(tuple(g) for g in groups)
    return ("step", si, key) if CHUNKS[name] > 1 else key


def plan(name):
    """This rank's steps of program `name`, computed once (the first call makes the
    process groups, so every process must reach it): a list of (op, group handle,
    offset, length, position, group size, root rank, root offset, root length),
    regions in atoms (ATOMS[name] atoms make the buffer, or one chunk of a
    pipelined program), each with its step index first; steps where this rank idles
    are left out."""
    p = _PLANS.get(name)
    if p is not None:
        return p
    made = make_groups()
    me = dist.get_rank()
    steps = GROUPS[name]
    start = start_regions(PROGRAM_COLLECTIVE[name], SHARDS[name], PROGRAM_SHARD_OF[name],
                          ATOMS[name])
    states, error = simulate(steps, DEVICES, ATOMS[name], start)
    if error is not None:
        raise ValueError("%s cannot run: %s" % (name, error))
    p = []
    for si, ((op, groups), mine) in enumerate(zip(steps, groups_of(steps, me))):
        if mine is None:
            continue  # this rank idles in this step
        pos, group = mine
        off, ln, _ = states[si][me]
        roff, rln, _ = states[si][group[0]]
        p.append((si, op, made[_group_key(name, si, groups)], off, ln, pos, len(group),
                  group[0], roff, rln))
    _PLANS[name] = p
    return p


def _scaled(name, numel):
    key = (name, numel)
    s = _SCALED.get(key)
    if s is None:
        f = numel // (ATOMS[name] * CHUNKS[name])  # elements per atom of a chunk
        s = [(si, op, pg, off * f, ln * f, pos, k, root, roff * f, rln * f)
             for si, op, pg, off, ln, pos, k, root, roff, rln in plan(name)]
        _SCALED[key] = s
    return s


def _warn_once(what, message):
    if what not in _WARNED:
        _WARNED.add(what)
        _warnings.warn("collsynth: " + message, RuntimeWarning, stacklevel=4)


# Whether the backend has reduce_scatter_tensor / all_gather_into_tensor. gloo has
# neither in torch 1.13 (it raises), and then we fall back for good, saying so once:
# all_reduce of a copy of the region, keeping our chunk (twice the bytes of a
# reduce_scatter), and all_gather into chunk views.
_NATIVE = {"reduce_scatter": hasattr(dist, "reduce_scatter_tensor"),
           "all_gather": hasattr(dist, "all_gather_into_tensor")}
_UNSUPPORTED = (RuntimeError, NotImplementedError, AttributeError, ValueError)


def _fallback(what, backend_call):
    _NATIVE[what] = False
    _warn_once(what, "the %s backend has no %s; %s" % (
        dist.get_backend(), backend_call,
        "reduce_scatter steps run as all_reduce of the region, keeping this rank's "
        "chunk (twice the bytes)" if what == "reduce_scatter"
        else "all_gather steps run as all_gather into chunk views"))


def _step(buf, st, a):
    """Launches one step (asynchronously if `a`); returns (work, after): what to wait
    for and what to run once it is done (or None)."""
    _si, op, pg, off, ln, pos, k, root, roff, rln = st
    if op == "all_reduce":
        return dist.all_reduce(buf[off:off + ln], group=pg, async_op=a), None
    if op == "reduce_scatter":
        region = buf[off:off + ln]
        c = ln // k
        if _NATIVE["reduce_scatter"]:
            out = torch.empty(c, dtype=buf.dtype, device=buf.device)
            try:
                w = dist.reduce_scatter_tensor(out, region, group=pg, async_op=a)
                return w, lambda: buf[off + pos * c:off + (pos + 1) * c].copy_(out)
            except _UNSUPPORTED:
                _fallback("reduce_scatter", "reduce_scatter_tensor")
        # all_reduce of a copy, keeping our chunk: the rest of the region keeps what
        # it held, as after a real reduce_scatter, so a program that reads it wrongly
        # computes the same wrong numbers here as on NCCL.
        tmp = region.clone()
        w = dist.all_reduce(tmp, group=pg, async_op=a)
        return w, lambda: buf[off + pos * c:off + (pos + 1) * c].copy_(
            tmp[pos * c:(pos + 1) * c])
    if op == "all_gather":
        start = off - pos * ln
        out = buf[start:start + k * ln]
        mine = buf[off:off + ln].clone()
        if _NATIVE["all_gather"]:
            try:
                return dist.all_gather_into_tensor(out, mine, group=pg, async_op=a), None
            except _UNSUPPORTED:
                _fallback("all_gather", "all_gather_into_tensor")
        return dist.all_gather(list(out.chunk(k)), mine, group=pg, async_op=a), None
    if op == "reduce":
        # dst is a global rank (group_dst, the rank inside the group, needs
        # torch >= 2.6; the group's first member is its root).
        return dist.reduce(buf[off:off + ln], dst=root, group=pg, async_op=a), None
    if op == "broadcast":
        return dist.broadcast(buf[roff:roff + rln], src=root, group=pg, async_op=a), None
    raise ValueError("unknown collective %r" % op)


def _flat(name, tensor):
    if not tensor.is_contiguous():
        raise ValueError("%s needs a contiguous tensor" % name)
    buf = tensor.view(-1)
    unit = ATOMS[name] * CHUNKS[name]
    if buf.numel() % unit:
        raise ValueError("%s needs a tensor whose number of elements is a multiple of %d "
                         "(%d pipelined chunks of %d atoms: its reduce_scatter steps cut "
                         "each chunk into that many equal parts), not %d"
                         % (name, unit, CHUNKS[name], ATOMS[name], buf.numel()))
    return buf


def _pipelined(name, buf, steps):
    """Runs a pipelined program's chunks through its steps: window w launches step
    s of chunk w - s (asynchronously, on that step's own process group) once the
    chunk's previous step is done; every rank launches in the same order. A
    relayout (RELAYOUT) is one more stage, per chunk: chunk k's blocks are permuted
    as it is packed, before its first step (reduce_scatter: `buf` enters in the
    request's numbering), or once its last step is done (all_gather: `buf` leaves
    in the request's numbering), while other chunks' steps are in flight."""
    chunks, shards = CHUNKS[name], SHARDS[name]
    relayout, kind = RELAYOUT[name], PROGRAM_COLLECTIVE[name]
    before = relayout is not None and kind == "reduce_scatter"
    after = relayout is not None and kind == "all_gather"
    packed = None
    if shards == 1:
        views = buf.view(chunks, -1)
    else:
        # Chunk k is the k-th 1/chunks of every shard, packed contiguous.
        parts = buf.view(shards, chunks, -1)
        if before:
            packed = torch.empty((chunks, shards, parts.shape[2]), dtype=buf.dtype,
                                 device=buf.device)
        else:
            packed = parts.transpose(0, 1).contiguous()
        views = packed.view(chunks, -1)
    mine = {st[0]: st for st in steps}
    pending = {}

    def wait(k):
        started = pending.pop(k, None)
        if started is not None:
            started[0].wait()
            if started[1] is not None:
                started[1]()

    total = len(GROUPS[name])
    lead = 1 if before else 0
    stages = lead + total + (1 if after else 0)
    for w in range(chunks + stages - 1):
        for st in range(stages):
            k, si = w - st, st - lead
            if not 0 <= k < chunks:
                continue
            if before and st == 0:
                views[k].copy_(relaid(parts[:, k, :].reshape(-1), relayout))
            elif after and si == total:
                wait(k)
                views[k].copy_(relaid(views[k].clone(), relayout, inverse=True))
            elif si in mine:
                wait(k)
                pending[k] = _step(views[k], mine[si], True)
    for k in range(chunks):
        wait(k)
    if packed is not None:
        buf.view(shards, chunks, -1).copy_(packed.transpose(0, 1))


def _done(value):
    f = torch.futures.Future()
    f.set_result(value)
    return f


def run(name, tensor, async_op=False):
    """Runs program `name` on `tensor` (contiguous, any shape); every process of the
    world calls it. By the program's request (PROGRAM_COLLECTIVE[name]):

      all_reduce:     in place; returns `tensor`, the sum over the reduction group.
      reduce_scatter: `tensor` is this rank's whole buffer (left unchanged; the
                      program runs on a copy); returns its shard, a 1-D tensor of
                      numel / SHARDS[name] elements, shard SHARD_OF[name][rank].
      all_gather:     `tensor` is this rank's shard; returns the whole buffer, a
                      1-D tensor of numel x SHARDS[name] elements, chunk j from the
                      member whose shard number is j.

    The whole buffer's numel must be a multiple of ATOMS[name] x CHUNKS[name].
    With async_op=True it returns a torch.futures.Future of the result, complete
    when the last step is. The steps before the last are waited for in turn (a step
    reads what the previous one wrote; on NCCL that wait orders the streams and does
    not block the host), so every rank launches the collectives of successive calls
    in the same order."""
    kind = PROGRAM_COLLECTIVE[name]
    if kind == "all_reduce":
        return _execute(name, _flat(name, tensor), async_op, lambda: tensor)
    if not tensor.is_contiguous():
        raise ValueError("%s needs a contiguous tensor" % name)
    if kind == "reduce_scatter":
        # A layout(L): program's relayout (RELAYOUT) permutes the copy first; its
        # steps leave this rank's shard at its number in L (PROGRAM_SHARD_OF).
        flat = _flat(name, tensor.reshape(-1))
        if RELAYOUT[name] is None or CHUNKS[name] > 1:
            buf = flat.clone()  # a pipelined program relays each chunk itself
        else:
            buf = relaid(flat, RELAYOUT[name]).contiguous()
        s, c = buf.numel() // SHARDS[name], PROGRAM_SHARD_OF[name][dist.get_rank()]
        return _execute(name, buf, async_op, lambda: buf[c * s:(c + 1) * s])
    whole = torch.empty(tensor.numel() * SHARDS[name], dtype=tensor.dtype,
                        device=tensor.device)
    return _gather_into(name, whole, tensor, async_op)


def _gather_into(name, whole, shard, async_op):
    """Runs all_gather program `name` in `whole` (contiguous), from this rank's
    `shard`; returns `whole` (or a Future of it)."""
    buf = _flat(name, whole)
    s, c = shard.numel(), PROGRAM_SHARD_OF[name][dist.get_rank()]
    if s * SHARDS[name] != buf.numel():
        raise ValueError("%s gathers %d shards: the output needs %d elements, not %d"
                         % (name, SHARDS[name], s * SHARDS[name], buf.numel()))
    buf[c * s:(c + 1) * s].copy_(shard.reshape(-1))
    if RELAYOUT[name] is None or CHUNKS[name] > 1:
        # A pipelined program relays each chunk itself (_pipelined).
        return _execute(name, buf, async_op, lambda: whole)

    def back():
        # A layout(L): program's steps gather in L's numbering: move the blocks
        # back into the request's.
        buf.copy_(relaid(buf.clone(), RELAYOUT[name], inverse=True))
        return whole
    return _execute(name, buf, async_op, back)


def _execute(name, buf, async_op, result):
    """Runs program `name` in place on the flat buffer `buf`; returns result() once
    it is done, or with async_op a Future of it (see run)."""
    steps = _scaled(name, buf.numel())
    if CHUNKS[name] > 1:
        # Pipelined: the chunks' steps are waited for here, in wavefront order; with
        # async_op the Future returned is already complete.
        _pipelined(name, buf, steps)
        return _done(result()) if async_op else result()
    if not async_op:
        for st in steps:
            _w, after = _step(buf, st, False)
            if after is not None:
                after()
        return result()
    if not steps:
        return _done(result())
    for st in steps[:-1]:
        w, after = _step(buf, st, True)
        w.wait()
        if after is not None:
            after()
    w, after = _step(buf, steps[-1], True)
    try:
        fut = w.get_future()
    except (RuntimeError, AttributeError):  # a backend without futures
        w.wait()
        if after is not None:
            after()
        return _done(result())

    def finish(_f):
        _f.wait()
        if after is not None:
            after()
        return result()
    return fut.then(finish)


class Work:
    """What reduce_scatter_tensor and all_gather_into_tensor return with
    async_op=True, as torch.distributed's Work: wait() blocks until the output is
    written; get_future() is a torch.futures.Future of the output."""

    def __init__(self, fut):
        self._fut = fut

    def wait(self, timeout=None):
        self._fut.wait()
        return True

    def is_completed(self):
        return self._fut.done()

    def get_future(self):
        return self._fut


def _program_of(program, default, kind):
    name = default if program is None else program
    if name is None or PROGRAM_COLLECTIVE.get(name) != kind:
        raise ValueError("no %s program %r in this module (it has: %s)" % (
            kind, name, ", ".join(n for n, c in sorted(PROGRAM_COLLECTIVE.items())
                                  if c == kind) or "none"))
    return name


def reduce_scatter_tensor(output, input, async_op=False, program=None):
    """As torch.distributed.reduce_scatter_tensor (sum): `input` is this rank's
    whole buffer, `output` (input.numel() / SHARDS elements) receives its shard, in
    the request's numbering, from the reduce_scatter program `program` (default
    DEFAULT_REDUCE_SCATTER). Returns None, or with async_op=True a Work."""
    name = _program_of(program, DEFAULT_REDUCE_SCATTER, "reduce_scatter")
    if output.numel() * SHARDS[name] != input.numel():
        raise ValueError("%s: output has %d elements, but the shard of %d elements has %d"
                         % (name, output.numel(), input.numel(),
                            input.numel() // SHARDS[name]))

    def store(shard):
        output.view(-1).copy_(shard)
        return output
    if not async_op:
        store(run(name, input))
        return None
    return Work(run(name, input, True).then(lambda f: store(f.value())))


def all_gather_into_tensor(output, input, async_op=False, program=None):
    """As torch.distributed.all_gather_into_tensor: `input` is this rank's shard,
    `output` (contiguous, input.numel() x SHARDS elements) receives the whole
    buffer, chunk j from the member whose shard number is j, from the all_gather
    program `program` (default DEFAULT_ALL_GATHER), which runs in `output`.
    Returns None, or with async_op=True a Work."""
    name = _program_of(program, DEFAULT_ALL_GATHER, "all_gather")
    r = _gather_into(name, output, input, async_op)
    return Work(r) if async_op else None


def ddp_comm_hook(state, bucket):
    """A DistributedDataParallel communication hook that reduces each gradient
    bucket with a program of this module instead of DDP's all_reduce:

        model = DistributedDataParallel(model)
        model.register_comm_hook(None, cs.ddp_comm_hook)      # DEFAULT_PROGRAM, mean
        model.register_comm_hook({"program": NAME, "average": False}, cs.ddp_comm_hook)

    state: None or a dict; "program" (default DEFAULT_PROGRAM) names an all_reduce
    program, "average" (default True) divides by the program's reduction group
    size REDUCTION_SIZE[program] (DDP's mean when the request is over every axis
    of its process group), False leaves the sum. A bucket whose size is not a
    multiple of ATOMS[program] x CHUNKS[program] is padded with zeros to one (a copy). Returns the
    torch.futures.Future DDP expects, whose value is the reduced bucket."""
    state = state or {}
    name = state.get("program", DEFAULT_PROGRAM)
    if name is None or PROGRAM_COLLECTIVE.get(name) != "all_reduce":
        raise ValueError("ddp_comm_hook runs all_reduce programs (%s), not %r"
                         % (", ".join(n for n, c in sorted(PROGRAM_COLLECTIVE.items())
                                      if c == "all_reduce") or "none here", name))
    grad = bucket.buffer() if hasattr(bucket, "buffer") else bucket.get_tensor()
    n = grad.numel()
    padded = n + (-n) % (ATOMS[name] * CHUNKS[name])
    if padded == n and grad.is_contiguous():
        t = grad
    else:
        t = torch.zeros(padded, dtype=grad.dtype, device=grad.device)
        t[:n].copy_(grad.reshape(-1))
    if state.get("average", True):
        t.div_(REDUCTION_SIZE[name])
    fut = run(name, t, async_op=True)
    if t is grad:
        return fut

    def unpad(f):
        grad.copy_(f.value()[:n].view_as(grad))
        return grad
    return fut.then(unpad)
