"""Runs emitted torch modules for real on CPU: N processes (forked) with the gloo
backend, each running every case on random int64 tensors and comparing its result
with the sum over its reduction group (exact). Every case runs four times: twice
synchronously on buffers of 3 x ATOMS elements (the second call takes the plan made
by the first), then with async_op=True on 5 x ATOMS (a new scale of the plan) and on
3 x ATOMS again.

usage: python torch_run.py CASES.json
CASES.json: {"devices": N, "cases": [{"module": PATH, "function": NAME, "atoms": A,
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
        for run, (mult, async_op) in enumerate([(3, False), (3, False), (5, True),
                                                (3, True)]):
            length = case["atoms"] * mult
            seed = ci * 8 + run
            t = initial(rank, length, seed)
            if async_op:
                fut = f(t, async_op=True)
                if not isinstance(fut, (torch.futures.Future, torch._C.Future)):
                    lines.append("FAIL %s %s: async_op=True returned %r"
                                 % (case["module"], case["function"], type(fut)))
                    continue
                got = fut.wait()
                if got is not t:
                    lines.append("FAIL %s %s: the future's value is not the tensor"
                                 % (case["module"], case["function"]))
            else:
                f(t)
            expected = sum(initial(r, length, seed) for r in group)
            wrong = (t != expected).nonzero().flatten().tolist()
            if wrong:
                e = wrong[0]
                lines.append("FAIL %s %s: call %d (async_op=%s, %d elements): rank %d "
                             "element %d: expected %d, got %d"
                             % (case["module"], case["function"], run + 1, async_op,
                                length, rank, e, int(expected[e]), int(t[e])))
                break
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
