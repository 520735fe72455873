"""``python -m bench`` / ``graphengine-bench``: graphengine vs PyTorch eager, JAX jit and NumPy,
every engine in its own process with its own default settings and the same thread count.

Thread variables are set from ``--threads`` before any worker starts; this process itself only
coordinates (it imports no engine).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
from typing import Any

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
SPECIAL = ("kernels", "contention", "firststep", "memory")
COMMANDS = ("run", "list", "threads", "first-step", "contention", "kernels", "_worker", "_child")
SMOKE_ENV = "GRAPHENGINE_BENCH_SMOKE"   # =1: 1 round of ~10 ms, 1 sample (tests of the CLI only)


# thread-pool tuning that would change how an engine runs: removed from the workers' environment
# (every engine runs with its defaults), and named in the header when it was set
TUNING_VARS = ("OMP_WAIT_POLICY", "KMP_BLOCKTIME", "OPENBLAS_THREAD_TIMEOUT", "GOMP_SPINCOUNT",
               "KMP_AFFINITY", "OMP_PROC_BIND", "OMP_PLACES", "OMP_DYNAMIC", "MKL_DYNAMIC", "XLA_FLAGS")
REMOVED: list[str] = []


def set_threads(n: int) -> dict[str, str]:
    """The same thread count for every engine, set the way each engine's users set it; no wait
    policy or other tuning is forced on any of them (inherited tuning variables are removed)."""
    for k in TUNING_VARS:
        if k in os.environ:
            REMOVED.append(f"{k}={os.environ.pop(k)}")
    env = {k: str(n) for k in THREAD_VARS}
    if n < (os.cpu_count() or 1):  # XLA's CPU client ignores the BLAS variables
        env["XLA_FLAGS"] = f"--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads={n}"
    os.environ.update(env)
    return env


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("command", nargs="?", default="run", choices=COMMANDS, metavar="command",
                   help="run (default): the comparison table, plus with no --quick/--workloads the "
                        "kernels, contention, first-step and memory tables; list: the workloads; "
                        "threads: GEMM rate vs BLAS threads and oversubscription; first-step: issue 11's "
                        "table; contention: the autoencoder next to a busy process; kernels: "
                        "sigmoid/exp/tanh vs PyTorch on 1 thread")
    p.add_argument("--quick", action="store_true", help="3 rounds, 4 workloads (< 3 minutes)")
    p.add_argument("--workloads", help="comma-separated names (see `list`); also kernels, contention, "
                                       "firststep, memory")
    p.add_argument("--engines", help="comma-separated subset of graphengine-run, graphengine (make_callable), "
                                     "graphengine-op, torch, jax, numpy")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 2,
                   help="threads for every engine (default: the machine's cores)")
    p.add_argument("--rounds", type=int, help="timed rounds (default 7, 3 with --quick; median reported)")
    p.add_argument("--target-s", type=float, help="seconds each engine runs per round (default 0.5, "
                                                  "0.25 with --quick)")
    p.add_argument("--gap-s", type=float, default=0.3,
                   help="pause before each engine's turn, so idle threads of the previous one stop "
                        "spinning (default 0.3)")
    p.add_argument("--procs", type=int, help="processes per engine in the step rounds, alternated "
                                             "(default 2, 1 with --quick): one process's memory "
                                             "placement can shift its speed by 10%% or more")
    p.add_argument("--samples", type=int, help="fresh processes per first-step situation (default 5)")
    p.add_argument("--json", metavar="OUT", help="also write every measurement to this JSON file")
    p.add_argument("--threads-sweep", action="store_true", help="also run the `threads` measurement")
    p.add_argument("--child-args", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "_worker":   # per-engine worker: environment inherited from the parent
        from .harness import worker_main
        return worker_main()
    if args.command == "_child":
        from . import children
        return children.main(json.loads(args.child_args))
    env = set_threads(args.threads)
    from . import workloads as W
    if args.command == "list":
        for w in W.WORKLOADS.values():
            print(f"{w.name:24s} {w.describe()}{'   (quick)' if w.name in W.QUICK else ''}")
        print(f"{'kernels':24s} sigmoid/exp/tanh over 200k float32, 1 thread, vs PyTorch")
        print(f"{'contention':24s} autoencoder next to a busy process pinned to core 0")
        print(f"{'firststep':24s} issue 11: a new TF1 graph's first step in fresh processes")
        print(f"{'memory':24s} peak RSS of a 784-512-512-10 B=1024 step, one process per engine")
        return 0
    if args.command == "threads":
        from .children import threads_sweep
        from .tables import threads_table
        print(threads_table(threads_sweep(args.quick)))
        return 0
    if args.command in ("first-step", "contention", "kernels"):
        names = [args.command.replace("-", "")]
    elif args.workloads:
        names = args.workloads.split(",")
    else:
        names = list(W.QUICK) if args.quick else [*W.WORKLOADS, *SPECIAL]
    bad = [n for n in names if n not in W.WORKLOADS and n not in SPECIAL]
    if bad:
        sys.exit(f"unknown workload(s) {bad}; `python -m bench list` shows them")
    return _run(args, env, names)


def _settings(args) -> dict:
    smoke = os.environ.get(SMOKE_ENV) == "1"
    rounds = args.rounds or (1 if smoke else 3 if args.quick else 7)
    target = args.target_s or (0.01 if smoke else 0.25 if args.quick else 0.5)
    return {"rounds": rounds, "target_s": target, "gap_s": 0.0 if smoke else args.gap_s,
            "samples": args.samples or (1 if smoke else 5), "smoke": smoke,
            "procs": max(1, args.procs or (1 if smoke or args.quick else 2))}


def _run(args, env: dict, names: list[str]) -> int:
    from . import tables as T
    from . import workloads as W
    from .harness import measure_workload
    st = _settings(args)
    installed = {e: W.available(e) for e in W.ENGINES}
    engines = args.engines.split(",") if args.engines else list(W.DEFAULT_ENGINES)
    unknown = [e for e in engines if e not in W.ENGINES]
    if unknown:
        sys.exit(f"unknown engine(s) {unknown}; choose from {W.ENGINES}")
    engines = [e for e in engines if installed[e]]
    print(_header(env, installed, st))
    report: dict[str, Any] = {"date": datetime.datetime.now().isoformat(timespec="seconds"),
                              "command": " ".join(sys.argv), "threads": env, "settings": st,
                              "machine": _machine(), "installed": installed, "steps": {}}
    failed = []
    full = not args.quick and not st["smoke"]
    floors = (["floor"] + (["floor-torch"] if full and installed["torch"] else [])
              + (["floor-openblas"] if full and _blas().startswith("MKL") else []))
    for name in [n for n in names if n in W.WORKLOADS]:
        try:
            res = measure_workload(name, engines, st["rounds"], st["target_s"], st["gap_s"], floors,
                                   st["procs"])
        except RuntimeError as e:   # a worker failed while timing: report it, go on
            failed.append(f"{name}: {str(e).strip().splitlines()[-1]}")
            print(f"  {name}: FAILED: {e}", flush=True)
            continue
        res["derived"] = T.derived(name, res)
        report["steps"][name] = res
        if not res["check"]["ok"]:
            failed += [f"{name}: {e}" for e in res["check"]["failed"]]
        failed += [f"{name}: {e} did not build" for e in res["errors"] if e in engines]
        print(f"  {name}: " + ", ".join(f"{e} {T.fmt(v)} ({T.fmt(min(res['all_rates'][e]))}-"
                                        f"{T.fmt(max(res['all_rates'][e]))}"
                                        + (", per process " + "/".join(T.fmt(m) for m in res["process_medians"][e])
                                           if res["procs"] > 1 else "") + ")"
                                        for e, v in res["steps_per_s"].items()), flush=True)
    if report["steps"]:
        print()
        print(T.steps_table(report["steps"], engines, installed))
    if "kernels" in names:
        from .kernels_bench import kernels
        if installed["torch"]:
            report["kernels"] = kernels(st["rounds"], min(st["target_s"], 0.25), st["gap_s"])
            print()
            print(T.kernels_table(report["kernels"]))
        else:
            print("\nkernels: PyTorch is not installed (it is the reference)")
    if "contention" in names:
        from .children import contention
        ce = [e for e in engines if e in ("graphengine-run", "graphengine", "torch", "jax")
              and (args.engines or e in ("graphengine-run", "torch"))]
        report["contention"] = contention(ce, st["rounds"], st["target_s"], st["gap_s"])
        print()
        print(T.contention_table(report["contention"]))
    if "firststep" in names:
        from .children import first_step
        report["firststep"] = first_step(st["samples"], args.quick or st["smoke"])
        print()
        print(T.first_step_table(report["firststep"]))
        failed += [f"first-step: {e.strip().splitlines()[-1]}" for e in report["firststep"]["errors"]]
    if "memory" in names:
        from .children import memory
        mem_eng = ["graphengine", "torch"] if args.quick else ["graphengine", "torch", "jax", "numpy"]
        report["memory"] = memory("mlp-b1024-sgd", [e for e in mem_eng if installed[e]])
        print()
        print(T.memory_table(report["memory"]))
    if args.threads_sweep:
        from .children import threads_sweep
        report["threads_sweep"] = threads_sweep(args.quick)
        print()
        print(T.threads_table(report["threads_sweep"]))
    if report["steps"] or "kernels" in report or "contention" in report:
        print()
        print(T.targets_table(report))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1, default=lambda o: o.item() if hasattr(o, "item") else str(o))
        print(f"\nwrote {args.json}")
    if failed:
        print("\nFAILED (exit status 1): " + "; ".join(failed))
    return 1 if failed else 0


def _machine() -> dict:
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "cpu": _cpu(), "load_avg": os.getloadavg() if hasattr(os, "getloadavg") else None}


KEPT_PREFIXES = ("OPENBLAS_", "MKL_", "OMP_", "KMP_", "GOMP_", "NUMBA_", "XLA_")


def _kept(env: dict) -> list[str]:
    """Library settings the environment carries besides the thread counts (e.g. a machine whose
    environment sets ``OPENBLAS_CORETYPE=Haswell`` gets AVX2 GEMM kernels on an AVX-512 CPU)."""
    return sorted(f"{k}={v}" for k, v in os.environ.items()
                  if k.startswith(KEPT_PREFIXES) and k not in env)


def _cpu() -> str:
    """Model name and widest vector extension, from /proc/cpuinfo (Linux)."""
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:
        return platform.processor() or "?"
    first = {}   # the first CPU's fields
    for ln in text.splitlines():
        k, _, v = ln.partition(":")
        first.setdefault(k.strip(), v.strip())
    model, flags = first.get("model name", "?"), set(first.get("flags", "").split())
    isa = next((n for f, n in (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX")) if f in flags), "SSE")
    return f"{model}, {isa}"


def _blas() -> str:
    """Which BLAS graphengine's kernels call in the workers (``kernels.cpu.mkl.wanted``)."""
    from importlib import metadata

    from kernels.cpu import mkl
    try:
        if mkl.wanted() is not None:
            return f"MKL {metadata.version('mkl')}" if _has("mkl") else f"MKL ({mkl.find()})"
    except (RuntimeError, ValueError) as e:
        return f"? ({e})"
    return "SciPy's OpenBLAS"


def _has(dist: str) -> bool:
    from importlib import metadata
    try:
        metadata.version(dist)
        return True
    except metadata.PackageNotFoundError:
        return False


def _header(env: dict, installed: dict, st: dict) -> str:
    from importlib import metadata
    vers = {}
    for mod in ("numpy", "numba", "torch", "jax"):
        try:
            vers[mod] = metadata.version(mod)
        except metadata.PackageNotFoundError:
            pass
    m = _machine()
    return "\n".join([
        f"graphengine benchmark  {datetime.datetime.now():%Y-%m-%d %H:%M}  {m['platform']}  "
        f"{m['cpus']} CPUs  load avg {', '.join(f'{v:.1f}' for v in m['load_avg'] or [])}",
        "threads (the same for every engine, nothing else added): " + " ".join(f"{k}={v}" for k, v in env.items()),
        *(["removed from the environment: " + " ".join(REMOVED)] if REMOVED else []),
        *([f"kept from the environment (every engine sees them): {' '.join(kept)}"] if (kept := _kept(env)) else []),
        f"CPU: {m['cpu']}",
        "versions: " + ", ".join(f"{k} {v}" for k, v in vers.items()),
        f"graphengine's BLAS (and the GEMM floor's): {_blas()}",
        "not installed: " + (", ".join(e for e, ok in installed.items() if not ok) or "none"),
        f"method: {'one process' if st.get('procs', 1) == 1 else str(st['procs']) + ' processes'} per engine "
        f"(steps: all of them alternating), {st['rounds']} alternating rounds of ~{st['target_s']} s each "
        f"after a warm-up, {st['gap_s']} s pause before each engine's turn"
        + ("  [SMOKE: numbers meaningless]" if st["smoke"] else ""),
        ""])
