"""Runs emitted JAX modules on CPU host devices and checks every device's result
against what the request asks for (exact, int32 random integers): the sum over its
reduction group; for reduce_scatter its shard of that sum; for all_gather (whose
input row r is rank r's shard) the shards of the group's members in shard order.

usage: python jax_check.py CASES.json
CASES.json: {"devices": N, "cases": [{"module": PATH, "function": NAME,
             "atoms": A, "collective": C, "shards": G, "shard_of": [...],
             "reduction_groups": [[...], ...],
             "axis_ranks": [...]}, ...]}
Checks too that the module's axis_mesh() holds, at every axis-coordinate vector
(row-major), the device of rank axis_ranks[i], and that its mesh axes carry the
spec's axis names.
Prints "ok NAME" or "FAIL NAME: rank R element E: expected X, got Y" per case;
exits 1 when any case fails.
"""
import importlib.util
import json
import os
import sys

with open(sys.argv[1]) as f:
    CASES = json.load(f)
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=%d" % CASES["devices"]
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np  # noqa: E402


def load(path, index):
    spec = importlib.util.spec_from_file_location("emitted_%d" % index, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


modules = {}
failed = 0
rng = np.random.default_rng(11)
for case in CASES["cases"]:
    path = case["module"]
    if path not in modules:
        modules[path] = load(path, len(modules))
        modules[path]._mesh = modules[path].make_mesh()
    m = modules[path]
    n = m.DEVICES
    length = case["atoms"] * 3
    kind, g = case.get("collective", "all_reduce"), case.get("shards", 1)
    shard_of = case.get("shard_of", [0] * n)
    s = length // g
    x = rng.integers(-1000, 1000, size=(n, length)).astype(np.int32)
    if kind == "all_gather":
        # Row r: rank r's shard of its own buffer.
        inp = np.stack([x[r, shard_of[r] * s:(shard_of[r] + 1) * s] for r in range(n)])
    else:
        inp = x
    y = np.asarray(getattr(m, case["function"])(m._mesh)(inp))
    want = (n, s) if kind == "reduce_scatter" else (n, length)
    ok = y.shape == want
    msg = "result shape %s, expected %s" % (y.shape, want)
    am = m.axis_mesh()
    got = [d.id for d in np.asarray(am.devices).reshape(-1)]
    if tuple(am.axis_names) != tuple(m.AXIS_NAMES) or got != case["axis_ranks"]:
        ok = False
        msg = "axis_mesh %s holds ranks %s, expected %s" % (
            am.axis_names, got, case["axis_ranks"])
    if ok:
        for group in case["reduction_groups"]:
            total = x[group].sum(axis=0)
            gathered = np.zeros(length, dtype=x.dtype)
            for r in group:
                j = shard_of[r]
                gathered[j * s:(j + 1) * s] = x[r, j * s:(j + 1) * s]
            for r in group:
                c = shard_of[r]
                expected = {"all_reduce": total, "all_gather": gathered,
                            "reduce_scatter": total[c * s:(c + 1) * s]}[kind]
                wrong = np.flatnonzero(y[r] != expected)
                if wrong.size:
                    e = int(wrong[0])
                    ok = False
                    msg = "rank %d element %d: expected %d, got %d" % (
                        r, e, int(expected[e]), int(y[r][e]))
                    break
            if not ok:
                break
    if ok:
        print("ok %s" % case["function"])
    else:
        failed += 1
        print("FAIL %s: %s" % (case["function"], msg))
print("jax check: %d cases, %d wrong" % (len(CASES["cases"]), failed))
sys.exit(1 if failed else 0)
