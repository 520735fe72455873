"""``python -m bench.cnn``: the LeNet-style CNN training step, graphengine vs PyTorch eager.

Model (issue 13): 28x28x1 -> conv 5x5x32 SAME + ReLU -> maxpool 2 -> conv 5x5x64 SAME + ReLU ->
maxpool 2 -> fc 1024 + ReLU -> fc 10, sparse softmax cross-entropy (batch mean), Adam, B=128,
float32. Weights come from one NumPy seed (HWIO filters, converted for PyTorch's OIHW and its
NCHW flatten order), the batch from another; every engine's step-1 loss is checked against the
others'.

Rows (each engine in its OWN process, started with its own default settings except the thread
count; the processes stay up and take turns, A B A B ..., so load that comes and goes hits all
alike; median of the rounds):
  graphengine sess.run    ``sess.run([train, loss], feed_dict)``
  graphengine callable    ``sess.make_callable([train, loss], [x, y])``
  PyTorch eager           the same step with torch.nn.functional and torch.optim.Adam
  conv GEMM floor         the step's convolution GEMMs alone (conv1: fwd, dW; conv2: fwd, dW,
                          dX) through graphengine's BLAS path (np.dot from Numba), each the
                          faster of one whole GEMM and the kernels' cache-sized chunks
  all-GEMM floor          the same plus the dense layers' GEMMs
And the conv2d kernels alone, forward + backward on each layer's shapes (conv1 without the input
gradient, as training needs none), graphengine's vs PyTorch's (``aten.convolution_backward``).

    python -m bench.cnn [--quick] [--threads 1] [--rounds 7] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
B, LR = 128, 1e-3
CONVS = [((B, 28, 28, 1), (5, 5, 1, 32)), ((B, 14, 14, 32), (5, 5, 32, 64))]  # (x NHWC, filter HWIO)
FCS = [(7 * 7 * 64, 1024), (1024, 10)]
STEP_KINDS = ["ge-run", "ge-callable", "torch", "floor"]
KERNEL_KINDS = ["ge-kernels", "torch-kernels"]
LABEL = {"ge-run": "graphengine sess.run", "ge-callable": "graphengine make_callable", "torch": "PyTorch eager",
         "floor": "GEMM floor", "ge-kernels": "graphengine kernels", "torch-kernels": "PyTorch kernels"}


def make_params(seed: int = 0) -> list:
    """[W1, b1, W2, b2, W3, b3, W4, b4]: Glorot-uniform (TF's fans for HWIO filters), zero biases."""
    import numpy as np
    rng = np.random.default_rng(seed)
    out = []
    for shape in [w for _, w in CONVS] + FCS:
        receptive = shape[0] * shape[1] if len(shape) == 4 else 1
        fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
        lim = np.sqrt(6.0 / (fan_in + fan_out))
        out += [rng.uniform(-lim, lim, shape).astype(np.float32), np.zeros(shape[-1], np.float32)]
    return out


def make_data(seed: int = 1) -> tuple:
    import numpy as np
    rng = np.random.default_rng(seed)
    return rng.standard_normal((B, 28, 28, 1)).astype(np.float32), rng.integers(0, 10, B).astype(np.int64)


# ----- engines (child side): each returns (run(n) -> seconds for n steps, step-1 loss) ------------

def _ge_step(mode: str):
    import graphengine as ge
    ps, (x, y) = make_params(), make_data()
    xp = ge.placeholder(ge.float32, (None, 28, 28, 1), name="x")
    yp = ge.placeholder(ge.int64, (None,), name="y")
    v = [ge.Variable(p, name=f"p{i}") for i, p in enumerate(ps)]
    h = xp
    for i in range(2):
        h = ge.nn.relu(ge.nn.bias_add(ge.nn.conv2d(h, v[2 * i], 1, "SAME"), v[2 * i + 1]))
        h = ge.nn.max_pool(h, 2, 2, "SAME")
    h = ge.nn.relu(ge.matmul(ge.reshape(h, (-1, FCS[0][0])), v[4]) + v[5])
    logits = ge.matmul(h, v[6]) + v[7]
    loss = ge.reduce_mean(ge.nn.sparse_softmax_cross_entropy_with_logits(labels=yp, logits=logits))
    train = ge.train.AdamOptimizer(LR, 0.9, 0.999, 1e-8).minimize(loss)
    from graphengine.backends.cpu.step import COMPILE_COUNT
    sess = ge.Session()
    sess.run(ge.global_variables_initializer())
    before = COMPILE_COUNT[0]
    if mode == "run":
        fetches = [train, loss]
        step = lambda: sess.run(fetches, {xp: x, yp: y})[1]  # noqa: E731
    else:
        f = sess.make_callable([train, loss], [xp, yp])
        step = lambda: f(x, y)[1]  # noqa: E731
    first = float(step())
    from graphengine.backends.cpu import background
    background.wait_all()   # steady state: the compiled step (the first steps ran the interim one)
    if COMPILE_COUNT[0] == before:
        raise RuntimeError("the CNN step was not compiled into one function (jit='step' fell back to op by op)")
    return _loop(step), first


def _torch_step():
    import numpy as np
    import torch
    import torch.nn.functional as F
    ps = make_params()
    ps[0], ps[2] = (np.ascontiguousarray(w.transpose(3, 2, 0, 1)) for w in (ps[0], ps[2]))  # HWIO -> OIHW
    # graphengine flattens (h, w, c), PyTorch (c, h, w): permute fc1's rows to match
    ps[4] = np.ascontiguousarray(ps[4].reshape(7, 7, 64, -1).transpose(2, 0, 1, 3).reshape(FCS[0][0], -1))
    t = [torch.tensor(p, requires_grad=True) for p in ps]
    opt = torch.optim.Adam(t, lr=LR, betas=(0.9, 0.999), eps=1e-8)
    x, y = make_data()
    x, y = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))), torch.from_numpy(y)

    def step():
        h = x
        for i in range(2):
            h = F.max_pool2d(F.relu(F.conv2d(h, t[2 * i], t[2 * i + 1], padding=2)), 2, 2)
        h = F.relu(torch.addmm(t[5], h.reshape(B, -1), t[4]))
        loss = F.cross_entropy(torch.addmm(t[7], h, t[6]), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()
    first = step()
    return _loop(step), first


def _loop(step):
    def run(n: int) -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            step()
        return time.perf_counter() - t0
    return run


def _gemm_shapes() -> tuple[list, list]:
    """[(m, k, n, ta, tb)] of the step's convolution GEMMs, and of its dense layers'."""
    conv = []
    for i, ((n, h, w, c), (kh, kw, _, o)) in enumerate(CONVS):
        rows, k = n * h * w, kh * kw * c       # SAME, stride 1: output size = input size
        conv += [(rows, k, o, False, False), (k, rows, o, True, False)]   # forward, filter gradient
        if i:
            conv.append((rows, o, k, False, True))                         # input gradient
    dense = []
    for i, (fi, fo) in enumerate(FCS):
        dense += [(B, fi, fo, False, False), (fi, B, fo, True, False)]
        if i:
            dense.append((B, fo, fi, False, True))
    return conv, dense


def _floor():
    """Both floors per call: (conv GEMMs, conv + dense GEMMs), each GEMM at the faster of one
    whole call and CHUNK-sized row blocks (what kernels.cpu.conv does)."""
    import numpy as np

    from kernels.cpu.conv import CHUNK
    from kernels.cpu.linalg import MATMUL
    rng = np.random.default_rng(0)
    conv, dense = _gemm_shapes()

    def prepare(m, k, n, ta, tb):
        a = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
        b = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
        out = np.empty((m, n), np.float32)
        fn = MATMUL[(ta, tb)]
        whole = lambda: fn(a, b, out)  # noqa: E731
        rows = max(1, CHUNK // max(m if ta else max(k, n), 1))   # the kernels' block of rows
        if ta:   # filter gradient: blocks of the summed dimension
            parts = [(a[r:r + rows], b[r:r + rows]) for r in range(0, k, rows)]
            chunked = lambda: [fn(pa, pb, out) for pa, pb in parts]  # noqa: E731
        else:
            parts = [(a[r:r + rows], out[r:r + rows]) for r in range(0, m, rows)]
            chunked = lambda: [fn(pa, b, po) for pa, po in parts]  # noqa: E731
        best = min((whole, chunked), key=lambda f: _best_of(f, 3))
        return best

    conv_fns = [prepare(*s) for s in conv]
    dense_fns = [prepare(*s) for s in dense]

    def run(n: int) -> dict:
        t0 = time.perf_counter()
        for _ in range(n):
            for f in conv_fns:
                f()
        t1 = time.perf_counter()
        for _ in range(n):
            for f in dense_fns:
                f()
        t2 = time.perf_counter()
        return {"conv": t1 - t0, "all": t2 - t0}
    return run, None


def _best_of(f, n: int) -> float:
    f()
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return min(ts)


def _ge_kernels():
    import numpy as np

    from kernels.cpu import conv as K
    rng = np.random.default_rng(0)
    cases = []
    for i, (xs, ws) in enumerate(CONVS):
        x, w = rng.standard_normal(xs).astype(np.float32), rng.standard_normal(ws).astype(np.float32)
        y = np.empty(xs[:3] + ws[3:], np.float32)
        dy = rng.standard_normal(y.shape).astype(np.float32)
        dx, dw = np.empty_like(x), np.empty_like(w)
        cases.append((x, w, y, dy, dx, dw, i > 0))

    def run(n: int) -> dict:
        out = {}
        for i, (x, w, y, dy, dx, dw, need_dx) in enumerate(cases):
            t0 = time.perf_counter()
            for _ in range(n):
                K.conv2d_nhwc(x, w, y, 1, 1, 1, 1, True)
                K.conv2d_backprop_filter_nhwc(x, dy, dw, 1, 1, 1, 1, True)
                if need_dx:
                    K.conv2d_backprop_input_nhwc(dy, w, dx, 1, 1, 1, 1, True)
            out[f"conv{i + 1}"] = time.perf_counter() - t0
        return out
    run(1)
    return run, None


def _torch_kernels():
    import torch
    import torch.nn.functional as F
    gen = torch.Generator().manual_seed(0)
    cases = []
    for i, ((n, h, w, c), (kh, kw, _, o)) in enumerate(CONVS):
        x = torch.randn(n, c, h, w, generator=gen)
        wt = torch.randn(o, c, kh, kw, generator=gen)
        dy = torch.randn(n, o, h, w, generator=gen)
        cases.append((x, wt, dy, [i > 0, True, False], kh // 2))
    conv_bwd = torch.ops.aten.convolution_backward

    def run(n: int) -> dict:
        out = {}
        with torch.no_grad():
            for i, (x, wt, dy, mask, pad) in enumerate(cases):
                t0 = time.perf_counter()
                for _ in range(n):
                    F.conv2d(x, wt, padding=pad)
                    conv_bwd(dy, x, wt, None, [1, 1], [pad, pad], [1, 1], False, [0, 0], 1, mask)
                out[f"conv{i + 1}"] = time.perf_counter() - t0
        return out
    run(1)
    return run, None


ENGINES = {"ge-run": lambda: _ge_step("run"), "ge-callable": lambda: _ge_step("callable"), "torch": _torch_step,
           "floor": _floor, "ge-kernels": _ge_kernels, "torch-kernels": _torch_kernels}


def child(kind: str) -> int:
    """Serve one engine: print a ready line, then run ``n`` steps per request line."""
    if kind.startswith("torch"):
        import torch
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    t0 = time.perf_counter()
    run, first = ENGINES[kind]()
    print(json.dumps({"ready": True, "build_s": time.perf_counter() - t0, "loss1": first}), flush=True)
    for line in sys.stdin:
        n = int(line)
        if n <= 0:
            break
        r = run(n)
        print(json.dumps({"n": n, "s": r}), flush=True)
    return 0


# ----- parent side ---------------------------------------------------------------------------------

class Child:
    def __init__(self, kind: str, threads: int) -> None:
        env = dict(os.environ, **{k: str(threads) for k in THREAD_VARS})
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        self.kind = kind
        self.p = subprocess.Popen([sys.executable, "-m", "bench.cnn", "--child", kind], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, env=env, cwd=root)
        self.ready = self._read()

    def _read(self) -> dict:
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError(f"bench.cnn child {self.kind!r} died (exit {self.p.wait()})")
        return json.loads(line)

    def run(self, n: int) -> Any:
        self.p.stdin.write(f"{n}\n")
        self.p.stdin.flush()
        return self._read()["s"]

    def close(self) -> None:
        if self.p.poll() is None:
            self.p.stdin.write("0\n")
            self.p.stdin.flush()
            self.p.wait(timeout=60)


def _total(s: Any) -> float:
    return s if isinstance(s, float) else s["all"] if "all" in s else sum(s.values())


def measure(kinds: list[str], threads: int, rounds: int, target_s: float) -> dict:
    children = [Child(k, threads) for k in kinds]   # built one after another, then all stay up
    try:
        per = {c.kind: max(_total(c.run(1)), 1e-6) for c in children}   # warm-up; sizes a turn
        counts = {k: max(1, int(target_s / t)) for k, t in per.items()}
        samples: dict[str, list] = {c.kind: [] for c in children}
        for _ in range(rounds):
            for c in children:                       # A B A B ...: one turn each per round
                time.sleep(0.2)                      # the previous engine's threads go idle
                s = c.run(counts[c.kind])
                n = counts[c.kind]
                samples[c.kind].append({k: v / n for k, v in s.items()} if isinstance(s, dict) else s / n)
        return {c.kind: {"build_s": c.ready["build_s"], "loss1": c.ready["loss1"], "per_step": samples[c.kind]}
                for c in children}
    finally:
        for c in children:
            c.close()


def _median(xs: list, key: str | None = None) -> float:
    return statistics.median(x[key] if key else x for x in xs)


def step_table(res: dict) -> tuple[str, dict]:
    ms = {k: _median(v["per_step"]) * 1e3 for k, v in res.items() if k != "floor"}
    conv_floor = _median(res["floor"]["per_step"], "conv") * 1e3
    all_floor = _median(res["floor"]["per_step"], "all") * 1e3
    losses = {k: v["loss1"] for k, v in res.items() if v["loss1"] is not None}
    ref = losses.get("torch")
    lines = ["| engine | ms / step | steps/s | vs PyTorch | / conv GEMMs | / all GEMMs | step-1 loss |",
             "|---|---|---|---|---|---|---|"]
    for k, t in ms.items():
        vs = f"{ms['torch'] / t:.2f}x" if "torch" in ms else "-"
        lines.append(f"| {LABEL[k]} | {t:.1f} | {1e3 / t:.2f} | {vs} | {t / conv_floor:.2f} | {t / all_floor:.2f} | "
                     f"{losses[k]:.6f} |")
    lines.append(f"| conv GEMMs alone | {conv_floor:.1f} | | | 1.00 | | |")
    lines.append(f"| all GEMMs alone | {all_floor:.1f} | | | | 1.00 | |")
    ok = ref is None or all(abs(v - ref) <= 1e-4 * abs(ref) for v in losses.values())
    summary = {"ms_per_step": ms, "conv_gemm_floor_ms": conv_floor, "all_gemm_floor_ms": all_floor,
               "loss1": losses, "loss_check_ok": ok}
    lines.append("")
    lines.append("speed-up vs PyTorch > 1 means graphengine is faster; '/ GEMMs' is the step's time over the "
                 "time of those GEMMs alone. Step-1 losses " + ("agree (rel. 1e-4)." if ok else "DIFFER."))
    return "\n".join(lines), summary


def kernel_table(res: dict) -> tuple[str, dict]:
    lines = ["| conv2d fwd + bwd | graphengine ms | PyTorch ms | graphengine / PyTorch |", "|---|---|---|---|"]
    out = {}
    for i, (xs, ws) in enumerate(CONVS):
        key = f"conv{i + 1}"
        g = _median(res["ge-kernels"]["per_step"], key) * 1e3
        t = _median(res["torch-kernels"]["per_step"], key) * 1e3
        out[key] = {"graphengine_ms": g, "torch_ms": t, "ratio": g / t}
        what = "fwd, dW" if i == 0 else "fwd, dW, dX"
        lines.append(f"| {key} x{xs} w{ws} ({what}) | {g:.1f} | {t:.1f} | {g / t:.2f} |")
    return "\n".join(lines), out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.cnn", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="3 short rounds (about a minute)")
    p.add_argument("--threads", type=int, default=1, help="threads of every engine (BLAS, OpenMP, Numba, torch)")
    p.add_argument("--rounds", type=int, help="alternating rounds (median reported; default 7, quick 3)")
    p.add_argument("--json", metavar="OUT", help="also write the measurements to this JSON file")
    p.add_argument("--skip-kernels", action="store_true", help="only the training step")
    p.add_argument("--child", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child:
        return child(a.child)
    rounds = a.rounds or (3 if a.quick else 7)
    target = 0.3 if a.quick else 1.5
    print(f"LeNet CNN B={B}, {a.threads} thread(s), {rounds} rounds, load avg {os.getloadavg()[0]:.1f}", flush=True)
    report: dict[str, Any] = {"threads": a.threads, "rounds": rounds, "load_avg": os.getloadavg()}
    res = measure(STEP_KINDS, a.threads, rounds, target)
    table, report["step"] = step_table(res)
    report["step_raw"] = res
    print("\ntraining step (sess.run and make_callable: feeds + fetch of the loss included)\n" + table)
    if not a.skip_kernels:
        kres = measure(KERNEL_KINDS, a.threads, rounds, target / 2)
        ktable, report["kernels"] = kernel_table(kres)
        report["kernels_raw"] = kres
        print("\nconv2d kernels alone (forward + backward; median ms per call)\n" + ktable)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1)
        print(f"\nwrote {a.json}")
    return 0 if report["step"]["loss_check_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
