"""Per-call overhead of an emitted torch module, without launching its processes.

usage: /usr/bin/python3 benches/torch_overhead.py [--collsynth BIN] [--modules DIR]
                                                  [--calls N] [--ranks K]

For 128 ranks (16 nodes x 8 GPUs) and 4,096 ranks (512 nodes x 8 GPUs), data over
every GPU, it emits the torch module of the best program for a 1 MB all_reduce
(`BIN emit --target torch`; the hierarchical reduce_scatter(gpu:data) ;
all_reduce(node:data) ; all_gather(gpu:data)), or takes the modules already in
`--modules DIR` (named r128.py and r4096.py, e.g. emitted by an older collsynth).
It imports the module in this one process with torch.distributed replaced by a
stand-in whose collectives return at once (new_group hands out tokens), and plays K
ranks spread over the world in turn: for each it times the first call (plans,
process groups) and then N further calls, the time a call costs beyond its
collectives. Prints one line per world size: median first call and median,
minimum per-call time over the ranks played, in microseconds.
"""
import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch

SPEC = """axes = [ {{ name = "data", size = {n} }} ]
[system]
name = "{nodes} x 8-GPU nodes"
levels = [ {{ name = "node", arity = {nodes}, bandwidth = "50 GB/s", latency = "5 us" }},
           {{ name = "gpu", arity = 8, bandwidth = "235 GB/s", latency = "1 us" }} ]
[[request]]
collective = "all_reduce"
axes = ["data"]
bytes = "1 MB"
"""


class _Work:
    def wait(self):
        return True

    def get_future(self):
        f = torch.futures.Future()
        f.set_result(None)
        return f


class FakeDist:
    """torch.distributed as one rank of a world sees it, with no other process: the
    collectives return at once."""

    class ReduceOp:
        SUM = "sum"

    def __init__(self, rank, world):
        self.rank, self.world, self.groups = rank, world, 0

    def get_rank(self, group=None):
        return self.rank

    def get_world_size(self, group=None):
        return self.world

    def is_initialized(self):
        return True

    def get_backend(self, group=None):
        return "nccl"

    def new_group(self, ranks=None, **_):
        self.groups += 1
        return ("group", self.groups)

    def _op(self, *args, **kwargs):
        return _Work() if kwargs.get("async_op") else None

    all_reduce = reduce_scatter_tensor = all_gather_into_tensor = _op
    all_gather = reduce = broadcast = barrier = _op


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


def measure(path, n, calls, ranks):
    firsts, per_call = [], []
    for i in range(ranks):
        rank = (i * n) // ranks + (i % 8)
        m = load(path, "bench_%d_%d" % (n, i))
        m.dist = FakeDist(rank, n)
        f = next(getattr(m, name) for name in m.ATOMS)
        t = torch.zeros(next(iter(m.ATOMS.values())) * 16, dtype=torch.float32)
        t0 = time.perf_counter()
        f(t)
        firsts.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        for _ in range(calls):
            f(t)
        per_call.append((time.perf_counter() - t0) / calls)
    return statistics.median(firsts), statistics.median(per_call), min(per_call)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--collsynth", default="target/release/collsynth")
    ap.add_argument("--modules", help="take r128.py and r4096.py from here")
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--ranks", type=int, default=8)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for n in (128, 4096):
            if a.modules:
                path = os.path.join(a.modules, "r%d.py" % n)
            else:
                spec = os.path.join(tmp, "r%d.toml" % n)
                with open(spec, "w") as f:
                    f.write(SPEC.format(n=n, nodes=n // 8))
                path = os.path.join(tmp, "r%d.py" % n)
                subprocess.run([a.collsynth, "emit", "--target", "torch", "--spec", spec,
                                "-o", path], check=True, stderr=subprocess.DEVNULL)
            first, med, best = measure(path, n, a.calls, a.ranks)
            print("%5d ranks: first call %10.1f us   per call median %8.1f us  min %8.1f us"
                  % (n, first * 1e6, med * 1e6, best * 1e6))
            sys.stdout.flush()


if __name__ == "__main__":
    main()
