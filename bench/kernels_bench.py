"""``python -m bench kernels``: one elementwise kernel over 200k float32, 1 thread.

graphengine: ``y = ge.nn.sigmoid(v)`` (or ``ge.exp``, ``ge.tanh``) on a float32 Variable ``v``,
fetched with a 1-element ``reduce_sum`` beside it (so the plan is a compiled step: plans without
a compute-heavy op run op by op) through ``sess.make_callable([y, z])``: the compiled step's
elementwise loop plus the per-call overhead and the fetched output, nothing subtracted (a
Variable input, so no feed is copied).
A second graphengine worker runs the same graph on 1 element: its time is the per-call overhead,
shown beside it so the reader can see how much of the 200k time is the loop.
PyTorch: ``torch.sigmoid(x, out=y)`` (``torch.exp``, ``torch.tanh``) with ``y`` preallocated.
Inputs: standard normal x 3 (exp stays finite), the same seed for both.
"""
from __future__ import annotations

import statistics

import numpy as np

FUNCS = ("sigmoid", "exp", "tanh")
N = 200_000
PLAN = [None]   # how graphengine ran the kernel's plan (Session.plan_info's "executor")
ONE_THREAD = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                               "NUMBA_NUM_THREADS")}


def _input(n: int) -> np.ndarray:
    return (np.random.default_rng(3).standard_normal(n) * 3).astype(np.float32)


def kernel_runner(engine: str, fn: str, n: int):
    from .workloads import Runner
    x0 = _input(n)
    if engine == "kernel-graphengine":
        import graphengine as ge
        op = {"sigmoid": ge.nn.sigmoid, "exp": ge.exp, "tanh": ge.tanh}[fn]
        g = ge.Graph()
        with g.as_default():
            v = ge.Variable(x0, name="x")
            y = op(v)
            # a 1-element reduction beside it: graphengine compiles a step only for plans with a
            # compute-heavy op, and the loop to time is the compiled step's elementwise loop
            z = ge.reduce_sum(ge.Variable(np.ones(1, np.float32), name="one"))
            init = ge.global_variables_initializer()
        sess = ge.Session(graph=g)
        sess.run(init)
        f = sess.make_callable([y, z])
        PLAN[0] = sess.plan_info([y, z]).get("executor")
        out = f()[0]
        ref = {"sigmoid": lambda a: 1 / (1 + np.exp(-a)), "exp": np.exp, "tanh": np.tanh}[fn](
            x0.astype(np.float64))
        assert np.allclose(out, ref, rtol=1e-5, atol=1e-7), f"graphengine {fn} differs from NumPy"
        return Runner(f)
    if engine == "kernel-torch":
        import torch
        x, y = torch.from_numpy(x0), torch.empty(n, dtype=torch.float32)
        op = {"sigmoid": torch.sigmoid, "exp": torch.exp, "tanh": torch.tanh}[fn]
        return Runner(lambda: op(x, out=y))
    raise ValueError(f"unknown kernel engine {engine!r}")


def kernels(rounds: int, target_s: float, gap_s: float) -> dict:
    """Every (function, engine) in its own 1-thread process, alternating rounds."""
    from .harness import start_workers, time_rounds
    specs = {}
    for fn in FUNCS:
        specs[f"{fn}/graphengine"] = {"engine": "kernel-graphengine", "kernel": fn, "n": N}
        specs[f"{fn}/torch"] = {"engine": "kernel-torch", "kernel": fn, "n": N}
    specs["sigmoid/graphengine n=1"] = {"engine": "kernel-graphengine", "kernel": "sigmoid", "n": 1}
    workers, inits, errors = start_workers(specs, ONE_THREAD)
    plans = sorted({str(r["timings"].get("plan")) for k, r in inits.items() if "graphengine" in k})
    try:
        rates = time_rounds(workers, rounds, target_s, gap_s)
    finally:
        for wk in workers.values():
            wk.close()
    us = {k: 1e6 / statistics.median(v) for k, v in rates.items()}
    rows = []
    for fn in FUNCS:
        ge_us, t_us = us.get(f"{fn}/graphengine"), us.get(f"{fn}/torch")
        rows.append({"fn": fn, "graphengine_us": ge_us, "torch_us": t_us,
                     "slowdown": ge_us / t_us if ge_us and t_us else None})
    return {"n": N, "rows": rows, "overhead_us": us.get("sigmoid/graphengine n=1"), "plans": plans,
            "all_rates": rates, "errors": errors}
