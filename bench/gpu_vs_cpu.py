"""CPU vs GPU: training steps/s of the MLP 784-512-512-10 (SGD and Adam) over batch sizes.

    python -m bench.gpu_vs_cpu            # full sweep, batch 32 -> 8192
    python -m bench.gpu_vs_cpu --quick    # short sweep (the default when no GPU is present)

Runs the same graph with ``ge.Session()`` (CPU) and ``ge.Session(device="gpu")``, and PyTorch
CUDA eager when installed; checks that CPU and GPU losses agree; prints steps/s, the GPU speedup
and the share of a GPU step spent copying feeds in and the loss out; saves a plot of steps/s vs
batch size. Without a GPU it says so and still measures the CPU column.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import numpy as np

import graphengine as ge

SIZES = (784, 512, 512, 10)
FULL_BATCHES = (32, 128, 512, 2048, 8192)
QUICK_BATCHES = (32, 256, 2048)


def build(opt: str, seed: int = 0) -> tuple:
    ge.reset_default_graph()
    rng = np.random.default_rng(seed)
    x = ge.placeholder(ge.float32, (None, SIZES[0]), name="x")
    y = ge.placeholder(ge.int64, (None,), name="y")
    h = x
    for i, (a, b) in enumerate(zip(SIZES[:-1], SIZES[1:], strict=True)):
        w = ge.Variable((rng.standard_normal((a, b)) * np.sqrt(2 / a)).astype(np.float32), name=f"w{i}")
        bias = ge.Variable(np.zeros(b, np.float32), name=f"b{i}")
        h = ge.matmul(h, w) + bias
        if i < len(SIZES) - 2:
            h = ge.nn.relu(h)
    loss = ge.reduce_mean(ge.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=h))
    optimizer = ge.train.AdamOptimizer(1e-3) if opt == "adam" else ge.train.GradientDescentOptimizer(0.05)
    return x, y, loss, optimizer.minimize(loss)


def data(batch: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((batch, SIZES[0])).astype(np.float32), rng.integers(0, SIZES[-1], batch)


def gpu_status() -> str | None:
    """None when the GPU backend can run, else why not."""
    try:
        ge.Session(device="gpu").close()
    except Exception as e:  # noqa: BLE001 - CudaUnavailableError and friends: report, keep going
        return f"{type(e).__name__}: {e}"
    return None


def time_steps(run: Any, min_steps: int, min_seconds: float, sync: Any = None) -> float:
    """Steps per second, after two warm-up steps; ``sync`` waits for the device before reading
    the clock (GraphEngine's fetch of the loss already waits, PyTorch needs it)."""
    for _ in range(2):
        run()
    if sync:
        sync()
    n, t0 = 0, time.perf_counter()
    while n < min_steps or time.perf_counter() - t0 < min_seconds:
        run()
        n += 1
    if sync:
        sync()
    return n / (time.perf_counter() - t0)


def graphengine_rate(device: str, opt: str, batch: int, args: argparse.Namespace,
                     jit: str | None = None) -> dict:
    x, y, loss, train = build(opt)
    xs, ys = data(batch)
    with ge.Session(device=device, jit=jit) as s:
        s.run(ge.global_variables_initializer())
        rate = time_steps(lambda: s.run([loss, train], {x: xs, y: ys}), args.min_steps, args.min_seconds)
        share = transfer_share(s, xs, ys, rate) if device == "gpu" else None
    return {"rate": rate, "transfer": share}


def transfer_share(sess: ge.Session, xs: np.ndarray, ys: np.ndarray, rate: float) -> float | None:
    """Fraction of a GPU step spent on the feed uploads and the loss download."""
    arrays = getattr(sess.backend, "arrays", None)
    if arrays is None:
        return None
    from kernels.cuda import device
    with device.using(arrays):
        loss = arrays.empty((), np.float32)

        def copy() -> None:  # what a step moves: both feeds in, the scalar loss out
            arrays.upload(xs)
            arrays.upload(ys)
            arrays.download(loss)
        per = 1.0 / time_steps(copy, 5, 0.2, arrays.synchronize)
    return min(1.0, per * rate)


def torch_rate(opt: str, batch: int, args: argparse.Namespace) -> float | None:
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    dev = torch.device("cuda")
    layers: list = []
    for i, (a, b) in enumerate(zip(SIZES[:-1], SIZES[1:], strict=True)):
        layers.append(torch.nn.Linear(a, b))
        if i < len(SIZES) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers).to(dev)
    optim = torch.optim.Adam(model.parameters(), 1e-3) if opt == "adam" else \
        torch.optim.SGD(model.parameters(), 0.05)
    xs, ys = data(batch)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step() -> None:
        xb, yb = torch.from_numpy(xs).to(dev), torch.from_numpy(ys).to(dev)
        optim.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), yb)
        loss.backward()
        optim.step()
        loss.item()  # fetch the loss, as the GraphEngine runs do
    return time_steps(step, args.min_steps, args.min_seconds, torch.cuda.synchronize)


def check_agreement(opt: str, batch: int = 64, steps: int = 3) -> float:
    """Largest relative difference of the CPU and GPU losses over a few training steps."""
    losses = {}
    xs, ys = data(batch)
    for device in ("cpu", "gpu"):
        x, y, loss, train = build(opt)
        with ge.Session(device=device) as s:
            s.run(ge.global_variables_initializer())
            losses[device] = np.array([s.run([loss, train], {x: xs, y: ys})[0] for _ in range(steps)])
    return float(np.max(np.abs(losses["gpu"] - losses["cpu"]) / np.abs(losses["cpu"])))


def fmt(v: float | None, spec: str = "9.1f", unit: str = "") -> str:
    width = int(spec.split(".")[0]) + len(unit)
    return (format(v, spec) + unit) if v is not None else format("n/a", f">{width}")


def plot(results: list[dict], path: str, gpu_note: str | None) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for opt in sorted({r["opt"] for r in results}):
        rows = [r for r in results if r["opt"] == opt]
        bs = [r["batch"] for r in rows]
        for key, label, style in (("cpu", "CPU", "-o"), ("gpu", "GPU", "-s"),
                                  ("torch", "PyTorch CUDA", "--^")):
            ys = [r[key] for r in rows]
            if any(v is not None for v in ys):
                ax.plot(bs, [np.nan if v is None else v for v in ys], style, label=f"{label} ({opt})")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("batch size")
    ax.set_ylabel("training steps / s")
    title = "MLP 784-512-512-10: steps/s vs batch size"
    ax.set_title(title + ("\n(no GPU: CPU only)" if gpu_note else ""))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="batch sizes 32, 256, 2048 and short timings")
    p.add_argument("--batches", type=int, nargs="*", help="batch sizes (default 32 .. 8192)")
    p.add_argument("--opt", nargs="*", default=["sgd", "adam"], choices=["sgd", "adam"])
    p.add_argument("--jit", default=None, choices=[None, "op", "graph", "segments"],
                   help="GPU launch mode (see kernels/cuda/backend.py)")
    p.add_argument("--plot", default="bench/gpu_vs_cpu.png", help="where to save the plot")
    p.add_argument("--min-steps", type=int, default=None)
    p.add_argument("--min-seconds", type=float, default=None)
    args = p.parse_args(argv)

    note = gpu_status()
    quick = args.quick or note is not None and not args.batches
    batches = args.batches or (QUICK_BATCHES if quick else FULL_BATCHES)
    args.min_steps = args.min_steps or (2 if quick else 10)
    args.min_seconds = args.min_seconds if args.min_seconds is not None else (0.3 if quick else 2.0)
    if note:
        print(f"No GPU: {note}\nMeasuring the CPU column only.\n")
    else:
        from kernels.cuda.backend import CudaBackend
        arrays = CudaBackend().arrays
        name = arrays.cp.cuda.runtime.getDeviceProperties(0)["name"].decode() \
            if hasattr(arrays, "cp") else "CUDA device"
        print(f"GPU: {name}")
        for opt in args.opt:
            diff = check_agreement(opt)
            print(f"CPU/GPU loss agreement ({opt}, 3 steps): max relative difference {diff:.2e}"
                  f" {'OK' if diff < 1e-4 else 'MISMATCH'}")
    print(f"MLP {'-'.join(map(str, SIZES))}, float32; steps/s (higher is better)\n")
    head = f"{'opt':>5} {'batch':>6} {'CPU':>9} {'GPU':>9} {'speedup':>8} {'transfer':>9} {'torch':>9}"
    print(head)
    print("-" * len(head))
    results = []
    for opt in args.opt:
        for b in batches:
            cpu = graphengine_rate("cpu", opt, b, args)["rate"]
            gpu = share = None
            if note is None:
                g = graphengine_rate("gpu", opt, b, args, jit=args.jit)
                gpu, share = g["rate"], g["transfer"]
            tr = torch_rate(opt, b, args) if note is None else None
            results.append({"opt": opt, "batch": b, "cpu": cpu, "gpu": gpu, "torch": tr})
            speed = gpu / cpu if gpu else None
            print(f"{opt:>5} {b:>6} {fmt(cpu)} {fmt(gpu)} {fmt(speed, '7.2f', 'x')} "
                  f"{fmt(None if share is None else 100 * share, '8.1f', '%')} {fmt(tr)}", flush=True)
    os.makedirs(os.path.dirname(os.path.abspath(args.plot)), exist_ok=True)
    plot(results, args.plot, note)
    print(f"\nplot saved to {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
