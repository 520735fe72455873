"""One process per engine, driven round by round.

The parent starts one long-lived worker process per engine (``python -m bench _worker``), each
with the same thread variables and nothing else changed, builds the model there, checks its first
two losses against the NumPy reference, then times the engines in alternating rounds
(A B C A B C ...): in each round every worker runs its steps alone while the others sit blocked on
a pipe read, and the parent waits ``gap_s`` before each so that the previous engine's idle BLAS /
OpenMP threads have stopped spinning (each engine keeps its own default wait policy).

Worker protocol: the parent writes one JSON command per line on the worker's stdin; the worker
answers with one line ``@@{json}`` on a private copy of its stdout (everything else the engines
print goes to stderr).
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from typing import Any

STEP1_RTOL, STEP2_RTOL = 1e-4, 1e-3
TAG = "@@"


# worker side ----------------------------------------------------------------------------------
def _import_engine(engine: str) -> None:
    if engine.startswith("graphengine"):
        import graphengine  # noqa: F401
    elif engine in ("torch", "floor-torch") or engine.startswith("kernel-torch"):
        import torch
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1)))
    elif engine == "jax":
        import jax  # noqa: F401


def _settle(engine: str) -> None:
    """A new graphengine plan's first steps run while its step compiles in a background process
    (the default: graphengine.backends.cpu.background). Timed steps are the compiled step's, as
    in a user's steady state, and no compile runs beside another engine's rounds."""
    if "graphengine" in engine:   # graphengine, graphengine-run, kernel-graphengine, ...
        from graphengine.backends.cpu import background
        background.wait_all()


def _build(spec: dict) -> tuple[Any, tuple, list[float] | None, dict]:
    """-> (runner, prepared data, first two losses or None, timings)."""
    from . import workloads as W
    engine, timings = spec["engine"], {}
    if spec.get("kernel"):
        from .kernels_bench import PLAN, kernel_runner
        r = kernel_runner(engine, spec["kernel"], spec["n"])
        _settle(engine)
        return r, (), None, {"plan": PLAN[0]}
    w = W.WORKLOADS[spec["workload"]]
    if engine.startswith("floor"):
        from .floor import floor_runner
        return floor_runner(w.layers, w.batch, "torch" if engine == "floor-torch" else "numba"), (), None, {}
    params = W.make_params(w.layers)
    if engine.startswith("graphengine"):
        mode = "callable" if engine in ("graphengine", "graphengine-op") else "run"   # -run, -run-openblas
        r = W.graphengine_runner(w, params, mode=mode, jit="op" if engine == "graphengine-op" else "step",
                                 timings=timings)
    else:
        r = W.BUILDERS[engine](w, params)
    d = r.prep(*W.make_data(w))
    losses = [float(r.step(*d)) for _ in range(2)]   # also the first warm-up steps
    r.finish()
    _settle(engine)
    if r.plan_info is not None:
        try:
            timings["plan"] = r.plan_info(*d)
        except Exception as e:   # informational only
            timings["plan"] = {"executor": f"plan_info failed: {e}"}
    return r, d, losses, timings


def _run_n(r: Any, d: tuple, n: int) -> float:
    run_n = r.run_n
    step, finish = r.step, r.finish
    t0 = time.perf_counter()
    if run_n is not None:
        run_n(n)
    else:
        for _ in range(n):
            step(*d)
    finish()
    return time.perf_counter() - t0


def worker_main() -> int:
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)              # engines' own prints (C level too) go to stderr
    sys.stdout = sys.stderr
    state: dict = {}
    for line in sys.stdin:
        msg = json.loads(line)
        cmd = msg["cmd"]
        try:
            if cmd == "init":
                t0 = time.perf_counter()
                _import_engine(msg["engine"])
                t1 = time.perf_counter()
                r, d, losses, tm = _build(msg)
                state.update(r=r, d=d)
                out: dict = {"losses": losses, "import_s": t1 - t0, "build_s": time.perf_counter() - t1,
                             "timings": tm}
            elif cmd == "calibrate":   # warm up by time; -> seconds per step
                n, t = 0, 0.0
                while n < 3 or t < msg["warmup_s"]:
                    k = max(1, n)
                    t += _run_n(state["r"], state["d"], k)
                    n += k
                out = {"per_step_s": t / n, "warmup_steps": n}
            elif cmd == "time":
                out = {"s": _run_n(state["r"], state["d"], msg["n"]), "n": msg["n"]}
            elif cmd == "quit":
                out = {}
            else:
                out = {"error": f"unknown command {cmd!r}"}
        except Exception:   # report it; the parent shows the traceback
            out = {"error": traceback.format_exc()}
        proto.write(TAG + json.dumps(out) + "\n")
        if cmd == "quit":
            break
    return 0


# parent side ----------------------------------------------------------------------------------
class Worker:
    """A ``python -m bench _worker`` process for one engine."""

    def __init__(self, engine: str, env: dict | None = None) -> None:
        self.engine = engine
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        e = dict(os.environ)
        e["PYTHONPATH"] = root + os.pathsep + e.get("PYTHONPATH", "")
        e.update(env or {})
        self._err = tempfile.TemporaryFile(mode="w+")
        self.p = subprocess.Popen([sys.executable, "-m", "bench", "_worker"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=self._err, text=True, env=e, cwd=root)

    def call(self, cmd: str, **kw: Any) -> dict:
        try:
            self.p.stdin.write(json.dumps({"cmd": cmd, **kw}) + "\n")
            self.p.stdin.flush()
        except BrokenPipeError:
            return {"error": self.stderr_tail()}
        for line in self.p.stdout:
            if line.startswith(TAG):
                return json.loads(line[len(TAG):])
        return {"error": f"worker for {self.engine} exited: " + self.stderr_tail()}

    def stderr_tail(self, n: int = 3000) -> str:
        self._err.seek(0)
        return self._err.read()[-n:]

    def close(self) -> None:
        if self.p.poll() is None:
            try:
                self.call("quit")
            except (BrokenPipeError, OSError):
                pass
        try:
            self.p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self._err.close()


def rel_err(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-12)


def check_losses(losses: dict[str, list[float]], ref: list[float]) -> dict:
    """Each engine's first two losses vs the NumPy reference's (1e-4, then 1e-3 relative)."""
    errs = {e: [rel_err(a, b) for a, b in zip(ls, ref, strict=True)] for e, ls in losses.items()}
    bad = sorted(e for e, (s1, s2) in errs.items() if not (s1 <= STEP1_RTOL and s2 <= STEP2_RTOL))
    return {"ok": not bad, "failed": bad, "rel_err_step1_step2": errs, "reference": ref}


def calibrate(workers: dict[str, Worker], target_s: float) -> dict[str, float]:
    """Warm each worker up, one at a time -> seconds per step."""
    per_step = {}
    for e, wk in workers.items():
        r = wk.call("calibrate", warmup_s=max(target_s / 2, 0.01))
        if "error" in r:
            raise RuntimeError(f"{e}: {r['error']}")
        per_step[e] = r["per_step_s"]
    return per_step


def time_round(workers: dict[str, Worker], per_step: dict[str, float], target_s: float, gap_s: float,
               rates: dict[str, list[float]]) -> None:
    """One round: each engine alone for ~``target_s`` seconds, one after another; appends steps/s."""
    for e, wk in workers.items():
        n = max(1, int(target_s / max(per_step[e], 1e-9)))
        time.sleep(gap_s)
        r = wk.call("time", n=n)
        if "error" in r:
            raise RuntimeError(f"{e}: {r['error']}")
        rates.setdefault(e, []).append(r["n"] / r["s"])


def time_rounds(workers: dict[str, Worker], rounds: int, target_s: float, gap_s: float) -> dict[str, list[float]]:
    """Warm up, then ``rounds`` alternating rounds -> steps/s per round per engine."""
    per_step = calibrate(workers, target_s)
    rates: dict[str, list[float]] = {e: [] for e in workers}
    for _ in range(rounds):
        time_round(workers, per_step, target_s, gap_s, rates)
    return rates


def start_workers(specs: dict[str, dict], env: dict | None = None) -> tuple[dict[str, Worker], dict, dict]:
    """Start and build one worker per engine, one after another (no compile overlaps another).
    -> (workers that built, init replies, errors)."""
    workers, inits, errors = {}, {}, {}
    for e, spec in specs.items():
        spec = dict(spec)
        wk = Worker(e, {**(env or {}), **spec.pop("env", {})})   # a spec's "env": that worker only
        r = wk.call("init", **{"engine": e, **spec})
        if "error" in r:
            errors[e] = r["error"][-2000:]
            wk.close()
            continue
        workers[e], inits[e] = wk, r
    return workers, inits, errors


def _copy_key(engine: str, k: int) -> str:
    return engine if k == 0 else f"{engine}#{k + 1}"


def _base(key: str) -> str:
    return key.split("#", 1)[0]


def measure_workload(name: str, engines: list[str], rounds: int, target_s: float, gap_s: float,
                     floors: list[str], procs: int = 1) -> dict:
    """Every engine (and the GEMM floor) in its own process on the same weights and batch; losses
    checked against NumPy's; then alternating timed rounds. -> the row's measurements.

    ``procs`` > 1 starts that many processes per engine and alternates over all of them
    (A1 B1 ... A2 B2 ...): a process's speed depends on where its memory landed (measured on a
    2-core VM: the same step 13% apart in two processes, equal within one), so one process per
    engine can put that luck into a ratio. Each engine's steps/s is the median over all of its
    processes' rounds; ``process_medians`` keeps each process's own median."""
    names = ["numpy", *[e for e in engines if e != "numpy"], *floors]
    from .workloads import OPENBLAS_ENV
    specs = {_copy_key(e, k): {"workload": name, "engine": e,
                               **({"env": OPENBLAS_ENV} if e.endswith("-openblas") else {})}
             for k in range(max(1, procs)) for e in names}
    workers, inits, errors = start_workers(specs)
    try:
        if "numpy" not in workers:
            raise RuntimeError("the NumPy reference failed: " + errors.get("numpy", "?"))
        ref = inits["numpy"]["losses"]
        losses = {e: r["losses"] for e, r in inits.items() if r["losses"] is not None and e != "numpy"}
        check = check_losses(losses, ref)
        if "numpy" not in engines:
            for key in [k for k in workers if _base(k) == "numpy"]:
                workers.pop(key).close()
        rates = time_rounds(workers, rounds, target_s, gap_s)
    finally:
        for wk in workers.values():
            wk.close()
    pooled: dict[str, list[float]] = {}
    per_proc: dict[str, list[float]] = {}
    for key, v in rates.items():
        pooled.setdefault(_base(key), []).extend(v)
        per_proc.setdefault(_base(key), []).append(statistics.median(v))
    return {"steps_per_s": {e: statistics.median(v) for e, v in pooled.items()}, "all_rates": pooled,
            "process_medians": per_proc, "procs": max(1, procs),
            "init": {k: r for k, r in inits.items() if "#" not in k},
            "errors": {_base(k): r for k, r in errors.items()}, "losses": {**losses, "numpy": ref},
            "check": check}
