"""Measurements that need fresh processes: the first step of a new graph (issue 11's table),
the step under contention, peak memory, and GEMM rate under different thread settings.

``first_step`` runs ``bench/tf1_first_step.py`` as a new process per sample; ``memory`` and the
GEMM sweep start ``python -m bench _child`` with a JSON payload (the child prints one JSON line);
``contention`` drives per-engine workers (``bench/harness.py``) with a busy process beside them.
"""
from __future__ import annotations

import gc
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _env(extra: dict | None) -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = ROOT + os.pathsep + e.get("PYTHONPATH", "")
    e.update(extra or {})
    return e


def run_child(kind: str, payload: dict, env: dict | None = None, timeout: float = 300) -> dict:
    """Run ``python -m bench _child`` with ``payload``; returns its last JSON line + wall time."""
    cmd = [sys.executable, "-m", "bench", "_child", "--child-args", json.dumps({"kind": kind, **payload})]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=_env(env), timeout=timeout, cwd=ROOT)
    wall = time.perf_counter() - t0
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode or not lines:
        return {"error": (p.stderr or p.stdout).strip()[-2000:], "wall_s": wall}
    out = json.loads(lines[-1])
    out["wall_s"] = wall
    return out


def temp_cache_dirs(base: str | None = None) -> dict[str, str]:
    d = tempfile.mkdtemp(prefix="ge-bench-", dir=base)
    return {"GRAPHENGINE_CACHE_DIR": os.path.join(d, "graphengine"),
            "GRAPHENGINE_KERNEL_CACHE_DIR": os.path.join(d, "graphengine", "kernels"),
            "NUMBA_CACHE_DIR": os.path.join(d, "numba")}


# child side -----------------------------------------------------------------------------------
def main(p: dict) -> int:
    out = {"memory": _child_memory, "gemm": _child_gemm}[p["kind"]](p)
    print(json.dumps(out), flush=True)
    return 0


def _status() -> dict[str, float]:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                k, v, _ = line.split()
                out[k[:-1]] = int(v) / 1024.0
    return out


def _child_memory(p: dict) -> dict:
    from . import workloads as W
    from .harness import _import_engine
    w = W.WORKLOADS[p["workload"]]
    _import_engine(p["engine"])
    params = W.make_params(w.layers)
    r = W.BUILDERS[p["engine"]](w, params)
    small = r.prep(*W.make_data(w, batch=4, seed=2))
    big = r.prep(*W.make_data(w))
    for _ in range(2):
        r.step(*small)
    r.finish()
    gc.collect()
    base = _status()["VmRSS"]
    with open("/proc/self/clear_refs", "w") as f:   # reset the RSS high-water mark (Linux >= 4.0)
        f.write("5")
    for _ in range(5):
        r.step(*big)
    r.finish()
    st = _status()
    return {"base_mib": base, "peak_mib": st["VmHWM"], "after_mib": st["VmRSS"],
            "step_mib": st["VmHWM"] - base}


def _child_gemm(p: dict) -> dict:
    from .floor import measure_floor
    r = measure_floor(tuple(p["layers"]), p["batch"], "numba", p.get("repeats", 5), p.get("target_s", 0.1))
    if p.get("forever"):  # competitor: keep the BLAS threads busy until killed
        while True:
            measure_floor(tuple(p["layers"]), p["batch"], "numba", 5, 0.2)
    return r


# first step of a new graph (issue 11) -----------------------------------------------------------
FIRST_STEP_TARGETS = {   # issue 11: (today, target) in seconds
    "new_graph": ("~4.8 s", 1.0), "new_graph_eval": ("1.4 s", 0.3), "cold": ("~7.1 s", 2.5),
    "same_graph": ("~0.75 s", 0.5)}


def _tf1_program(nonce: float, dirs: dict, quick: bool) -> dict:
    args = {"nonce": nonce, "warmup_s": 0.2 if quick else 1.0, "timed_s": 0.3 if quick else 1.0}
    cmd = [sys.executable, os.path.join(ROOT, "bench", "tf1_first_step.py"), json.dumps(args)]
    t_spawn = time.time()
    env = _env(dirs)
    # as users' Python runs: modules load from their bytecode caches (pip writes them at install,
    # a plain checkout on first import); a PYTHONDONTWRITEBYTECODE=1 in the bench's own environment
    # would add ~0.13 s of compiling graphengine's and kernels' sources to every row
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode or not lines:
        return {"error": (p.stderr or p.stdout).strip()[-2000:]}
    out = json.loads(lines[-1])
    out["spawn_to_first_step_s"] = out.pop("first_step_done_wall") - t_spawn
    return out


def first_step(samples: int = 5, quick: bool = False) -> dict:
    """Issue 11's situations, ``samples`` fresh processes each, interleaved (a b c a b c ...):
    new graph with warm Numba kernels, everything cold, the same graph again."""
    base = tempfile.mkdtemp(prefix="ge-bench-firststep-")
    # warm kernels: Numba's cache of the package's kernels and graphengine's per-op generated
    # kernels (GRAPHENGINE_KERNEL_CACHE_DIR), filled by an earlier process; the graph-level
    # cache (steps, fused loops: GRAPHENGINE_CACHE_DIR) starts empty for a new graph
    warm = {"NUMBA_CACHE_DIR": os.path.join(base, "numba-warm"),
            "GRAPHENGINE_KERNEL_CACHE_DIR": os.path.join(base, "kernels-warm")}
    nonce = lambda: random.SystemRandom().uniform(1e-6, 1e-3)   # a graph never compiled before
    same = {"GRAPHENGINE_CACHE_DIR": os.path.join(base, "ge-same"), **warm}
    same_nonce = nonce()
    primes = [_tf1_program(nonce(), {"GRAPHENGINE_CACHE_DIR": os.path.join(base, "ge-prime"), **warm},
                           quick),                                              # warms the kernels
              _tf1_program(same_nonce, same, quick)]                            # caches "same"
    runs: dict[str, list[dict]] = {"new_graph": [], "cold": [], "same_graph": []}
    for i in range(samples):
        runs["new_graph"].append(_tf1_program(nonce(), {
            "GRAPHENGINE_CACHE_DIR": os.path.join(base, f"ge-new-{i}"), **warm}, quick))
        runs["cold"].append(_tf1_program(nonce(), temp_cache_dirs(base), quick))
        runs["same_graph"].append(_tf1_program(same_nonce, same, quick))
    med = {}
    for case, rs in runs.items():
        ok = [r for r in rs if "error" not in r]
        med[case] = {k: statistics.median(r[k] for r in ok) for k in ok[0] if isinstance(ok[0][k], float)} \
            if ok else {}
    errors = [r["error"] for rs in [primes, *runs.values()] for r in rs if "error" in r]
    if not errors:   # kept when something failed, to look at
        shutil.rmtree(base, ignore_errors=True)
    return {"workload": "784-100-10 softmax MLP, TF1 style, Adam, B=100", "samples": samples,
            "median": med, "runs": runs, "errors": errors[:3], "cache_base": base}


# contention --------------------------------------------------------------------------------------
SPIN = "import os\nos.sched_setaffinity(0, {0})\nwhile True:\n    pass\n"


ONE_THREAD = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")}


def contention(engines: list[str], rounds: int, target_s: float, gap_s: float,
               workload: str = "autoencoder") -> dict:
    """``workload`` per engine quiet, then next to one busy pure-Python process pinned to core 0,
    rounds alternating quiet/loaded -> loaded rate / quiet rate per engine.

    Two GEMM-floor workers run in the same rounds: ``floor`` (every thread) and ``floor-1t``
    (one BLAS thread). They give each engine's **one-core bound**: its quiet step with the GEMMs
    at the one-thread rate measured next to the busy process instead of the quiet all-thread rate,
    the rest of the step unchanged. An engine whose GEMMs split evenly over two threads cannot
    beat it (the thread on the busy core runs at about half speed and the GEMM waits for it)."""
    from .harness import calibrate, start_workers, time_round
    specs = {e: {"workload": workload} for e in engines}
    specs["floor"] = {"workload": workload}
    specs["floor-1t"] = {"workload": workload, "env": ONE_THREAD}
    workers, _, errors = start_workers(specs)
    quiet: dict[str, list[float]] = {}
    loaded: dict[str, list[float]] = {}
    try:
        per_step = calibrate(workers, target_s)
        for _ in range(rounds):
            time_round(workers, per_step, target_s, gap_s, quiet)
            spin = subprocess.Popen([sys.executable, "-c", SPIN])
            try:
                time.sleep(0.5)   # let it start spinning
                time_round(workers, per_step, target_s, gap_s, loaded)
            finally:
                spin.kill()
                spin.wait()
    finally:
        for wk in workers.values():
            wk.close()
    med = lambda d, e: statistics.median(d[e]) if d.get(e) else None
    floors = {f: {"quiet": med(quiet, f), "loaded": med(loaded, f)} for f in ("floor", "floor-1t") if f in workers}
    rows = {}
    for e in workers:
        if e.startswith("floor"):
            continue
        q, lo = med(quiet, e), med(loaded, e)
        row = {"quiet": q, "loaded": lo, "ratio": lo / q}
        if floors.get("floor", {}).get("quiet") and floors.get("floor-1t", {}).get("loaded"):
            best_s = 1 / q - 1 / floors["floor"]["quiet"] + 1 / floors["floor-1t"]["loaded"]
            row["one_core_bound"] = 1 / best_s
            row["bound_ratio"] = (1 / best_s) / q
        rows[e] = row
    return {"workload": workload, "rows": rows, "floors": floors, "quiet": quiet, "loaded": loaded,
            "errors": errors}


# memory, thread sweep ----------------------------------------------------------------------------
def memory(workload: str, engines: list[str]) -> dict:
    dirs = temp_cache_dirs()   # graphengine compiles into a private cache: no shared state
    return {"workload": workload,
            "runs": [{"engine": e, **run_child("memory", {"engine": e, "workload": workload}, dirs)}
                     for e in engines]}


def _with_competitor(cmd: list[str] | None, env: dict, payload: dict) -> dict:
    comp = None
    if cmd:
        comp = subprocess.Popen(cmd, env=_env(env), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, cwd=ROOT)
        time.sleep(1.0)   # let it start spinning
    try:
        return run_child("gemm", payload, env)
    finally:
        if comp is not None:
            comp.kill()
            comp.wait()


def threads_sweep(quick: bool = False) -> list[dict]:
    """GEMM rate of the 784-512-512-10 B=128 step with 1 and 2 BLAS threads, alone and next to a
    busy process (a pure-Python spin loop, or another 2-thread GEMM process)."""
    shape = {"layers": [784, 512, 512, 10], "batch": 128, "repeats": 3 if quick else 5, "target_s": 0.1}
    th = lambda n: {k: str(n) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                         "NUMBA_NUM_THREADS")}
    spin = [sys.executable, "-c", "while True: pass"]
    gemm2 = [sys.executable, "-m", "bench", "_child", "--child-args",
             json.dumps({"kind": "gemm", **shape, "forever": True})]
    cases = [("1 BLAS thread, alone", 1, None), ("2 BLAS threads, alone", 2, None),
             ("1 BLAS thread + a busy process", 1, spin), ("2 BLAS threads + a busy process", 2, spin),
             ("2 BLAS threads + another 2-thread GEMM process", 2, gemm2)]
    rows = []
    for name, n, comp in cases:
        r = _with_competitor(comp, th(n), {**shape})
        rows.append({"case": name, "threads": n, "load_avg_1min": os.getloadavg()[0], **r})
    return rows
