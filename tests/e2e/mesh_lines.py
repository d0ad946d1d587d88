"""Evaluates the torch and JAX lines `collsynth placements` prints for a placement
and checks that the mesh they build puts every rank at its axis coordinates.

usage: python mesh_lines.py CASES.json
CASES.json: [{"index": I, "axes": [NAME, ...], "coords": [[c_axis, ...] per rank],
              "rank_order": [NAME, ...] | null, "lines": [LINE, ...]}, ...]
The torch lines run with real torch (init_device_mesh's mesh is
torch.arange(world).view(shape); DeviceMesh takes the tensor given), the JAX lines
with numpy, jax.devices() standing for the ranks in order. Also checks that
rank_order, fastest first, gives every rank as the mixed radix of its coordinates.
Prints "mesh lines ok: N placements, M lines" or FAIL lines and exits 1.
"""
import json
import sys

import numpy as np
import torch

with open(sys.argv[1]) as f:
    CASES = json.load(f)

failures = []
checked = 0


class _Jax:
    def __init__(self, n):
        self.n = n

    def devices(self):
        return list(range(self.n))


def mesh_of(line, n):
    env = {"torch": torch, "np": np, "jax": _Jax(n)}
    env["init_device_mesh"] = lambda _dev, shape, mesh_dim_names: (
        torch.arange(n).view(shape), mesh_dim_names)
    env["DeviceMesh"] = lambda _dev, mesh, mesh_dim_names: (mesh, mesh_dim_names)
    env["Mesh"] = lambda devices, names: (devices, names)
    kind, expr = line.split(": ", 1)
    grid, names = eval(expr, env)  # noqa: S307 -- our own output, in a test
    return kind, np.asarray(grid), tuple(names)


for case in CASES:
    axes, coords = case["axes"], case["coords"]
    n = len(coords)
    order = case["rank_order"]
    if order is not None:
        for r, c in enumerate(coords):
            x, w = 0, 1
            for name in order:
                a = axes.index(name)
                x += c[a] * w
                w *= max(1, 1 + max(cc[a] for cc in coords))
            if x != r:
                failures.append("FAIL placement %d: rank_order %s gives rank %d %d"
                                % (case["index"], order, r, x))
                break
    lines = [x for x in case["lines"] if x.startswith(("torch: ", "jax: "))]
    if len(lines) != 2:
        failures.append("FAIL placement %d: expected a torch and a jax line, got %r"
                        % (case["index"], case["lines"]))
    for line in lines:
        kind, grid, names = mesh_of(line, n)
        checked += 1
        if grid.size != n or sorted(names) != sorted(axes):
            failures.append("FAIL placement %d %s: shape %s names %s" % (
                case["index"], kind, grid.shape, names))
            continue
        for r, c in enumerate(coords):
            at = tuple(c[axes.index(a)] for a in names)
            if int(grid[at]) != r:
                failures.append("FAIL placement %d %s: mesh%s holds %d, not rank %d"
                                % (case["index"], kind, at, int(grid[at]), r))
                break

for x in failures:
    print(x)
print("mesh lines ok: %d placements, %d lines" % (len(CASES), checked)
      if not failures else "mesh lines: %d failures" % len(failures))
sys.exit(1 if failures else 0)
