"""Runs emitted torch modules for real on CPU: N processes (forked) with the gloo
backend, each running every case on random int64 tensors and comparing its result
with what the request asks for (exact): the sum over its reduction group; for
reduce_scatter its shard of that sum (the input left unchanged); for all_gather the
shards of the group's members in shard order. Every case runs four times: twice
synchronously on buffers of 3 x ATOMS elements (the second call takes the plan made
by the first; for a sharded request through the FSDP-shaped reduce_scatter_tensor /
all_gather_into_tensor), then with async_op=True on 5 x ATOMS (a new scale of the
plan) and on 3 x ATOMS again.

usage: python torch_run.py CASES.json
CASES.json: {"devices": N, "cases": [{"module": PATH, "function": NAME, "atoms": A,
             "collective": C, "shards": G, "shard_of": [...],
             "reduction_groups": [[...], ...]}, ...]}
Prints "ok MODULE NAME" / "FAIL MODULE NAME: ..."; exits 1 on any failure.
"""
import importlib.util
import json
import os
import sys
import tempfile
import warnings

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def initial(rank, length, seed):
    g = torch.Generator().manual_seed(seed * 100003 + rank)
    return torch.randint(-1000, 1000, (length,), generator=g, dtype=torch.int64)


def call(m, f, kind, t, s, length, fsdp, async_op, function, lines, tag):
    """One call of a case's program on `t`; returns its result, or None when the
    call itself failed (said in `lines`)."""
    if fsdp:
        # The FSDP-shaped entry point, into an output tensor.
        out = torch.empty(s if kind == "reduce_scatter" else length, dtype=t.dtype)
        entry = (m.reduce_scatter_tensor if kind == "reduce_scatter"
                 else m.all_gather_into_tensor)
        if entry(out, t, program=function) is not None:
            lines.append("FAIL %s: %s returned something with async_op=False"
                         % (tag, entry.__name__))
        got = out
    elif async_op:
        fut = f(t, async_op=True)
        if not isinstance(fut, (torch.futures.Future, torch._C.Future)):
            lines.append("FAIL %s: async_op=True returned %r" % (tag, type(fut)))
            return None
        got = fut.wait()
        if kind == "all_reduce" and got is not t:
            lines.append("FAIL %s: the future's value is not the tensor" % tag)
    else:
        got = f(t)
        if kind == "all_reduce":
            got = t
    return got


def worker(rank, n, cases, init_file, out_dir):
    warnings.simplefilter("ignore", RuntimeWarning)  # gloo's fallbacks, said once
    dist.init_process_group("gloo", init_method="file://" + init_file, rank=rank,
                            world_size=n)
    modules = {}
    for path in sorted({c["module"] for c in cases}):
        spec = importlib.util.spec_from_file_location("m%d" % len(modules), path)
        m = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(m)
        m.make_groups()
        modules[path] = m
    lines = []
    for ci, case in enumerate(cases):
        f = getattr(modules[case["module"]], case["function"])
        group = next(g for g in case["reduction_groups"] if rank in g)
        kind, g = case.get("collective", "all_reduce"), case.get("shards", 1)
        c = case.get("shard_of", [0] * n)[rank]
        tag = "%s %s" % (case["module"], case["function"])
        said = False
        for run, (mult, async_op) in enumerate([(3, False), (3, False), (5, True),
                                                (3, True)]):
            length = case["atoms"] * mult
            s = length // g
            seed = ci * 8 + run
            t = initial(rank, length, seed)
            if kind == "all_gather":
                t = t[c * s:(c + 1) * s].clone()
            before = t.clone()
            fsdp = run == 1 and kind != "all_reduce"
            try:
                got = call(modules[case["module"]], f, kind, t, s, length, fsdp,
                           async_op, case["function"], lines, tag)
            except ValueError as e:
                # Raised alike on every rank before any collective: a program whose
                # regions do not line up (its plan says why).
                lines.append("FAIL %s: rank %d raised: %s" % (tag, rank, e))
                break
            if got is None:
                continue
            total = sum(initial(r, length, seed) for r in group)
            if kind == "all_reduce":
                expected = total
            elif kind == "reduce_scatter":
                expected = total[c * s:(c + 1) * s]
                if not torch.equal(t, before):
                    lines.append("FAIL %s: reduce_scatter changed its input" % tag)
            else:
                expected = torch.zeros(length, dtype=torch.int64)
                for m_ in group:
                    j = case["shard_of"][m_]
                    expected[j * s:(j + 1) * s] = initial(m_, length, seed)[j * s:(j + 1) * s]
            if got.shape != expected.shape:
                lines.append("FAIL %s: call %d: rank %d got shape %s, expected %s"
                             % (tag, run + 1, rank, tuple(got.shape), tuple(expected.shape)))
                break
            wrong = (got != expected).nonzero().flatten().tolist()
            if wrong and not said:
                # Said once; the later calls still run (collectives), as on the
                # ranks whose numbers happen to be right.
                said = True
                e = wrong[0]
                lines.append("FAIL %s: call %d (async_op=%s, %d elements): rank %d "
                             "element %d: expected %d, got %d"
                             % (tag, run + 1, async_op, length, rank, e,
                                int(expected[e]), int(got[e])))
    dist.barrier()
    dist.destroy_process_group()
    with open(os.path.join(out_dir, "%d.txt" % rank), "w") as f:
        f.write("\n".join(lines))


def main():
    with open(sys.argv[1]) as f:
        doc = json.load(f)
    n = doc["devices"]
    with tempfile.TemporaryDirectory() as tmp:
        init_file = os.path.join(tmp, "init")
        # fork: the workers inherit the imported torch instead of importing it again.
        mp.start_processes(worker, args=(n, doc["cases"], init_file, tmp), nprocs=n,
                           join=True, start_method="fork")
        failures = []
        for r in range(n):
            with open(os.path.join(tmp, "%d.txt" % r)) as f:
                failures.extend(x for x in f.read().splitlines() if x)
    for case in doc["cases"]:
        tag = "%s %s" % (case["module"], case["function"])
        if not any(x.startswith("FAIL %s:" % tag) for x in failures):
            print("ok %s" % tag)
    for x in failures:
        print(x)
    print("torch check: %d cases, %d failing lines" % (len(doc["cases"]), len(failures)))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
