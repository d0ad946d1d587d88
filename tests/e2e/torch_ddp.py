"""DistributedDataParallel with an emitted module's ddp_comm_hook against plain DDP,
for real on CPU: N forked processes on gloo, a small float32 model, buckets small
enough that there are several and most need padding to the program's atom count.

usage: python torch_ddp.py MODULE.py N
Each rank trains two copies of the same model on its own data for 3 steps (SGD):
one with DDP's own all_reduce, one with the hook (mean); the gradients must agree
within rtol 1e-5, atol 1e-6 after every step (float32 sums in another order). A
third copy with {"average": False} must give N times the mean (it steps by lr / N). Also checks that the
gloo fallback warns exactly once and that device_mesh() refuses torch < 2.2.
Prints "ddp ok: max |difference| X over S gradients" or FAIL lines; exits 1.
"""
import copy
import importlib.util
import os
import sys
import tempfile
import warnings

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel as DDP

RTOL, ATOL = 1e-5, 1e-6


def worker(rank, n, module_path, init_file, out_dir):
    dist.init_process_group("gloo", init_method="file://" + init_file, rank=rank,
                            world_size=n)
    spec = importlib.util.spec_from_file_location("emitted", module_path)
    cs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cs)
    lines, worst, compared = [], 0.0, 0
    torch.manual_seed(5)
    base = torch.nn.Sequential(torch.nn.Linear(13, 32), torch.nn.ReLU(),
                               torch.nn.Linear(32, 7), torch.nn.ReLU(),
                               torch.nn.Linear(7, 3))
    # bucket_cap_mb=0.0005: buckets of about 500 bytes, so several per step.
    plain = DDP(copy.deepcopy(base), bucket_cap_mb=0.0005)
    hooked = DDP(copy.deepcopy(base), bucket_cap_mb=0.0005)
    summed = DDP(copy.deepcopy(base), bucket_cap_mb=0.0005)
    hooked.register_comm_hook(None, cs.ddp_comm_hook)
    summed.register_comm_hook({"program": cs.DEFAULT_PROGRAM, "average": False},
                              cs.ddp_comm_hook)
    # The summed copy steps by lr / N, so its parameters follow the other two.
    opts = [torch.optim.SGD(m.parameters(), lr=lr)
            for m, lr in ((plain, 0.1), (hooked, 0.1), (summed, 0.1 / n))]
    g = torch.Generator().manual_seed(100 + rank)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for step in range(3):
            x = torch.randn(9, 13, generator=g)
            y = torch.randn(9, 3, generator=g)
            for m, o in zip((plain, hooked, summed), opts):
                o.zero_grad()
                torch.nn.functional.mse_loss(m(x), y).backward()
            for (name, a), b, c in zip(plain.named_parameters(), hooked.parameters(),
                                       summed.parameters()):
                compared += 1
                d = (a.grad - b.grad).abs().max().item()
                worst = max(worst, d)
                if not torch.allclose(a.grad, b.grad, rtol=RTOL, atol=ATOL):
                    lines.append("FAIL rank %d step %d %s: hook gradient differs by %g"
                                 % (rank, step, name, d))
                if not torch.allclose(a.grad * n, c.grad, rtol=RTOL, atol=ATOL * n):
                    lines.append("FAIL rank %d step %d %s: average=False is not %d x "
                                 "the mean" % (rank, step, name, n))
            for o in opts:
                o.step()
    ours = [w for w in caught if "collsynth:" in str(w.message)]
    fallbacks = "reduce_scatter" in "".join(op for op, _ in cs.GROUPS[cs.DEFAULT_PROGRAM])
    if fallbacks and dist.get_backend() == "gloo" and not cs._NATIVE["reduce_scatter"]:
        kinds = [str(w.message) for w in ours if "reduce_scatter" in str(w.message)]
        if len(kinds) != 1:
            lines.append("FAIL rank %d: %d reduce_scatter fallback warnings, not 1: %r"
                         % (rank, len(kinds), kinds))
    major_minor = tuple(int(v) for v in torch.__version__.split(".")[:2])
    if major_minor < (2, 2):
        try:
            cs.device_mesh("cpu")
            lines.append("FAIL rank %d: device_mesh() did not refuse torch %s"
                         % (rank, torch.__version__))
        except RuntimeError as e:
            if "torch >= 2.2" not in str(e):
                lines.append("FAIL rank %d: device_mesh() said %r" % (rank, str(e)))
    try:
        cs.ddp_comm_hook({"program": "no_such_program"}, None)
        lines.append("FAIL rank %d: an unknown program was accepted" % rank)
    except ValueError:
        pass
    dist.barrier()
    dist.destroy_process_group()
    with open(os.path.join(out_dir, "%d.txt" % rank), "w") as f:
        f.write("%g %d\n" % (worst, compared) + "\n".join(lines))


def main():
    module_path, n = sys.argv[1], int(sys.argv[2])
    with tempfile.TemporaryDirectory() as tmp:
        init_file = os.path.join(tmp, "init")
        mp.start_processes(worker, args=(n, module_path, init_file, tmp), nprocs=n,
                           join=True, start_method="fork")
        failures, worst, compared = [], 0.0, 0
        for r in range(n):
            with open(os.path.join(tmp, "%d.txt" % r)) as f:
                first, *rest = f.read().splitlines()
                w, c = first.split()
                worst, compared = max(worst, float(w)), compared + int(c)
                failures.extend(x for x in rest if x)
    for x in failures:
        print(x)
    if not failures:
        print("ddp ok: max |difference| %g over %d gradients (rtol %g, atol %g)"
              % (worst, compared, RTOL, ATOL))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
