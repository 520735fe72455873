"""CPU vs GPU: training steps/s of the MLP 784-512-512-10 (SGD and Adam) over batch sizes.

    python -m bench.gpu_vs_cpu                 # full sweep, batch 32 -> 8192, every GPU launch mode
    python -m bench.gpu_vs_cpu --quick         # short sweep (the default when no GPU is present)
    python -m bench.gpu_vs_cpu --json out.json --plot out.png

Runs the same graph with ``ge.Session()`` (CPU) and ``ge.Session(device="gpu", jit=mode)`` for
each GPU launch mode ("op": a launch per op; "graph": the whole step as one CUDA graph with the
built-in tiled GEMM; "segments": graphs between cuBLAS matmuls), and PyTorch CUDA eager when
installed. Before timing it checks that CPU and GPU losses and gradients agree (target 1e-5
relative, float32), and measures the fused softmax-cross-entropy (forward + backward in one
kernel) against the device-to-device copy bandwidth. Prints steps/s, the best GPU mode's speedup
over the CPU and over PyTorch, the share of a GPU step spent copying feeds in and the loss out;
saves a plot of steps/s vs batch size. Without a GPU it says so and still measures the CPU column.
Under the CUDA simulator (NUMBA_ENABLE_CUDASIM=1, tiny --sizes) the GPU columns run the
simulator: that checks this script, not speed.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import numpy as np

import graphengine as ge

SIZES = (784, 512, 512, 10)
FULL_BATCHES = (32, 128, 512, 2048, 8192)
QUICK_BATCHES = (32, 256, 2048)
MODES = ("op", "graph", "segments")
XENT_SHAPES = ((4194304, 10), (65536, 1000))
AGREE_RTOL = 1e-5


def build(opt: str, sizes: tuple = SIZES, seed: int = 0) -> tuple:
    ge.reset_default_graph()
    rng = np.random.default_rng(seed)
    x = ge.placeholder(ge.float32, (None, sizes[0]), name="x")
    y = ge.placeholder(ge.int64, (None,), name="y")
    h, params = x, []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        w = ge.Variable((rng.standard_normal((a, b)) * np.sqrt(2 / a)).astype(np.float32), name=f"w{i}")
        bias = ge.Variable(np.zeros(b, np.float32), name=f"b{i}")
        params += [w, bias]
        h = ge.matmul(h, w) + bias
        if i < len(sizes) - 2:
            h = ge.nn.relu(h)
    loss = ge.reduce_mean(ge.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=h))
    optimizer = ge.train.AdamOptimizer(1e-3) if opt == "adam" else ge.train.GradientDescentOptimizer(0.05)
    return x, y, loss, optimizer.minimize(loss), params


def data(batch: int, sizes: tuple = SIZES, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((batch, sizes[0])).astype(np.float32), rng.integers(0, sizes[-1], batch)


def gpu_status() -> str | None:
    """None when the GPU backend can run, else why not."""
    try:
        ge.Session(device="gpu").close()
    except Exception as e:  # noqa: BLE001 - CudaUnavailableError and friends: report, keep going
        return f"{type(e).__name__}: {e}"
    return None


def gpu_name(arrays: Any) -> str:
    if hasattr(arrays, "cp"):
        props = arrays.cp.cuda.runtime.getDeviceProperties(0)
        return props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
    from kernels.cuda.device import SIMULATOR
    return "Numba CUDA simulator (not a GPU: timings mean nothing)" if SIMULATOR else "CUDA device (Numba)"


def time_steps(run: Any, min_steps: int, min_seconds: float, sync: Any = None) -> float:
    """Calls per second, after three warm-up calls (a captured mode records on its second run);
    ``sync`` waits for the device before reading the clock (GraphEngine's fetch of the loss
    already waits, PyTorch needs it)."""
    for _ in range(3):
        run()
    if "graphengine.backends.cpu.background" in sys.modules:   # compiled steps, not interim ones
        sys.modules["graphengine.backends.cpu.background"].wait_all()
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
                     jit: str | None = None, transfer: bool = False) -> dict:
    x, y, loss, train, _ = build(opt, args.sizes)
    xs, ys = data(batch, args.sizes)
    with ge.Session(device=device, jit=jit) as s:
        s.run(ge.global_variables_initializer())
        rate = time_steps(lambda: s.run([loss, train], {x: xs, y: ys}), args.min_steps, args.min_seconds)
        share = transfer_share(s, xs, ys, rate) if transfer else None
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
    sizes = args.sizes
    layers: list = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers).to(dev)
    optim = torch.optim.Adam(model.parameters(), 1e-3) if opt == "adam" else \
        torch.optim.SGD(model.parameters(), 0.05)
    xs, ys = data(batch, sizes)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step() -> None:
        xb, yb = torch.from_numpy(xs).to(dev), torch.from_numpy(ys).to(dev)
        optim.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), yb)
        loss.backward()
        optim.step()
        loss.item()  # fetch the loss, as the GraphEngine runs do
    return time_steps(step, args.min_steps, args.min_seconds, torch.cuda.synchronize)


def check_agreement(opt: str, jit: str | None, sizes: tuple, batch: int = 64, steps: int = 3) -> dict:
    """CPU vs GPU over a few training steps: the largest relative difference of the losses, and
    of the gradients (each tensor's difference over its largest magnitude)."""
    runs = {}
    xs, ys = data(batch, sizes)
    for device in ("cpu", "gpu"):
        x, y, loss, train, params = build(opt, sizes)
        grads = ge.gradients(loss, params)
        with ge.Session(device=device, jit=jit if device == "gpu" else None) as s:
            s.run(ge.global_variables_initializer())
            runs[device] = [s.run([loss, grads, train], {x: xs, y: ys})[:2] for _ in range(steps)]
    loss_diff = grad_diff = 0.0
    for (lc, gc), (lg, gg) in zip(runs["cpu"], runs["gpu"], strict=True):
        loss_diff = max(loss_diff, abs(float(lg) - float(lc)) / max(abs(float(lc)), 1e-30))
        for a, b in zip(gc, gg, strict=True):
            grad_diff = max(grad_diff, float(np.max(np.abs(b - a)) / max(np.max(np.abs(a)), 1e-30)))
    return {"loss": loss_diff, "grad": grad_diff, "ok": max(loss_diff, grad_diff) <= AGREE_RTOL}


def xent_bandwidth(rows: int, cols: int, min_seconds: float) -> dict:
    """The fused sparse softmax-cross-entropy kernel (loss and backprop in one pass) against a
    device-to-device copy of the logits, both as bytes moved per second."""
    from graphengine.backends.cuda.backend import CudaBackend
    from kernels.cuda import device
    from kernels.registry import get_kernel
    arrays = CudaBackend().arrays
    kern = get_kernel("sparse_softmax_xent", "cuda")
    rng = np.random.default_rng(0)
    with device.using(arrays):
        x = arrays.upload(rng.standard_normal((rows, cols)).astype(np.float32))
        y = arrays.upload(rng.integers(0, cols, rows))
        dst = arrays.empty((rows, cols), np.float32)
        xent = time_steps(lambda: kern({}, x, y), 3, min_seconds, arrays.synchronize)
        copy = time_steps(lambda: arrays.copy_into(dst, x), 3, min_seconds, arrays.synchronize)
    logits = rows * cols * 4
    xent_bytes = 2 * logits + rows * (8 + 4)   # read logits + labels, write backprop + loss
    copy_bytes = 2 * logits                    # read + write
    out = {"rows": rows, "cols": cols, "xent_GBps": xent * xent_bytes / 1e9,
           "copy_GBps": copy * copy_bytes / 1e9}
    out["ratio"] = out["xent_GBps"] / out["copy_GBps"]
    return out


def fmt(v: float | None, spec: str = "9.1f", unit: str = "") -> str:
    width = int(spec.split(".")[0]) + len(unit)
    return (format(v, spec) + unit) if v is not None else format("n/a", f">{width}")


def plot(results: list[dict], path: str, gpu_note: str | None, modes: list[str], sizes: tuple,
         gpu: str | None = None) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    series = [("cpu", "CPU", "-o")] + [(f"gpu_{m}", f"GPU jit={m}", "-s") for m in modes] + \
        [("torch", "PyTorch CUDA", "--^")]
    for opt in sorted({r["opt"] for r in results}):
        rows = [r for r in results if r["opt"] == opt]
        bs = [r["batch"] for r in rows]
        for key, label, style in series:
            ys = [r.get(key) for r in rows]
            if any(v is not None for v in ys):
                ax.plot(bs, [np.nan if v is None else v for v in ys], style, label=f"{label} ({opt})")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("batch size")
    ax.set_ylabel("training steps / s")
    title = f"MLP {'-'.join(map(str, sizes))}: steps/s vs batch size"
    ax.set_title(title + ("\n(no GPU: CPU only)" if gpu_note else f"\nGPU: {gpu}" if gpu else ""), fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="batch sizes 32, 256, 2048 and short timings")
    p.add_argument("--batches", type=int, nargs="*", help="batch sizes (default 32 .. 8192)")
    p.add_argument("--opt", nargs="*", default=["sgd", "adam"], choices=["sgd", "adam"])
    p.add_argument("--modes", nargs="*", default=list(MODES), choices=list(MODES),
                   help="GPU launch modes to time (see graphengine/backends/cuda/backend.py)")
    p.add_argument("--sizes", default=",".join(map(str, SIZES)), help="MLP layer sizes, e.g. 784,512,512,10")
    p.add_argument("--xent-shapes", default=",".join(f"{r}x{c}" for r, c in XENT_SHAPES),
                   help="logits shapes for the fused cross-entropy bandwidth check ('' to skip)")
    p.add_argument("--no-cpu", action="store_true", help="skip the CPU column (GPU sessions short of time)")
    p.add_argument("--plot", default="bench/gpu_vs_cpu.png", help="where to save the plot")
    p.add_argument("--json", default=None, help="also write every number to this JSON file")
    p.add_argument("--min-steps", type=int, default=None)
    p.add_argument("--min-seconds", type=float, default=None)
    args = p.parse_args(argv)
    args.sizes = tuple(int(v) for v in args.sizes.split(","))

    note = gpu_status()
    quick = args.quick or note is not None and not args.batches
    batches = args.batches or (QUICK_BATCHES if quick else FULL_BATCHES)
    args.min_steps = args.min_steps or (2 if quick else 10)
    args.min_seconds = args.min_seconds if args.min_seconds is not None else (0.3 if quick else 2.0)
    report: dict = {"sizes": args.sizes, "gpu": None, "no_gpu_reason": note, "agreement": {},
                    "xent": [], "steps": []}
    if note:
        print(f"No GPU: {note}\nMeasuring the CPU column only.\n")
        modes: list[str] = []
    else:
        from graphengine.backends.cuda.backend import CudaBackend
        report["gpu"] = gpu_name(CudaBackend().arrays)
        modes = args.modes
        print(f"GPU: {report['gpu']}")
        for opt in args.opt:
            for mode in modes:
                a = check_agreement(opt, mode, args.sizes)
                report["agreement"][f"{opt}/{mode}"] = a
                print(f"CPU/GPU agreement ({opt}, jit={mode}, 3 steps): loss {a['loss']:.1e}, "
                      f"gradients {a['grad']:.1e} (target {AGREE_RTOL:.0e}) {'OK' if a['ok'] else 'MISMATCH'}")
        for shape in filter(None, args.xent_shapes.split(",")):
            r, c = (int(v) for v in shape.split("x"))
            xb = xent_bandwidth(r, c, args.min_seconds)
            report["xent"].append(xb)
            print(f"fused softmax-xent {r}x{c}: {xb['xent_GBps']:.0f} GB/s vs copy {xb['copy_GBps']:.0f} GB/s"
                  f" = {100 * xb['ratio']:.0f}% (target 80%)")
    print(f"\nMLP {'-'.join(map(str, args.sizes))}, float32; training steps/s (higher is better)\n")
    head = (f"{'opt':>5} {'batch':>6} {'CPU':>9} " + " ".join(f"{'GPU:' + m:>12}" for m in modes) +
            f" {'best/CPU':>9} {'transfer':>9} {'torch':>9} {'best/torch':>10}")
    print(head)
    print("-" * len(head))
    for opt in args.opt:
        for b in batches:
            row: dict = {"opt": opt, "batch": b, "cpu": None, "torch": None}
            if not args.no_cpu:
                row["cpu"] = graphengine_rate("cpu", opt, b, args)["rate"]
            share = None
            for i, mode in enumerate(modes):  # the transfer share: measured once, in the first mode
                g = graphengine_rate("gpu", opt, b, args, jit=mode, transfer=i == 0)
                row[f"gpu_{mode}"] = g["rate"]
                share = g["transfer"] if i == 0 else share
            best = max((row[f"gpu_{m}"] for m in modes), default=None)
            row["gpu_best"], row["transfer"] = best, share
            if modes:
                row["torch"] = torch_rate(opt, b, args)
            report["steps"].append(row)
            ratio = lambda a, c: a / c if a and c else None  # noqa: E731
            print(f"{opt:>5} {b:>6} {fmt(row['cpu'])} "
                  + " ".join(fmt(row[f"gpu_{m}"], "12.1f") for m in modes)
                  + f" {fmt(ratio(best, row['cpu']), '8.2f', 'x')}"
                  f" {fmt(None if share is None else 100 * share, '8.1f', '%')} {fmt(row['torch'])}"
                  f" {fmt(ratio(best, row['torch']), '9.2f', 'x')}", flush=True)
    os.makedirs(os.path.dirname(os.path.abspath(args.plot)), exist_ok=True)
    plot(report["steps"], args.plot, note, modes, args.sizes, report["gpu"])
    print(f"\nplot saved to {args.plot}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2, default=str)
        print(f"numbers saved to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
