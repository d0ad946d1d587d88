# ---------------------------------------------------------------- runtime
# The same in every mpi4py script collsynth emits; the data above is what varies.

# Communicators, one per distinct set of groups, made once with Comm.Split: color =
# the rank's group, MPI.UNDEFINED when it idles; key = its world rank, so a group's
# members are ordered by rank (position 0 = lowest rank = the root of reduce and
# broadcast, position i = chunk i of reduce_scatter and all_gather).


def make_comms(programs):
    me = WORLD.Get_rank()
    cache = {}
    for prog in programs:
        for op, groups in prog["steps"]:
            key = tuple(tuple(g) for g in groups)
            if key in cache:
                continue
            color, pos, mine = MPI.UNDEFINED, None, None
            for gi, g in enumerate(groups):
                if me in g:
                    color, pos, mine = gi, g.index(me), g
                    break
            comm = WORLD.Split(color, me)
            if comm == MPI.COMM_NULL:
                comm = None
            elif comm.Get_rank() != pos or comm.Get_size() != len(mine):
                raise RuntimeError("Comm.Split gave rank %d of %d, expected %d of %d"
                                   % (comm.Get_rank(), comm.Get_size(), pos, len(mine)))
            cache[key] = comm
    return cache


def comms_of(prog, cache):
    return [cache[tuple(tuple(g) for g in groups)] for _op, groups in prog["steps"]]


def run_step(op, comm, pos, group, states, si, buf):
    """Runs step `si` on this rank's view of `buf` (a no-op when it idles)."""
    if comm is None:
        return
    off, ln, _ = states[si][WORLD.Get_rank()]
    region = buf[off:off + ln]
    if op == "all_reduce":
        comm.Allreduce(MPI.IN_PLACE, region, op=MPI.SUM)
    elif op == "reduce_scatter":
        c = ln // len(group)
        out = np.empty(c, dtype=buf.dtype)
        comm.Reduce_scatter_block(region, out, op=MPI.SUM)
        buf[off + pos * c:off + (pos + 1) * c] = out
    elif op == "all_gather":
        # Member i already holds chunk i in place: gather in place around it.
        start = off - pos * ln
        comm.Allgather(MPI.IN_PLACE, buf[start:start + len(group) * ln])
    elif op == "reduce":
        if pos == 0:
            comm.Reduce(MPI.IN_PLACE, region, op=MPI.SUM, root=0)
        else:
            comm.Reduce(region, None, op=MPI.SUM, root=0)
    elif op == "broadcast":
        roff, rln, _ = states[si][group[0]]
        comm.Bcast(buf[roff:roff + rln], root=0)


def start_step(op, comm, pos, group, states, si, buf):
    """Starts step `si` on this rank's view of `buf` with a nonblocking collective;
    returns (request, finish) where finish() runs after the request completes, or
    None when the rank idles in this step."""
    if comm is None:
        return None
    off, ln, _ = states[si][WORLD.Get_rank()]
    region = buf[off:off + ln]
    done = lambda: None  # noqa: E731
    if op == "all_reduce":
        req = comm.Iallreduce(MPI.IN_PLACE, region, op=MPI.SUM)
    elif op == "reduce_scatter":
        c = ln // len(group)
        out = np.empty(c, dtype=buf.dtype)
        req = comm.Ireduce_scatter_block(region, out, op=MPI.SUM)

        def done():
            buf[off + pos * c:off + (pos + 1) * c] = out
    elif op == "all_gather":
        start = off - pos * ln
        req = comm.Iallgather(MPI.IN_PLACE, buf[start:start + len(group) * ln])
    elif op == "reduce":
        if pos == 0:
            req = comm.Ireduce(MPI.IN_PLACE, region, op=MPI.SUM, root=0)
        else:
            req = comm.Ireduce(region, None, op=MPI.SUM, root=0)
    elif op == "broadcast":
        roff, rln, _ = states[si][group[0]]
        req = comm.Ibcast(buf[roff:roff + rln], root=0)
    return req, done


def chunk_views(buf, chunks, shards=1, packed=True):
    """The chunks of a pipelined program's buffer, chunk k being the k-th 1/chunks
    of every shard (docs/design.md, 3.6), each one contiguous array; and a function
    that writes them back into `buf`. With one shard (all_reduce) they are views of
    the buffer itself (writing a view writes the buffer); otherwise packed copies,
    left unfilled with packed=False (the caller fills each chunk itself)."""
    if shards == 1:
        n = len(buf) // chunks
        return [buf[k * n:(k + 1) * n] for k in range(chunks)], lambda: None
    parts = buf.reshape(shards, chunks, -1)
    if packed:
        packs = parts.transpose(1, 0, 2).copy()
    else:
        packs = np.empty((chunks, shards, parts.shape[2]), dtype=buf.dtype)

    def back():
        parts[...] = packs.transpose(1, 0, 2)
    return [packs[k].reshape(-1) for k in range(chunks)], back


def run_pipelined(prog, comms, states, mine, buf):
    """Runs the program on every chunk of `buf`, step s of chunk k started once step
    s - 1 of chunk k is done, in wavefront order (window w starts step s of chunk
    w - s for every s), so steps of different chunks are in flight together on
    their own communicators. `states` are the regions of one chunk. A relayout is
    one more stage, per chunk: chunk k's blocks are permuted as it is packed, before
    its first step (reduce_scatter), or once its last step is done (all_gather),
    while the other chunks' steps are in flight (docs/cost-model.md, 15)."""
    steps, relayout, chunks = prog["steps"], prog["relayout"], prog["chunks"]
    before = relayout is not None and prog["collective"] == "reduce_scatter"
    after = relayout is not None and prog["collective"] == "all_gather"
    views, back = chunk_views(buf, chunks, prog["shards"], packed=not before)
    parts = buf.reshape(prog["shards"], chunks, -1)
    lead = 1 if before else 0
    stages = lead + len(steps) + (1 if after else 0)
    pending = {}

    def wait(key):
        started = pending.pop(key, None)
        if started is not None:
            started[0].Wait()
            started[1]()

    for w in range(chunks + stages - 1):
        for st in range(stages):
            k = w - st
            if not 0 <= k < chunks:
                continue
            si = st - lead
            if before and st == 0:
                views[k][...] = relaid(parts[:, k, :].reshape(-1), relayout)
                continue
            if after and si == len(steps):
                wait((k, si - 1))
                views[k][...] = relaid(views[k], relayout, inverse=True)
                continue
            wait((k, si - 1))
            op = steps[si][0]
            pos, group = mine[si] if mine[si] is not None else (None, None)
            started = start_step(op, comms[si], pos, group, states, si, views[k])
            if started is not None:
                pending[(k, si)] = started
    for key in sorted(pending):
        wait(key)
    back()


def step_comms(prog, cache):
    """The communicators of a program's steps: the shared ones for a plain run; for
    a pipelined one, a duplicate per step (freed by the caller), so that every step
    is its own stream of collectives."""
    comms = comms_of(prog, cache)
    if prog["chunks"] == 1:
        return comms, []
    dups = [c.Dup() if c is not None else None for c in comms]
    return dups, [c for c in dups if c is not None]


def run_program(prog, comms, states, mine, buf):
    """The whole program on `buf`, in place, its relayout included: step by step, or
    pipelined over its chunks. With a relayout, a reduce_scatter program's `buf`
    enters in the request's numbering and leaves in the layout's; an all_gather
    one's enters in the layout's and leaves in the request's."""
    if prog["chunks"] > 1:
        run_pipelined(prog, comms, states, mine, buf)
        return
    relayout, kind = prog["relayout"], prog["collective"]
    if relayout is not None and kind == "reduce_scatter":
        buf[...] = relaid(buf, relayout)
    for si, (op, _groups) in enumerate(prog["steps"]):
        pos, group = mine[si] if mine[si] is not None else (None, None)
        run_step(op, comms[si], pos, group, states, si, buf)
    if relayout is not None and kind == "all_gather":
        buf[...] = relaid(buf, relayout, inverse=True)


def unit_length(prog):
    """What the buffer length must divide by: the atoms of every chunk."""
    return prog["atoms"] * prog["chunks"]


def prepared(prog, count):
    """The buffer length for about `count` elements (rounded up to whole chunks of
    whole atoms) and the regions of one chunk; None, said by rank 0, when the ranks
    cannot run the program as written."""
    unit = unit_length(prog)
    length = -(-count // unit) * unit
    states, error = chunk_regions(prog, length)
    if error is not None:
        if WORLD.Get_rank() == 0:
            say("FAIL %s: cannot run: %s" % (prog["name"], error))
        return None
    return length, states


def chunk_regions(prog, length):
    """simulate() of one chunk of a whole buffer of `length` elements, starting from
    the regions the request starts with."""
    chunk = length // prog["chunks"]
    start = start_regions(prog["collective"], prog["shards"], prog["program_shard_of"],
                          chunk)
    return simulate(prog["steps"], DEVICES, chunk, start)


# ---------------------------------------------------------------- run(name, data)
# Every rank's plan of a program is made once per buffer length, at its first run.

_COMMS = None  # communicators of every program, made at the first plan
_PLANS = {}    # (name, length) -> (program, step communicators, regions, groups)
_DUPS = []     # the pipelined programs' duplicated communicators


def communicators():
    """The communicators of every program of the script (collective over WORLD:
    every rank makes them at the same time, once)."""
    global _COMMS
    if _COMMS is None:
        _COMMS = make_comms(PROGRAMS)
    return _COMMS


def program(name):
    for p in PROGRAMS:
        if p["name"] == name:
            return p
    raise ValueError("no program named %r; the script has: %s"
                     % (name, ", ".join(p["name"] for p in PROGRAMS)))


def plan(name, length):
    """This rank's plan of program `name` for a whole buffer of `length` elements,
    made once (every rank reaches it at the same run): the step communicators (for a
    pipelined program a duplicate per step), the regions of one chunk and this
    rank's group in every step. Raises ValueError when the ranks cannot run it."""
    key = (name, length)
    if key in _PLANS:
        return _PLANS[key]
    prog = program(name)
    unit = unit_length(prog)
    if length % unit or length == 0:
        raise ValueError("%s needs a whole buffer of a multiple of %d elements (%d chunks "
                         "of %d atoms, the atoms cut into %d shards), not %d"
                         % (name, unit, prog["chunks"], prog["atoms"], prog["shards"],
                            length))
    states, error = chunk_regions(prog, length)
    if error is not None:
        raise ValueError(error)
    comms, dups = step_comms(prog, communicators())
    _DUPS.extend(dups)
    made = (prog, comms, states, groups_of(prog["steps"], WORLD.Get_rank()))
    _PLANS[key] = made
    return made


def run(name, data):
    """Runs program `name` on this rank's `data` (a contiguous 1-D numpy array; every
    rank calls it, programs in the same order) and returns its result, by the
    program's request:
      all_reduce:     the sum over the reduction group, in place (returns data);
      reduce_scatter: data is the whole buffer (overwritten: it is the working
                      buffer); returns this rank's shard, a new array of
                      len(data) // shards, shard shard_of[rank];
      all_gather:     data is this rank's shard; returns the whole buffer, a new
                      array of len(data) x shards, chunk j from the member whose
                      shard number is j."""
    prog = program(name)
    kind, g = prog["collective"], prog["shards"]
    length = len(data) * g if kind == "all_gather" else len(data)
    prog, comms, states, mine = plan(name, length)
    s = length // g
    # The steps number the shards as the program's layout does (program_shard_of);
    # run_program's relayout permutes the blocks before (reduce_scatter) or after
    # (all_gather) them, so the caller sees the request's numbering (shard_of).
    c = prog["program_shard_of"][WORLD.Get_rank()]
    if kind == "all_gather":
        buf = np.zeros(length, dtype=data.dtype)
        buf[c * s:(c + 1) * s] = data
    else:
        buf = data
    run_program(prog, comms, states, mine, buf)
    if kind == "reduce_scatter":
        return buf[c * s:(c + 1) * s].copy()
    return buf


def free():
    """Frees every communicator run() made (collective)."""
    global _COMMS
    for c in _DUPS:
        c.Free()
    del _DUPS[:]
    _PLANS.clear()
    for comm in (_COMMS or {}).values():
        if comm is not None:
            comm.Free()
    _COMMS = None


def elements(nbytes):
    """float32 elements in about `nbytes` bytes (at least one)."""
    return max(1, -(-nbytes // 4))


def initial_buffer(seed, rank, count):
    """Rank `rank`'s initial buffer for --check: reproducible from the seed alone,
    so every rank can compute every other rank's."""
    rng = np.random.default_rng([seed, rank])
    return rng.integers(-(1 << 40), 1 << 40, size=count, dtype=np.int64)


def rank_text(prog, rank):
    coords = prog["coords"][rank]
    return "rank %d (%s)" % (rank, ", ".join("%s=%d" % (a, c) for a, c in zip(AXES, coords)))


def say(text):
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def check(prog, seed, count):
    """Runs the program once, through run(), on random integers; returns True when
    this rank ends holding exactly what the request asks for, element for element:
    the sum over its reduction group (of its shard, for reduce_scatter), or for
    all_gather the shards of its group's members in shard order."""
    me = WORLD.Get_rank()
    name, kind, g = prog["name"], prog["collective"], prog["shards"]
    unit = unit_length(prog)
    length = -(-count // unit) * unit
    try:
        _prog, _comms, states, _mine = plan(name, length)
    except ValueError as e:
        if me == 0:
            say("FAIL %s: cannot run: %s" % (name, e))
        return False
    group = next(gr for gr in prog["reduction_groups"] if me in gr)
    c = prog["shard_of"][me]
    s = length // g
    mine = initial_buffer(seed, me, length)
    if kind == "all_reduce":
        got = run(name, mine)
        expected = sum(initial_buffer(seed, m, length) for m in group)
        what = "the sum over ranks %s" % group
    elif kind == "reduce_scatter":
        got = run(name, mine)
        expected = sum(initial_buffer(seed, m, length) for m in group)[c * s:(c + 1) * s]
        what = "shard %d of the sum over ranks %s" % (c, group)
    else:
        got = run(name, mine[c * s:(c + 1) * s].copy())
        expected = np.zeros(length, dtype=np.int64)
        owners = {prog["shard_of"][m]: m for m in group}
        for j in range(g):
            if j in owners:
                theirs = initial_buffer(seed, owners[j], length)
                expected[j * s:(j + 1) * s] = theirs[j * s:(j + 1) * s]
        what = "shard j from rank %s" % ", ".join(
            "%d: %d" % (j, owners[j]) for j in sorted(owners))
    # Every rank has run the program (a collective) before any says FAIL.
    off, ln, valid = states[-1][me]
    chunk = length // prog["chunks"]  # every chunk alike
    sc = chunk // g
    if not valid:
        say("FAIL %s: %s holds nothing valid at the end (a reduce left only its root "
            "with the sum)" % (name, rank_text(prog, me)))
        return False
    pc = prog["program_shard_of"][me]  # where the steps leave it
    if kind == "reduce_scatter" and not (off <= pc * sc and (pc + 1) * sc <= off + ln):
        say("FAIL %s: %s holds elements [%d, %d) of %d at the end, not its shard %d "
            "[%d, %d)" % (name, rank_text(prog, me), off, off + ln, chunk, pc, pc * sc,
                          (pc + 1) * sc))
        return False
    if kind != "reduce_scatter" and (off, ln) != (0, chunk):
        say("FAIL %s: %s holds only elements [%d, %d) of %d at the end (a reduce_scatter "
            "was not undone)" % (name, rank_text(prog, me), off * prog["chunks"],
                                 (off + ln) * prog["chunks"], length))
        return False
    if got.shape != expected.shape:
        say("FAIL %s: %s returned %d elements, expected %d"
            % (name, rank_text(prog, me), got.size, expected.size))
        return False
    wrong = np.flatnonzero(got != expected)
    if wrong.size:
        e = int(wrong[0])
        say("FAIL %s: %s element %d: expected %d, got %d (%d of %d elements differ; "
            "expected %s)"
            % (name, rank_text(prog, me), e, int(expected[e]), int(got[e]),
               wrong.size, expected.size, what))
        return False
    return True


def parse_bytes(text):
    units = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9,
             "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}
    t = text.strip().upper().replace(" ", "")
    digits = t.rstrip("KMGIB")
    if not digits.isdigit() or t[len(digits):] not in units:
        raise argparse.ArgumentTypeError("bytes like 4000000, 4MB or 4MiB, not %r" % text)
    return int(digits) * units[t[len(digits):]]


def time_program(prog, comms, nbytes, iters):
    """Times every step (barrier, then MPI.Wtime around the step) over `iters` runs
    on float32 buffers of about `nbytes` bytes; returns the per-step mean of the
    slowest rank."""
    me = WORLD.Get_rank()
    ready = prepared(prog, elements(nbytes))
    if ready is None:
        return None
    length, states = ready
    mine = groups_of(prog["steps"], me)
    buf = np.ones(length, dtype=np.float32)
    spent = np.zeros(len(prog["steps"]))
    for it in range(iters + 1):  # the first run warms up and is not counted
        buf.fill(1.0)
        for si, (op, _groups) in enumerate(prog["steps"]):
            pos, group = mine[si] if mine[si] is not None else (None, None)
            WORLD.Barrier()
            t0 = MPI.Wtime()
            run_step(op, comms[si], pos, group, states, si, buf)
            if it > 0:
                spent[si] += MPI.Wtime() - t0
    slowest = np.zeros_like(spent)
    WORLD.Allreduce(spent, slowest, op=MPI.MAX)
    return slowest / max(iters, 1), length * 4


def time_whole(prog, comms, nbytes, iters):
    """Times the whole program (barrier, then MPI.Wtime around the run) over `iters`
    runs on float32 buffers of about `nbytes` bytes, pipelined when it is; returns
    the mean of the slowest rank and the bytes run."""
    me = WORLD.Get_rank()
    ready = prepared(prog, elements(nbytes))
    if ready is None:
        return None
    length, states = ready
    mine = groups_of(prog["steps"], me)
    buf = np.ones(length, dtype=np.float32)
    spent = 0.0
    for it in range(iters + 1):  # the first run warms up and is not counted
        buf.fill(1.0)
        WORLD.Barrier()
        t0 = MPI.Wtime()
        run_program(prog, comms, states, mine, buf)
        if it > 0:
            spent += MPI.Wtime() - t0
    return WORLD.allreduce(spent, op=MPI.MAX) / max(iters, 1), length * 4


def time_flat(prog, nbytes, iters):
    """Times MPI's own flat Allreduce (the library's algorithm choice) of the same
    buffer on one communicator per reduction group of the request, as
    time_program times the program; returns the mean of the slowest rank."""
    me = WORLD.Get_rank()
    color = next(i for i, g in enumerate(prog["reduction_groups"]) if me in g)
    comm = WORLD.Split(color, me)
    unit = unit_length(prog)
    length = -(-elements(nbytes) // unit) * unit
    buf = np.ones(length, dtype=np.float32)
    out = np.empty_like(buf)
    part = length // comm.Get_size()
    spent = 0.0
    for it in range(iters + 1):  # the first run warms up and is not counted
        WORLD.Barrier()
        t0 = MPI.Wtime()
        if prog["collective"] == "reduce_scatter":
            comm.Reduce_scatter_block(buf, out[:part], op=MPI.SUM)
        elif prog["collective"] == "all_gather":
            comm.Allgather(buf[:part], out)
        else:
            comm.Allreduce(buf, out, op=MPI.SUM)
        if it > 0:
            spent += MPI.Wtime() - t0
    comm.Free()
    return WORLD.allreduce(spent, op=MPI.MAX) / max(iters, 1)


def flat_text(prog):
    """What time_flat runs."""
    return {"reduce_scatter": "MPI_Reduce_scatter_block",
            "all_gather": "MPI_Allgather"}.get(prog["collective"], "MPI_Allreduce") \
        + " on each reduction group"


def one_host():
    """Whether every rank runs on this rank's host (asked of all ranks)."""
    names = WORLD.allgather(MPI.Get_processor_name())
    return len(set(names)) == 1


def time_pipelined(prog, cache, nbytes, iters):
    """Prints a pipelined program's time against the same program run plain and
    MPI's flat Allreduce; False when it cannot run."""
    comms, dups = step_comms(prog, cache)
    timed = time_whole(prog, comms, nbytes, iters)
    for c in dups:
        c.Free()
    if timed is None:
        return False
    plain = dict(prog, chunks=1)
    plain_s, _ = time_whole(plain, comms_of(plain, cache), nbytes, iters)
    flat = time_flat(prog, nbytes, iters)
    single_host = one_host()  # a collective: every rank asks
    if WORLD.Get_rank() == 0:
        total, nb = timed
        say("time %s: %d bytes, mean of %d runs, slowest rank" % (prog["name"], nb, iters))
        if single_host:
            say("  (every rank on one host: a functional run of the schedule, not a "
                "measurement of any network)")
        say("  pipelined %-46s %12.6f s  (%d chunks)" % ("", total, prog["chunks"]))
        say("  plain     %-46s %12.6f s  (pipelined / plain: %.3fx)"
            % ("the same steps, one after another", plain_s,
               total / plain_s if plain_s > 0 else float("nan")))
        say("  flat      %-46s %12.6f s  (pipelined / flat: %.3fx)"
            % (flat_text(prog), flat,
               total / flat if flat > 0 else float("nan")))
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Runs collsynth programs under MPI: mpirun -np %d python3 %s"
        % (DEVICES, sys.argv[0]))
    parser.add_argument("--check", action="store_true",
                        help="run on random integers and compare every rank's result "
                             "with the sum over its reduction group (the default "
                             "when --bytes is not given)")
    parser.add_argument("--seed", type=int, default=1, help="seed of --check's buffers")
    parser.add_argument("--count", type=int, default=0,
                        help="elements per buffer for --check (rounded up to a "
                             "multiple of the program's chunking; default: a few "
                             "hundred)")
    parser.add_argument("--bytes", type=parse_bytes, default=None,
                        help="time each step on buffers of this many bytes")
    parser.add_argument("--iters", type=int, default=10, help="timed runs for --bytes")
    parser.add_argument("--only", default=None, help="run only the program of this name")
    args = parser.parse_args(argv)
    me = WORLD.Get_rank()
    if WORLD.Get_size() != DEVICES:
        if me == 0:
            say("error: this script is for %d processes (one per device), but it runs "
                "on %d: use mpirun -np %d" % (DEVICES, WORLD.Get_size(), DEVICES))
        sys.exit(2)
    programs = [p for p in PROGRAMS if args.only in (None, p["name"])]
    if not programs:
        if me == 0:
            say("error: no program named %r; the script has: %s"
                % (args.only, ", ".join(p["name"] for p in PROGRAMS)))
        sys.exit(2)
    cache = communicators()
    failed = False
    do_check = args.check or args.bytes is None
    if do_check:
        correct = 0
        for prog in programs:
            ok = check(prog, args.seed, args.count or 5 * 64)
            ok = WORLD.allreduce(1 if ok else 0, op=MPI.MIN) == 1
            correct += ok
            if me == 0 and ok:
                say("ok   %s: %s" % (prog["name"], prog["text"]))
        failed = correct != len(programs)
        if me == 0:
            say("check: %d programs, %d correct, %d wrong (seed %d)"
                % (len(programs), correct, len(programs) - correct, args.seed))
    if args.bytes is not None:
        for prog in programs:
            if prog["chunks"] > 1:
                if not time_pipelined(prog, cache, args.bytes, args.iters):
                    failed = True
                continue
            timed = time_program(prog, comms_of(prog, cache), args.bytes, args.iters)
            if timed is None:
                failed = True
                continue
            per_step, nbytes = timed
            if me == 0:
                say("time %s: %d bytes, mean of %d runs, slowest rank"
                    % (prog["name"], nbytes, args.iters))
                for si, t in enumerate(per_step):
                    say("  step %d  %-48s %12.6f s" % (si + 1, prog["step_texts"][si], t))
                say("  total   %-48s %12.6f s" % ("", float(per_step.sum())))
            flat = time_flat(prog, args.bytes, args.iters)
            if me == 0:
                total = float(per_step.sum())
                say("  flat    %-48s %12.6f s  (program / flat: %.3fx)"
                    % (flat_text(prog), flat,
                       total / flat if flat > 0 else float("nan")))
    free()
    failed = WORLD.allreduce(1 if failed else 0, op=MPI.MAX) == 1
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
