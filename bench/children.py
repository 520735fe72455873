"""Measurements that need a fresh process: first step (cold/warm disk cache), peak memory,
and GEMM rate under different thread settings. The parent side starts ``python -m bench
_child`` with a JSON payload; the child prints one JSON line."""
from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time

from .cli import run_child, temp_cache_dirs

# child side -----------------------------------------------------------------------------------


def main(p: dict) -> int:
    out = {"firststep": _child_first_step, "memory": _child_memory, "gemm": _child_gemm}[p["kind"]](p)
    print(json.dumps(out), flush=True)
    return 0


def _import_engine(engine: str) -> None:
    if engine.startswith("graphengine"):
        import graphengine  # noqa: F401
    elif engine == "torch":
        import torch
        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    elif engine == "jax":
        import jax  # noqa: F401


def _child_first_step(p: dict) -> dict:
    from . import workloads as W
    w = W.WORKLOADS[p["workload"]]
    params = W.make_params(w.layers)
    x, y = W.make_data(w.layers, w.batch)
    t0 = time.perf_counter()
    _import_engine(p["engine"])
    t1 = time.perf_counter()
    parts: dict = {}
    if p["engine"] == "graphengine":
        r = W.graphengine_runner(w, params, timings=parts)
    else:
        r = W.BUILDERS[p["engine"]](w, params)
    d = r.prep(x, y)
    t2 = time.perf_counter()
    loss = float(r.step(*d))
    r.finish()
    t3 = time.perf_counter()
    return {"import_s": t1 - t0, "build_s": t2 - t1, "first_step_s": t3 - t2, "total_s": t3 - t0,
            "loss": loss, "build_parts_s": parts}


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
    w = W.WORKLOADS[p["workload"]]
    _import_engine(p["engine"])
    params = W.make_params(w.layers)
    r = W.BUILDERS[p["engine"]](w, params)
    small = r.prep(*W.make_data(w.layers, 4, seed=2))
    big = r.prep(*W.make_data(w.layers, w.batch))
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


# parent side ----------------------------------------------------------------------------------


def first_step(workload: str, engines: list[str]) -> dict:
    runs = []
    for e in engines:
        if e == "graphengine":
            dirs = temp_cache_dirs()
            for cache in ("cold", "warm"):
                runs.append({"engine": e, "cache": cache,
                             **run_child("firststep", {"engine": e, "workload": workload}, dirs)})
        else:
            runs.append({"engine": e, "cache": "n/a",
                         **run_child("firststep", {"engine": e, "workload": workload})})
    return {"workload": workload, "runs": runs}


def memory(workload: str, engines: list[str]) -> dict:
    dirs = temp_cache_dirs()   # graphengine compiles into a private cache: no shared state
    return {"workload": workload,
            "runs": [{"engine": e, **run_child("memory", {"engine": e, "workload": workload}, dirs)}
                     for e in engines]}


def _with_competitor(cmd: list[str] | None, env: dict, payload: dict) -> dict:
    comp = None
    if cmd:
        comp = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
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
    gemm2 = [sys.executable, "-m", "bench", "_child", "--threads", "2", "--child-args",
             json.dumps({"kind": "gemm", **shape, "forever": True})]
    cases = [("1 BLAS thread, alone", 1, None), ("2 BLAS threads, alone", 2, None),
             ("1 BLAS thread + a busy process", 1, spin), ("2 BLAS threads + a busy process", 2, spin),
             ("2 BLAS threads + another 2-thread GEMM process", 2, gemm2)]
    rows = []
    for name, n, comp in cases:
        r = _with_competitor(comp, th(n), {**shape})
        rows.append({"case": name, "threads": n, "load_avg_1min": os.getloadavg()[0], **r})
    return rows
