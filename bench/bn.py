"""Batch normalization forward + backward: graphengine vs PyTorch eager on the CPU.

    python -m bench.bn [--quick] [--json out.json] [--threads 1] [--rounds 3]

Shapes (issue 13): (128, 1024) (features last) and (128, 14, 14, 32) NHWC. One "step" is the
training-mode forward (batch statistics) and the backward to x, scale and offset:

* ``graphengine``: a ``Session.make_callable`` plan running ``batch_norm`` + ``batch_norm_grad``
  in one compiled step and fetching d(scale), d(offset) (the one backward kernel writes dx too,
  which stays in the step, as in training, where the layer below consumes it);
* ``ge-kernels``: the two fused Numba kernels called directly (no session);
* ``torch``: ``F.batch_norm(training=True)`` then ``y.backward(g)``, NHWC as channels_last.

Each engine runs in its own subprocess with the same thread count (``--threads``), engines
alternate between rounds, and each process reports >= 5 timings (each the median of a batch of
calls); the table shows the median over all of them.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

SHAPES = {"128x1024": (128, 1024), "128x14x14x32": (128, 14, 14, 32)}
ENGINES = ("graphengine", "ge-kernels", "torch")


def _time(fn, samples: int, budget: float) -> list[float]:
    fn()
    if "graphengine.backends.cpu.background" in sys.modules:   # compiled steps, not interim ones
        sys.modules["graphengine.backends.cpu.background"].wait_all()
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-7)
    n = max(1, int(budget / samples / one))
    out = []
    for _ in range(samples):
        ts = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        out.append(statistics.median(ts))
    return out


def _child(engine: str, shape: tuple, samples: int, budget: float) -> list[float]:
    import numpy as np
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    c = shape[-1]
    if engine == "torch":
        import torch
        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
        tx = torch.from_numpy(x if len(shape) == 2 else x.transpose(0, 3, 1, 2).copy())
        if len(shape) == 4:
            tx = tx.contiguous(memory_format=torch.channels_last)
        tx.requires_grad_(True)
        tg = torch.from_numpy(g if len(shape) == 2 else g.transpose(0, 3, 1, 2).copy())
        if len(shape) == 4:
            tg = tg.contiguous(memory_format=torch.channels_last)
        w = torch.ones(c, requires_grad=True)
        b = torch.zeros(c, requires_grad=True)

        def step():
            tx.grad = w.grad = b.grad = None
            y = torch.nn.functional.batch_norm(tx, None, None, w, b, training=True, eps=1e-3)
            y.backward(tg)
        return _time(step, samples, budget)
    if engine == "ge-kernels":
        from kernels.cpu.batchnorm import bn_backward, bn_forward
        x2 = x.reshape(-1, c)[:, :, None]
        g2 = g.reshape(-1, c)[:, :, None]
        sc, of = np.ones(c, np.float32), np.zeros(c, np.float32)
        y, m, v = np.empty_like(x2), np.empty(c, np.float32), np.empty(c, np.float32)
        dx, ds, do = np.empty_like(x2), np.empty(c, np.float32), np.empty(c, np.float32)
        z = np.zeros(c, np.float32)

        def step():
            bn_forward(x2, sc, of, y, m, v, 1e-3, False)
            bn_backward(g2, x2, sc, m, v, z, z, dx, ds, do, 1e-3, False)
        return _time(step, samples, budget)
    import graphengine as ge
    xp = ge.placeholder(ge.float32, (None,) + shape[1:])
    gp = ge.placeholder(ge.float32, (None,) + shape[1:])
    scale = ge.Variable(np.ones(c, np.float32))
    offset = ge.Variable(np.zeros(c, np.float32))
    y, _, _ = ge.nn.fused_batch_norm(xp, scale, offset, epsilon=1e-3)
    dx, dscale, doffset = ge.gradients(y, [xp, scale, offset], grad_ys=gp)
    # batch_norm_grad writes dx, d(scale) and d(offset) in one kernel: fetching the two small
    # ones runs the whole backward while dx stays in the step (as the layer below would use it)
    fetches = [dscale, doffset]
    assert dx is not None
    sess = ge.Session()
    sess.run(ge.global_variables_initializer())
    f = sess.make_callable(fetches, [xp, gp])
    assert sess.plan_info(fetches, {xp: x, gp: g})["executor"] == "compiled step"
    return _time(lambda: f(x, g), samples, budget)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.bn", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="one round, short timings (a smoke run)")
    p.add_argument("--json", help="write the results here")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds of one process per engine")
    p.add_argument("--child", nargs=2, metavar=("ENGINE", "SHAPE"), help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    samples, budget = (5, 0.3) if a.quick else (7, 1.5)
    if a.child:
        print(json.dumps(_child(a.child[0], SHAPES[a.child[1]], samples, budget)))
        return 0
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), OPENBLAS_NUM_THREADS=str(a.threads),
               MKL_NUM_THREADS=str(a.threads), NUMBA_NUM_THREADS=str(a.threads))
    rounds = 1 if a.quick else a.rounds
    times: dict[tuple[str, str], list[float]] = {}
    for r in range(rounds):
        order = ENGINES if r % 2 == 0 else ENGINES[::-1]
        for shape in SHAPES:
            for eng in order:
                out = subprocess.run([sys.executable, "-m", "bench.bn", "--child", eng, shape]
                                     + (["--quick"] if a.quick else []),
                                     env=env, capture_output=True, text=True, check=True)
                times.setdefault((shape, eng), []).extend(json.loads(out.stdout.strip().splitlines()[-1]))
    rows = []
    print(f"batch norm forward+backward, float32, {a.threads} thread(s), median of {samples * rounds} timings")
    print(f"{'shape':<14} {'engine':<12} {'ms':>8} {'vs torch':>9}")
    for shape in SHAPES:
        ref = statistics.median(times[(shape, "torch")])
        for eng in ENGINES:
            med = statistics.median(times[(shape, eng)])
            rows.append({"shape": shape, "engine": eng, "ms": med * 1e3, "ratio_vs_torch": med / ref,
                         "samples": len(times[(shape, eng)])})
            print(f"{shape:<14} {eng:<12} {med * 1e3:8.3f} {med / ref:8.2f}x")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"threads": a.threads, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
