"""``python -m bench`` / ``graphengine-bench``: graphengine vs PyTorch eager, JAX jit and NumPy.

Thread variables are set from ``--threads`` before NumPy, Numba, PyTorch or JAX is imported,
so nothing at module level here imports them.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
SPECIAL = ("firststep", "memory")
REFS = ("torch", "jax", "numpy")


def set_threads(n: int) -> dict[str, str]:
    env = {k: str(n) for k in THREAD_VARS}
    # idle thread pools must not spin while another engine runs (interleaved rounds share cores)
    env.update(OMP_WAIT_POLICY="PASSIVE", KMP_BLOCKTIME="0")
    # NumPy and Numba (via SciPy) load separate OpenBLAS copies; an idle one spinning for ~0.1 s
    # after each call steals a core from the other (measured: 3.3 -> 6 ms per B=128 step)
    env.setdefault("OPENBLAS_THREAD_TIMEOUT", os.environ.get("OPENBLAS_THREAD_TIMEOUT", "4"))
    if n < (os.cpu_count() or 1):  # XLA's CPU client ignores the BLAS variables
        env["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                            f" --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads={n}").strip()
    os.environ.update(env)
    return env


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("command", nargs="?", default="run", choices=["run", "threads", "list", "_child"],
                   help="run: the comparison table (default); threads: GEMM rate vs BLAS threads and "
                        "oversubscription; list: the workloads")
    p.add_argument("--quick", action="store_true", help="few repeats, small set (< 2 minutes)")
    p.add_argument("--workloads", help="comma-separated names (see `list`); 'firststep' and 'memory' "
                                       "are the subprocess measurements")
    p.add_argument("--engines", help="comma-separated subset of graphengine, graphengine-run, "
                                     "graphengine-op, torch, jax, numpy")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 2,
                   help="BLAS/OpenMP/Numba/torch threads (default: the machine's cores)")
    p.add_argument("--repeats", type=int, help="timed repeats per engine (median is reported)")
    p.add_argument("--json", metavar="OUT", help="also write every measurement to this JSON file")
    p.add_argument("--threads-sweep", action="store_true", help="also run the `threads` measurement")
    p.add_argument("--child-args", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    env = set_threads(args.threads)
    if args.command == "_child":
        from . import children
        return children.main(json.loads(args.child_args))
    from . import workloads as W
    if args.command == "list":
        for w in W.WORKLOADS.values():
            print(f"{w.name:16s} {w.describe()}{'   (quick)' if w.name in W.QUICK else ''}")
        print("firststep        first training step in a new process, cold and warm disk cache")
        print("memory           peak RSS of a 784-512-512-10 B=1024 step, one process per engine")
        return 0
    if args.command == "threads":
        from .children import threads_sweep
        print(_threads_table(threads_sweep(args.quick)))
        return 0
    return _run(args, env)


# the comparison run ---------------------------------------------------------------------------
def _run(args, env: dict) -> int:
    import numpy as np

    from . import floor
    from . import workloads as W
    quick = args.quick
    names = args.workloads.split(",") if args.workloads else (W.QUICK if quick else list(W.WORKLOADS)) + \
        list(SPECIAL)
    bad = [n for n in names if n not in W.WORKLOADS and n not in SPECIAL]
    if bad:
        sys.exit(f"unknown workload(s) {bad}; `python -m bench list` shows them")
    engines = args.engines.split(",") if args.engines else ["graphengine", "graphengine-run", *REFS]
    installed = {e: W.available(e) for e in W.ENGINES}
    if "torch" in engines and installed["torch"]:
        import torch
        torch.set_num_threads(args.threads)
    repeats = args.repeats or (3 if quick else 7)
    target = 0.05 if quick else 0.25
    print(_header(args, env, installed))
    report: dict[str, Any] = {"date": datetime.datetime.now().isoformat(timespec="seconds"),
                              "command": " ".join(sys.argv), "threads": env, "machine": _machine(),
                              "installed": installed, "steps": {}, "firststep": None, "memory": None}
    failed = False
    for name in [n for n in names if n in W.WORKLOADS]:
        w = W.WORKLOADS[name]
        # plain sess.run is reported for the small model only (it is the same step plus feed handling)
        eng = [e for e in engines if installed[e] and (e != "graphengine-run" or name == "tiny"
                                                        or args.engines)]
        res = _measure_workload(w, eng, repeats, target, args.threads)
        res["floor"] = floor.measure_floor(w.layers, w.batch, "numba", repeats, target / 2)
        if not quick and installed["torch"]:
            res["floor_torch"] = floor.measure_floor(w.layers, w.batch, "torch", repeats, target / 2)
        report["steps"][name] = res
        failed |= not res["check"]["ok"]
        print(_row_progress(w, res), flush=True)
    if report["steps"]:
        print()
        print(steps_table(report["steps"], installed, engines))
    if "firststep" in names:
        from .children import first_step
        refs = [] if quick else [e for e in ("torch", "jax") if installed[e] and e in engines]
        report["firststep"] = first_step("mlp-b128-sgd", ["graphengine", *refs])
        print()
        print(first_step_table(report["firststep"]))
    if "memory" in names:
        from .children import memory
        mem_eng = ["graphengine", "torch"] if quick else ["graphengine", "torch", "jax", "numpy"]
        report["memory"] = memory("mlp-b1024-sgd", [e for e in mem_eng if installed[e]])
        print()
        print(memory_table(report["memory"]))
    if args.threads_sweep:
        from .children import threads_sweep
        report["threads_sweep"] = threads_sweep(quick)
        print()
        print(_threads_table(report["threads_sweep"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1,
                      default=lambda o: o.item() if isinstance(o, np.generic) else str(o))
        print(f"\nwrote {args.json}")
    if failed:
        print("\nCORRECTNESS CHECK FAILED: graphengine's loss differs from the NumPy reference (see 'check')")
    return 1 if failed else 0


def _measure_workload(w, engines: list[str], repeats: int, target: float, threads: int) -> dict:
    """Build every engine on the same weights and batch, check losses, then time them in
    interleaved rounds (round r times every engine once), so load that comes and goes on a busy
    machine hits all engines alike."""
    from . import workloads as W
    params = W.make_params(w.layers)
    x, y = W.make_data(w.layers, w.batch)
    runners, data, first_s, losses = {}, {}, {}, {}
    for e in ["numpy", *[e for e in engines if e != "numpy"]]:
        t0 = time.perf_counter()
        r = W.BUILDERS[e](w, params)
        d = r.prep(x, y)
        ls = [float(r.step(*d)) for _ in range(2)]   # also the first warm-up steps
        r.finish()
        first_s[e] = time.perf_counter() - t0
        runners[e], data[e], losses[e] = r, d, ls
    ref = losses["numpy"]
    rel = lambda a, b: abs(a - b) / max(abs(b), 1e-12)
    check = {e: [rel(a, b) for a, b in zip(ls, ref, strict=True)] for e, ls in losses.items() if e != "numpy"}
    ge_ok = all(c[0] <= 1e-4 and c[1] <= 1e-3 for e, c in check.items() if e.startswith("graphengine"))
    ref_ok = all(c[0] <= 1e-4 for e, c in check.items() if not e.startswith("graphengine"))
    if "numpy" not in engines:
        del runners["numpy"]
    # warm-up by time, then size a repeat to ~target seconds
    per_step = {}
    for e, r in runners.items():
        n, t0 = 0, time.perf_counter()
        while n < 3 or time.perf_counter() - t0 < target / 2:
            r.step(*data[e])
            n += 1
        r.finish()
        per_step[e] = (time.perf_counter() - t0) / n
    rates: dict[str, list[float]] = {e: [] for e in runners}
    for _ in range(repeats):
        for e, r in runners.items():
            n = max(1, int(target / per_step[e]))
            step, d = r.step, data[e]
            time.sleep(0.2)  # let the previous engine's worker threads go idle
            t0 = time.perf_counter()
            for _ in range(n):
                step(*d)
            r.finish()
            rates[e].append(n / (time.perf_counter() - t0))
    return {"workload": w.describe(), "steps_per_s": {e: statistics.median(v) for e, v in rates.items()},
            "all_rates": rates, "first_call_s": first_s, "losses": losses,
            "check": {"ok": ge_ok, "references_ok": ref_ok, "rel_err_step1_step2": check}}


# tables ---------------------------------------------------------------------------------------
def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:,.0f}" if v >= 100 else f"{v:.3g}"


def _ratio(a, b) -> str:
    return "-" if not a or not b else f"{a / b:.2f}x"


def steps_table(steps: dict, installed: dict, engines: list[str]) -> str:
    cols = [e for e in ("graphengine", "graphengine-run", "graphengine-op") if e in engines]
    refs = [e for e in REFS if e in engines]
    from .workloads import LABEL
    head = ["workload"] + [LABEL[e] for e in cols + refs] + \
           [f"ge / {LABEL[r]}" for r in refs] + ["BLAS floor", "ge / floor", "loss check"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, res in steps.items():
        sps = res["steps_per_s"]
        ge = sps.get("graphengine")
        row = [f"{name} ({res['workload']})"]
        for e in cols + refs:
            row.append(_fmt(sps.get(e)) if installed.get(e, True) else "not installed")
        for r in refs:
            row.append(_ratio(ge, sps.get(r)) if installed.get(r, True) else "not installed")
        fl = res["floor"]["steps_per_s"]
        row += [f"{_fmt(fl)} ({res['floor']['gflops']:.0f} GF/s)", f"{100 * ge / fl:.0f}%" if ge else "-"]
        c = res["check"]
        worst = max((v[0] for k, v in c["rel_err_step1_step2"].items() if k.startswith("graphengine")),
                    default=0.0)
        row.append(("ok" if c["ok"] else "FAIL") + f" ({worst:.0e})" +
                   ("" if c["references_ok"] else ", a reference differs"))
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    lines.append("steps/s = median over repeats after warm-up (one fixed batch, one Python call per step). "
                 "BLAS floor = 1 / time of the step's GEMMs alone (3 per layer, 2 for the first) "
                 "through graphengine's BLAS path (Numba np.dot -> SciPy OpenBLAS), same run.")
    if any("floor_torch" in r for r in steps.values()):
        lines.append("torch/MKL GEMM floor (steps/s): " + ", ".join(
            f"{n} {_fmt(r['floor_torch']['steps_per_s'])}" for n, r in steps.items() if "floor_torch" in r))
    return "\n".join(lines)


def first_step_table(fs: dict) -> str:
    lines = [f"first step of {fs['workload']} in a new process (seconds)", "",
             "| engine | cache | import | build + init | first step call | import..first step done "
             "| process wall |", "|---|---|---|---|---|---|---|"]
    for r in fs["runs"]:
        if "error" in r:
            lines.append(f"| {r['engine']} | {r['cache']} | error: {r['error'][-200:]} |||||")
            continue
        lines.append(f"| {r['engine']} | {r['cache']} | {r['import_s']:.2f} | {r['build_s']:.2f} | "
                     f"{r['first_step_s']:.2f} | **{r['total_s']:.2f}** | {r['wall_s']:.2f} |")
    for r in fs["runs"]:
        if r.get("build_parts_s"):
            lines.append("")
            lines.append(f"{r['engine']} {r['cache']} build + init: " +
                         ", ".join(f"{k} {v:.2f}" for k, v in r["build_parts_s"].items()))
    lines.append("")
    lines.append("cold: fresh empty GRAPHENGINE_CACHE_DIR and NUMBA_CACHE_DIR; warm: a second process with "
                 "the same dirs. 'process wall' adds interpreter start-up and importing NumPy.")
    return "\n".join(lines)


def memory_table(mem: dict) -> str:
    lines = [f"peak memory of {mem['workload']} training steps, one process per engine (MiB)", "",
             "| engine | RSS after warm-up at B=4 | peak RSS during B=1024 steps | step peak (difference) |",
             "|---|---|---|---|"]
    for r in mem["runs"]:
        if "error" in r:
            lines.append(f"| {r['engine']} | error: {r['error'][-200:]} | | |")
            continue
        lines.append(f"| {r['engine']} | {r['base_mib']:.1f} | {r['peak_mib']:.1f} | "
                     f"**{r['step_mib']:.1f}** |")
    lines.append("")
    lines.append("Method: each engine runs in its own process; the model is built and compiled by 2 steps at "
                 "B=4 (graphengine's step function does not depend on the batch size), then the RSS "
                 "high-water mark is reset (`echo 5 > /proc/self/clear_refs`) and 5 steps at B=1024 run; "
                 "step peak = VmHWM - VmRSS before those steps: activations, gradients, workspaces and "
                 "buffers a B=1024 step needs (for JAX also the recompilation for the new shape).")
    return "\n".join(lines)


def _threads_table(rows: list[dict]) -> str:
    lines = ["sgemm throughput vs threads (784-512-512-10 B=128 step GEMMs, graphengine's BLAS path)", "",
             "| case | GFLOP/s | vs 1 thread | load avg (1 min) |", "|---|---|---|---|"]
    base = rows[0]["gflops"] if rows and rows[0].get("gflops") else None
    for r in rows:
        g = r.get("gflops")
        lines.append(f"| {r['case']} | {g:.1f} | {g / base:.2f}x | {r.get('load_avg_1min', 0):.1f} |"
                     if g and base else
                     f"| {r['case']} | error | |")
    return "\n".join(lines)


def _machine() -> dict:
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "load_avg": os.getloadavg() if hasattr(os, "getloadavg") else None}


def _header(args, env: dict, installed: dict) -> str:
    import numpy as np
    vers = {"numpy": np.__version__}
    for mod in ("numba", "torch", "jax"):
        if installed.get(mod, True):
            try:
                vers[mod] = __import__(mod).__version__
            except ImportError:
                pass
    if installed.get("torch"):
        import torch
        vers["torch threads"] = str(torch.get_num_threads())
    m = _machine()
    return "\n".join([
        f"graphengine benchmark  {datetime.datetime.now():%Y-%m-%d %H:%M}  {m['platform']}  "
        f"{m['cpus']} CPUs  load avg {', '.join(f'{v:.1f}' for v in m['load_avg'] or [])}",
        "threads: " + " ".join(f"{k}={v}" for k, v in env.items()),
        "versions: " + ", ".join(f"{k} {v}" for k, v in vers.items()),
        "not installed: " + (", ".join(e for e, ok in installed.items() if not ok) or "none"),
        ""])


def _row_progress(w, res: dict) -> str:
    s = ", ".join(f"{e} {_fmt(v)}" for e, v in res["steps_per_s"].items())
    return f"  {w.name}: {s} | floor {_fmt(res['floor']['steps_per_s'])} steps/s"


def run_child(kind: str, payload: dict, env: dict | None = None, timeout: float = 300) -> dict:
    """Run ``python -m bench _child`` with ``payload``; returns its last JSON line + wall time."""
    cmd = [sys.executable, "-m", "bench", "_child", "--threads", os.environ.get("OMP_NUM_THREADS", "2"),
           "--child-args", json.dumps({"kind": kind, **payload})]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    e = dict(os.environ)
    e["PYTHONPATH"] = root + os.pathsep + e.get("PYTHONPATH", "")
    e.update(env or {})
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=e, timeout=timeout, cwd=root)
    wall = time.perf_counter() - t0
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode or not lines:
        return {"error": (p.stderr or p.stdout).strip()[-2000:], "wall_s": wall}
    out = json.loads(lines[-1])
    out["wall_s"] = wall
    return out


def temp_cache_dirs() -> dict[str, str]:
    d = tempfile.mkdtemp(prefix="ge-bench-")
    return {"GRAPHENGINE_CACHE_DIR": os.path.join(d, "graphengine"),
            "NUMBA_CACHE_DIR": os.path.join(d, "numba")}
