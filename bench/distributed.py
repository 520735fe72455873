"""Data-parallel scaling on MPI: samples/s of 1 rank vs N ranks, and the allreduce's share.

    python -m bench.distributed            # 784-512-512-10 B=128/rank and 784-1024x3-10 B=256/rank
    python -m bench.distributed --quick    # the 784-512-512-10 model only, fewer repeats
    python -m bench.distributed --json out.json

Each configuration runs in its own ``mpiexec -n R`` job with one BLAS and one Numba thread per
rank. In each job every rank times (median over repeats) the compiled training step with
``DistributedOptimizer`` (at 1 rank it adds nothing), the same step without the allreduce, and
the allreduce alone (the step's own kernel on a buffer of the gradients' size). From these and
ring allreduce's cost, ``2 (N-1)/N x gradient bytes / link bandwidth + 2 (N-1) x latency``, it
prints the predicted step time on N machines and where the step becomes communication-bound.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

MODELS = {"mlp": ((784, 512, 512, 10), 128), "deep": ((784, 1024, 1024, 1024, 10), 256)}
LINKS_GBIT = (1, 10, 25, 100)   # Ethernet / InfiniBand speeds, Gbit/s
LATENCY_S = 20e-6               # per message over TCP; ~2 us on InfiniBand/RDMA


def _worker(model: str, opt: str, repeats: int, steps: int) -> None:
    import numpy as np

    import graphengine as ge
    import graphengine.distributed as hvd
    import kernels.cpu.mpi_lib  # noqa: F401  (MPI's symbols, before calling the kernel directly)
    from kernels.cpu.mpi import allreduce_inplace

    hvd.init()
    comm = hvd._mpi.comm()
    sizes, batch = MODELS[model]
    rng = np.random.default_rng(hvd.rank())
    xb = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    yb = rng.integers(0, sizes[-1], batch)

    def build(distributed: bool):
        ge.reset_default_graph()
        x = ge.placeholder(ge.float32, (None, sizes[0]))
        y = ge.placeholder(ge.int64, (None,))
        h = x
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            w = ge.get_variable(f"w{i}", (a, b), initializer=ge.initializers.glorot_uniform(seed=i))
            h = h @ w + ge.Variable(np.zeros(b, np.float32), name=f"b{i}")
            if i < len(sizes) - 2:
                h = ge.nn.relu(h)
        loss = ge.reduce_mean(ge.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=h))
        base = ge.train.GradientDescentOptimizer(0.01) if opt == "sgd" else ge.train.AdamOptimizer(1e-4)
        train = (hvd.DistributedOptimizer(base) if distributed else base).minimize(loss)
        sess = ge.Session()
        sess.run(ge.global_variables_initializer())
        grad_bytes = sum(int(np.prod(v.shape)) * 4 for v in ge.trainable_variables())
        return sess.make_callable([train, loss], [x, y]), grad_bytes

    def median_time(fn) -> float:
        for _ in range(3):
            fn()
        times = []
        for _ in range(repeats):
            comm.Barrier()
            t0 = time.perf_counter()
            for _ in range(steps):
                fn()
            times.append((time.perf_counter() - t0) / steps)
        return float(np.median(times))

    step, grad_bytes = build(True)
    t_step = median_time(lambda: step(xb, yb))
    alone, _ = build(False)
    t_plain = median_time(lambda: alone(xb, yb))
    buf = np.ones(grad_bytes // 4, np.float32)
    h = hvd._mpi.handles(np.float32)
    t_allreduce = median_time(lambda: allreduce_inplace(h, buf))
    worst = comm.allreduce(t_step, op=hvd._mpi.mpi().MAX)
    if hvd.rank() == 0:
        print("RESULT " + json.dumps({
            "model": model, "opt": opt, "ranks": hvd.size(), "batch_per_rank": batch,
            "grad_bytes": grad_bytes, "step_s": worst, "step_no_allreduce_s": t_plain,
            "allreduce_s": t_allreduce, "samples_per_s": batch * hvd.size() / worst}), flush=True)


def _mpiexec() -> str:
    import sysconfig
    found = shutil.which("mpiexec") or os.path.join(sysconfig.get_path("scripts"), "mpiexec")
    if not os.path.exists(found):
        sys.exit('mpiexec not found: pip install -e ".[mpi]"')
    return found


def _run(ranks: int, model: str, opt: str, repeats: int, steps: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               NUMBA_NUM_THREADS="1", OPENBLAS_THREAD_TIMEOUT="4")
    cmd = [_mpiexec(), "-n", str(ranks), sys.executable, "-m", "bench.distributed", "--worker",
           model, opt, str(repeats), str(steps)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900,
                       cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for line in r.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{' '.join(cmd)} failed (rc {r.returncode}):\n{r.stdout[-2000:]}{r.stderr[-3000:]}")


def ring_allreduce_s(n: int, grad_bytes: int, gbit: float, latency: float = LATENCY_S) -> float:
    """Ring allreduce: reduce-scatter + allgather, each N-1 messages of bytes/N per rank."""
    return 0.0 if n == 1 else 2 * (n - 1) / n * grad_bytes / (gbit * 1e9 / 8) + 2 * (n - 1) * latency


def model_table(one: dict) -> list[dict]:
    """Predicted step time on N machines (one rank each) for each link speed, from the measured
    1-rank step; the step is communication-bound when the allreduce takes longer than compute."""
    rows = []
    for gbit in LINKS_GBIT:
        bound_at = next((n for n in range(2, 4097)
                         if ring_allreduce_s(n, one["grad_bytes"], gbit) >= one["step_s"]), None)
        per_n = {n: one["step_s"] + ring_allreduce_s(n, one["grad_bytes"], gbit) for n in (2, 8, 64)}
        rows.append({"gbit": gbit, "comm_bound_from_n": bound_at,
                     "efficiency": {n: one["step_s"] / t for n, t in per_n.items()},
                     "bandwidth_term_s": 2 * one["grad_bytes"] / (gbit * 1e9 / 8)})  # its N -> inf limit
    return rows


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        _worker(argv[1], argv[2], int(argv[3]), int(argv[4]))
        return 0
    ap = argparse.ArgumentParser(prog="python -m bench.distributed", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="784-512-512-10 only, 3 repeats")
    ap.add_argument("--ranks", type=int, default=2, help="ranks of the scaled run (default 2)")
    ap.add_argument("--opt", default="sgd", choices=("sgd", "adam"))
    ap.add_argument("--json", help="write the results to this file")
    args = ap.parse_args(argv)
    models = ["mlp"] if args.quick else list(MODELS)
    repeats, steps = (3, 20) if args.quick else (7, 30)
    results = []
    for model in models:
        one = _run(1, model, args.opt, repeats, steps)
        many = _run(args.ranks, model, args.opt, repeats, steps)
        speedup = many["samples_per_s"] / one["samples_per_s"]
        share = max(0.0, 1 - many["step_no_allreduce_s"] / many["step_s"])
        sizes, batch = MODELS[model]
        print(f"\n{'-'.join(map(str, sizes))} {args.opt} B={batch}/rank, gradients {one['grad_bytes'] / 1e6:.2f} MB")
        print(f"  1 rank : {one['samples_per_s']:9,.0f} samples/s  (step {one['step_s'] * 1e3:.2f} ms)")
        print(f"  {args.ranks} ranks: {many['samples_per_s']:9,.0f} samples/s  (step {many['step_s'] * 1e3:.2f} ms, "
              f"without the allreduce {many['step_no_allreduce_s'] * 1e3:.2f} ms)  speed-up {speedup:.2f}x")
        print(f"  allreduce share of a step: {share:.1%} (step with vs without it); the allreduce alone "
              f"{many['allreduce_s'] * 1e3:.3f} ms = {many['grad_bytes'] / many['allreduce_s'] / 1e9:.2f} GB/s")
        table = model_table(one)
        print(f"  ring model, N machines x 1 rank, compute {one['step_s'] * 1e3:.2f} ms/step, "
              f"{LATENCY_S * 1e6:.0f} us/message: efficiency = compute / (compute + allreduce)")
        for row in table:
            eff = ", ".join(f"N={n}: {e:.0%}" for n, e in row["efficiency"].items())
            bound = row["comm_bound_from_n"]
            print(f"    {row['gbit']:>4} Gbit/s: 2 x bytes/bandwidth = {row['bandwidth_term_s'] * 1e3:.2f} ms; {eff}; "
                  f"communication-bound {'from N=' + str(bound) if bound else 'never (N <= 4096)'}")
        results.append({"model": model, "one": one, "many": many, "speedup": speedup,
                        "allreduce_share": share, "ring_model": table})
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"latency_s": LATENCY_S, "results": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
