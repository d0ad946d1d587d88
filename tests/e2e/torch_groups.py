"""Checks an emitted torch module's process groups against the lowered form, with
the torch stand-in of torch_stub/ on sys.path (only for this comparison).

usage: python3 torch_groups.py MODULE.py EXPECTED.json
EXPECTED.json: {"devices": N, "programs": {name: [[collective, groups], ...]},
                "mesh_ranks": nested list, "axis_groups": [[groups of axis 0], ...]}
Exits 0 and prints "torch groups ok" when everything matches; otherwise prints what
differs and exits 1.
"""
import importlib.util
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_stub"))
import torch.distributed as dist  # noqa: E402  (the stand-in)

module_path, expected_path = sys.argv[1], sys.argv[2]
with open(expected_path) as f:
    expected = json.load(f)
n = expected["devices"]
errors = []


def load(index):
    spec = importlib.util.spec_from_file_location("emitted_torch_%d" % index, module_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def as_lists(steps):
    return [[op, [list(g) for g in groups]] for op, groups in steps]


first_calls = None
for rank in range(n):
    dist.RANK, dist.WORLD_SIZE = rank, n
    del dist.CALLS[:]
    m = load(rank)
    made = m.make_groups()
    calls = list(dist.CALLS)
    if first_calls is None:
        first_calls = calls
        # Every group of every step is created, ascending, exactly once per distinct
        # set of groups; nothing else is created.
        wanted = []
        seen = set()
        for name in sorted(expected["programs"]):
            for _op, groups in expected["programs"][name]:
                key = tuple(tuple(g) for g in groups)
                if key not in seen:
                    seen.add(key)
                    wanted.extend(list(g) for g in groups)
        if sorted(calls) != sorted(wanted):
            errors.append("new_group calls %s differ from the lowered groups %s" % (calls, wanted))
        for g in calls:
            if g != sorted(g):
                errors.append("new_group(%s) is not ascending" % g)
    elif calls != first_calls:
        errors.append("rank %d calls new_group in another order or with other groups" % rank)
    # The handle each rank uses in each step is the group that contains it.
    for name, steps in expected["programs"].items():
        for si, (_op, groups) in enumerate(steps):
            key = tuple(tuple(g) for g in groups)
            if key not in made:
                errors.append("%s step %d: the module made no process groups for %s"
                              % (name, si + 1, groups))
                continue
            handle = made[key]
            mine = [g for g in groups if rank in g]
            if not mine:
                if handle is not None:
                    errors.append("%s step %d: idle rank %d has a group" % (name, si + 1, rank))
            elif handle is None or calls[handle[1]] != mine[0]:
                errors.append("%s step %d: rank %d uses group %s, not %s"
                              % (name, si + 1, rank,
                                 None if handle is None else calls[handle[1]], mine[0]))
emitted = {k: as_lists(v) for k, v in m.GROUPS.items()}
if emitted != expected["programs"]:
    errors.append("GROUPS %s differ from the lowered form %s" % (emitted, expected["programs"]))
if m.MESH_RANKS != expected["mesh_ranks"]:
    errors.append("MESH_RANKS %s, expected %s" % (m.MESH_RANKS, expected["mesh_ranks"]))
# DeviceMesh: the groups of mesh dimension d are the rows of mesh.swapdims(-1, d)
# .reshape(-1, size); they must be the devices that differ only on axis d.
mesh = np.array(m.MESH_RANKS)
for d, want in enumerate(expected["axis_groups"]):
    rows = sorted(sorted(int(x) for x in row)
                  for row in np.swapaxes(mesh, -1, d).reshape(-1, mesh.shape[d]))
    if rows != want:
        errors.append("mesh dimension %d (%s) has groups %s, expected %s" % (d, m.AXES[d], rows, want))
for e in errors:
    print("FAIL " + e)
if errors:
    sys.exit(1)
print("torch groups ok: %d programs, %d ranks" % (len(expected["programs"]), n))
