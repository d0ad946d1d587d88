# ---------------------------------------------------------------- regions
# Every rank's region of the buffer, as the semantics of docs/design.md tracks it: an offset
# and a length (in elements) and whether the data there is valid. All ranks compute
# the same table for all ranks, so each one knows where its peers' chunks and the
# roots' data lie without asking them.


def start_regions(collective, shards, shard_of, length):
    """Every rank's region when a program for the request starts, for a buffer of
    `length`: the whole buffer, or for an all_gather request only the rank's shard
    (shard_of[r] of `shards` equal ones)."""
    if collective != "all_gather":
        return None
    s = length // shards
    return [(c * s, s, True) for c in shard_of]


def relaid(buf, relayout, inverse=False):
    """A `layout(L):` program's local relayout (docs/design.md, section 3.7) of the
    1-D buffer `buf` (a numpy array or a torch tensor), as a new 1-D one; `buf`
    itself when `relayout` is None. relayout = (blocks, perm): the buffer is
    reshaped to blocks + [rest] (the request's dims in the request's order, outer
    level first), its first axes are put in the order perm (the layout's dims) and
    it is flattened, which moves the block numbered j in the request's order to its
    number in the layout's order; inverse=True moves them back."""
    if relayout is None:
        return buf
    blocks, perm = relayout
    n = len(perm)
    if inverse:
        shape = [blocks[p] for p in perm] + [-1]
        axes = [list(perm).index(k) for k in range(n)] + [n]
    else:
        shape = list(blocks) + [-1]
        axes = list(perm) + [n]
    v = buf.reshape(shape)
    v = v.permute(*axes) if hasattr(v, "permute") else v.transpose(axes)
    return v.reshape(-1)


def simulate(steps, devices, length, start=None):
    """Regions before each step: states[s][r] = (offset, length, valid) of rank r
    before step s, and states[len(steps)] after the last one; `start` is states[0]
    (default: every rank holds the whole buffer). Returns (states, error); error
    names the first step the ranks cannot run as written (members holding different
    regions, a region that does not split into equal chunks, chunks that do not
    line up for an all_gather), and states stop there."""
    state = list(start) if start is not None else [(0, length, True) for _ in range(devices)]
    states = [state]
    for si, (op, groups) in enumerate(steps):
        new = list(state)
        for g in groups:
            off0, len0, _ = state[g[0]]
            valid = all(state[m][2] for m in g)
            if op in ("all_reduce", "reduce_scatter", "reduce"):
                for m in g[1:]:
                    if state[m][:2] != (off0, len0):
                        return states, (
                            "step %d (%s): rank %d holds [%d, %d) but rank %d holds [%d, %d); "
                            "%s needs every member to hold the same region"
                            % (si + 1, op, m, state[m][0], state[m][0] + state[m][1],
                               g[0], off0, off0 + len0, op))
                if op == "all_reduce":
                    for m in g:
                        new[m] = (off0, len0, valid)
                elif op == "reduce":
                    new[g[0]] = (off0, len0, valid)
                    for m in g[1:]:
                        new[m] = (off0, len0, False)
                else:
                    k = len(g)
                    if len0 % k:
                        return states, (
                            "step %d (reduce_scatter): the region [%d, %d) does not split "
                            "into %d equal chunks" % (si + 1, off0, off0 + len0, k))
                    c = len0 // k
                    for i, m in enumerate(g):
                        new[m] = (off0 + i * c, c, valid)
            elif op == "all_gather":
                k = len(g)
                for i, m in enumerate(g):
                    if state[m][:2] != (off0 + i * len0, len0):
                        return states, (
                            "step %d (all_gather): member %d (rank %d) holds [%d, %d), not "
                            "chunk %d of the region that starts at rank %d's offset %d"
                            % (si + 1, i, m, state[m][0], state[m][0] + state[m][1],
                               i, g[0], off0))
                if off0 + k * len0 > length:
                    return states, (
                        "step %d (all_gather): the gathered region would end past the "
                        "buffer" % (si + 1))
                for m in g:
                    new[m] = (off0, k * len0, valid)
            elif op == "broadcast":
                for m in g[1:]:
                    new[m] = state[g[0]]
            else:
                return states, "step %d: unknown collective %r" % (si + 1, op)
        state = new
        states.append(state)
    return states, None


def groups_of(steps, rank):
    """For every step: (position of `rank` in its group, the group), or None when
    the rank idles in that step."""
    out = []
    for _op, groups in steps:
        mine = None
        for g in groups:
            if rank in g:
                mine = (g.index(rank), g)
                break
        out.append(mine)
    return out
