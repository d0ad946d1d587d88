"""Runs an emitted torch module for real on CPU: N processes (torch.multiprocessing)
with the gloo backend, each running every case on random int64 tensors and comparing
its result with the sum over its reduction group (exact).

usage: python torch_run.py MODULE.py CASES.json
CASES.json: {"devices": N, "cases": [{"function": NAME, "atoms": A,
             "reduction_groups": [[...], ...]}, ...]}
Prints "ok NAME" / "FAIL NAME: rank R element E: expected X, got Y"; exits 1 on any
failure.
"""
import importlib.util
import json
import os
import sys
import tempfile

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def initial(rank, length):
    g = torch.Generator().manual_seed(1009 + rank)
    return torch.randint(-1000, 1000, (length,), generator=g, dtype=torch.int64)


def worker(rank, n, module_path, cases, init_file, out_dir):
    dist.init_process_group("gloo", init_method="file://" + init_file, rank=rank,
                            world_size=n)
    spec = importlib.util.spec_from_file_location("emitted_torch", module_path)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    m.make_groups()
    lines = []
    for case in cases:
        length = case["atoms"] * 3
        t = initial(rank, length)
        getattr(m, case["function"])(t)
        group = next(g for g in case["reduction_groups"] if rank in g)
        expected = sum(initial(r, length) for r in group)
        wrong = (t != expected).nonzero().flatten().tolist()
        if wrong:
            e = wrong[0]
            lines.append("FAIL %s: rank %d element %d: expected %d, got %d"
                         % (case["function"], rank, e, int(expected[e]), int(t[e])))
    dist.barrier()
    dist.destroy_process_group()
    with open(os.path.join(out_dir, "%d.txt" % rank), "w") as f:
        f.write("\n".join(lines))


def main():
    module_path, cases_path = sys.argv[1], sys.argv[2]
    with open(cases_path) as f:
        doc = json.load(f)
    n = doc["devices"]
    with tempfile.TemporaryDirectory() as tmp:
        init_file = os.path.join(tmp, "init")
        mp.spawn(worker, args=(n, module_path, doc["cases"], init_file, tmp), nprocs=n,
                 join=True)
        failures = []
        for r in range(n):
            with open(os.path.join(tmp, "%d.txt" % r)) as f:
                failures.extend(x for x in f.read().splitlines() if x)
    for case in doc["cases"]:
        if not any(x.startswith("FAIL %s:" % case["function"]) for x in failures):
            print("ok %s" % case["function"])
    for x in failures:
        print(x)
    print("torch check: %d cases, %d failing lines" % (len(doc["cases"]), len(failures)))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
