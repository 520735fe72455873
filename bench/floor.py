"""The GEMM floor: the time of a training step's GEMMs alone, measured in the same run.

The GEMM list comes from a workload's dense-layer list alone (``Workload.layers``), so every
model kind gets one: the MLPs, the autoencoder 784-256-128-256-784 (4 layers: 11 GEMMs) and
softmax regression 784-10 (1 layer: 2 GEMMs). The benchmark runs it in its own process, in the
same alternating rounds as the engines (``floor_runner``).

Per dense layer ``in -> out`` at batch B a step does three float32 GEMMs:
forward ``X(B,in) @ W(in,out)``, weight gradient ``X.T @ dY`` and input gradient
``dY @ W.T``; the first layer has no input gradient (nothing needs it, and no engine computes
it), so a net with L layers does 3L-1 GEMMs. They run back to back inside one call, with
preallocated outputs and the same transposed views the CPU backend passes, so the measured
time is what BLAS alone needs; ``1 / time`` is a steps/s ceiling that no engine calling the
same BLAS can beat (elementwise work, the loss and the update come on top).

Providers: ``numba`` (np.dot inside an @njit function after ``kernels.cpu.blas.load()``: the
path graphengine's CPU backend uses, SciPy's OpenBLAS or MKL as ``kernels.cpu.mkl`` picks),
``numpy`` (NumPy's own OpenBLAS), ``torch`` (MKL in the CPU wheels). The first is the floor the
table reports; the others show what another GEMM library would allow.
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numba
import numpy as np


def gemm_shapes(layers: tuple[int, ...], batch: int) -> list[tuple[str, int, int, int]]:
    """[(kind, m, n, k)] for one step: kind is fwd / dW / dX; the op is (m,k) @ (k,n)."""
    out = []
    for i, (n_in, n_out) in enumerate(zip(layers[:-1], layers[1:], strict=True)):
        out.append(("fwd", batch, n_out, n_in))
        out.append(("dW", n_in, n_out, batch))
        if i > 0:
            out.append(("dX", batch, n_in, n_out))
    return out


def step_flops(layers: tuple[int, ...], batch: int) -> int:
    return sum(2 * m * n * k for _, m, n, k in gemm_shapes(layers, batch))


def _arrays(layers, batch, seed=0):
    rng = np.random.default_rng(seed)
    f = lambda *s: rng.standard_normal(s).astype(np.float32)
    xs = [f(batch, a) for a in layers[:-1]]
    ws = [f(a, b) for a, b in zip(layers[:-1], layers[1:], strict=True)]
    dys = [f(batch, b) for b in layers[1:]]
    ys = [np.empty((batch, b), np.float32) for b in layers[1:]]
    dws = [np.empty_like(w) for w in ws]
    dxs = [np.empty_like(x) for x in xs]
    return xs, ws, dys, ys, dws, dxs


@numba.njit(nogil=True, cache=True)
def _gemms(xs, ws, dys, ys, dws, dxs, reps):
    for _ in range(reps):
        for i in range(len(xs)):
            np.dot(xs[i], ws[i], ys[i])
            np.dot(xs[i].T, dys[i], dws[i])
            if i > 0:
                np.dot(dys[i], ws[i].T, dxs[i])


def _runner(provider: str, layers, batch) -> Callable[[int], None]:
    xs, ws, dys, ys, dws, dxs = _arrays(layers, batch)
    if provider == "numba":
        from numba.typed import List

        from kernels.cpu.blas import load
        load()   # the BLAS graphengine's kernels call (MKL or OpenBLAS: kernels.cpu.mkl), before np.dot binds
        fn = _gemms
        args = [List(a) for a in (xs, ws, dys, ys, dws, dxs)]
        return lambda reps: fn(*args, reps)
    if provider == "numpy":
        def run(reps):
            for _ in range(reps):
                for i in range(len(xs)):
                    np.matmul(xs[i], ws[i], out=ys[i])
                    np.matmul(xs[i].T, dys[i], out=dws[i])
                    if i > 0:
                        np.matmul(dys[i], ws[i].T, out=dxs[i])
        return run
    if provider == "torch":
        import torch
        t = lambda a: [torch.from_numpy(v) for v in a]
        txs, tws, tdys, tys, tdws, tdxs = map(t, (xs, ws, dys, ys, dws, dxs))

        def run(reps):
            with torch.no_grad():
                for _ in range(reps):
                    for i in range(len(txs)):
                        torch.mm(txs[i], tws[i], out=tys[i])
                        torch.mm(txs[i].T, tdys[i], out=tdws[i])
                        if i > 0:
                            torch.mm(tdys[i], tws[i].T, out=tdxs[i])
        return run
    raise ValueError(f"unknown GEMM provider {provider!r}")


def measure_floor(layers: tuple[int, ...], batch: int, provider: str = "numba",
                  repeats: int = 5, target_s: float = 0.1) -> dict:
    """Median time of one step's GEMMs -> {"step_s", "steps_per_s", "gflops", "gemms"}."""
    run = _runner(provider, tuple(layers), batch)
    run(1)  # compile / warm the BLAS thread pool
    t0 = time.perf_counter()
    run(1)
    one = max(time.perf_counter() - t0, 1e-7)
    reps = max(1, int(target_s / one))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run(reps)
        times.append((time.perf_counter() - t0) / reps)
    step_s = statistics.median(times)
    return {"provider": provider, "step_s": step_s, "steps_per_s": 1.0 / step_s,
            "gflops": step_flops(layers, batch) / step_s / 1e9,
            "gemms": len(gemm_shapes(layers, batch))}


def floor_runner(layers: tuple[int, ...], batch: int, provider: str = "numba"):
    """The floor as a benchmark ``Runner`` (``run_n(n)``: n steps' GEMMs in one call), so the
    harness times it in its own process, in the same alternating rounds as the engines."""
    from .workloads import Runner
    run = _runner(provider, tuple(layers), batch)
    run(1)  # compile / warm the BLAS thread pool
    return Runner(lambda: run(1), run_n=run)
