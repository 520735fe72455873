"""Markdown tables for the benchmark's measurements (``bench/cli.py`` prints them)."""
from __future__ import annotations

from .floor import step_flops
from .workloads import LABEL, WORKLOADS

GE_COLS = ("graphengine-run", "graphengine", "graphengine-op", "graphengine-run-openblas")
REFS = ("torch", "jax", "numpy")


def fmt(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:,.0f}" if v >= 100 else f"{v:.3g}"


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def _x(r: float | None) -> str:
    return "-" if r is None else f"{r:.2f}x"


def _pct(r: float | None) -> str:
    return "-" if r is None else f"{100 * r:.0f}%"


def derived(name: str, res: dict) -> dict:
    """The ratios a row shows (also stored in the JSON)."""
    s = res["steps_per_s"]
    run, mc, fl = s.get("graphengine-run"), s.get("graphengine"), s.get("floor")
    return {"run_vs_torch": ratio(run, s.get("torch")), "callable_vs_torch": ratio(mc, s.get("torch")),
            "run_vs_jax": ratio(run, s.get("jax")),
            "run_percall_vs_callable": ratio(mc, run),   # time per sess.run call / per callable call
            "run_vs_floor": ratio(run, fl), "callable_vs_floor": ratio(mc, fl),
            "run_openblas_vs_torch": ratio(s.get("graphengine-run-openblas"), s.get("torch")),
            "run_vs_openblas_floor": ratio(run, s.get("floor-openblas")),
            "floor_gflops": step_flops(WORKLOADS[name].layers, WORKLOADS[name].batch) * fl / 1e9 if fl else None}


def steps_table(steps: dict, engines: list[str], installed: dict) -> str:
    cols = [e for e in GE_COLS if e in engines] + [e for e in REFS if e in engines]
    head = (["workload"] + [LABEL[e] for e in cols] +
            ["sess.run / PyTorch", "make_callable / PyTorch", "sess.run / JAX",
             "sess.run ÷ make_callable time per call", "GEMM floor (steps/s)", "sess.run / floor",
             "make_callable / floor", "loss check"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, res in steps.items():
        s, d = res["steps_per_s"], res["derived"]
        row = [f"{name} ({WORKLOADS[name].describe()})"]
        for e in cols:
            row.append(fmt(s.get(e)) if installed.get(e, True) else "not installed")
        row += [_x(d["run_vs_torch"]), _x(d["callable_vs_torch"]), _x(d["run_vs_jax"]),
                _x(d["run_percall_vs_callable"])]
        gf = d["floor_gflops"]
        row += [f"{fmt(s.get('floor'))}" + (f" ({gf:.0f} GF/s)" if gf else ""),
                _pct(d["run_vs_floor"]), _pct(d["callable_vs_floor"])]
        c = res["check"]
        worst = max((v[0] for v in c["rel_err_step1_step2"].values()), default=0.0)
        row.append(("ok" if c["ok"] else "FAIL: " + ", ".join(c["failed"])) + f" (worst step 1: {worst:.0e})")
        lines.append("| " + " | ".join(row) + " |")
    procs = max((r.get("procs", 1) for r in steps.values()), default=1)
    where = ("each engine in its own process" if procs == 1 else
             f"each engine in {procs} processes of its own, all alternating, the median over all their rounds")
    lines += ["", f"steps/s: median over alternating rounds after a warm-up, {where} "
              "(one fixed batch, one Python call per step). GEMM floor: the step's GEMMs "
              "alone (3 per dense layer, 2 for the first) back to back through graphengine's BLAS "
              "path (Numba np.dot -> the BLAS in the header), in its own process in the same rounds. "
              "loss check: each engine's first/second-step loss vs the NumPy reference (1e-4 / 1e-3 "
              "relative)."]
    if any("floor-openblas" in r["steps_per_s"] for r in steps.values()):
        lines.append("OpenBLAS GEMM floor (steps/s; graphengine's BLAS is MKL here): " + ", ".join(
            f"{n} {fmt(r['steps_per_s']['floor-openblas'])}" for n, r in steps.items()
            if "floor-openblas" in r["steps_per_s"]))
    if any("floor-torch" in r["steps_per_s"] for r in steps.values()):
        lines.append("torch/MKL GEMM floor (steps/s): " + ", ".join(
            f"{n} {fmt(r['steps_per_s']['floor-torch'])}" for n, r in steps.items()
            if "floor-torch" in r["steps_per_s"]))
    plans = []
    for n, r in steps.items():
        p = (r["init"].get("graphengine-run") or r["init"].get("graphengine") or {}).get("timings", {}).get("plan")
        if p:
            plans.append(f"{n} {p.get('executor')}" + (f" ({p['reason']})" if p.get("reason") else "") +
                         (f" ({p['fused_loops']} fused loops)" if "fused_loops" in p else ""))
    if plans:
        lines.append("graphengine plans (Session.plan_info): " + "; ".join(plans))
    errs = {(n, e): m for n, r in steps.items() for e, m in r.get("errors", {}).items()}
    for (n, e), m in errs.items():
        lines.append(f"{n}: {e} failed to build: {m.strip().splitlines()[-1] if m.strip() else m}")
    return "\n".join(lines)


# issue 10's targets: (label, today, target, how to read it from the report)
def _step(report, name, key):
    r = (report.get("steps") or {}).get(name)
    return r["derived"][key] if r else None


def _cont(report):
    c = report.get("contention")
    return c["rows"]["graphengine-run"]["ratio"] if c and "graphengine-run" in c["rows"] else None


def _cont_bound(report):
    c = report.get("contention")
    r = c["rows"].get("graphengine-run", {}) if c else {}
    return r.get("bound_ratio")


def _needed(report, name, times):
    """What ``times`` x PyTorch is as a share of the GEMM floor in this run: above 100%, no
    engine on this BLAS reaches the target here, however little it does besides its GEMMs."""
    r = (report.get("steps") or {}).get(name)
    sp = r["steps_per_s"] if r else {}
    return times * sp["torch"] / sp["floor"] if sp.get("torch") and sp.get("floor") else None


def _need_row(what: str, name: str, times: float) -> tuple:
    """An information row under a "N x PyTorch" target: N x PyTorch as a share of the floor."""
    return (f"  {times:.1f}x PyTorch as a share of {what} GEMM floor in this run (over 100%: out of reach)",
            "-", "-", None, "info", lambda r: _needed(r, name, times), _pct)


def _kern(report):
    k = report.get("kernels")
    v = [r["slowdown"] for r in k["rows"] if r["slowdown"]] if k else []
    return max(v) if v else None


TARGETS = [
    ("autoencoder via sess.run vs PyTorch eager", "0.88x", ">= 1.4x", 1.4, "ge",
     lambda r: _step(r, "autoencoder", "run_vs_torch"), _x),
    _need_row("the autoencoder's", "autoencoder", 1.4),
    ("autoencoder (sess.run) vs its GEMM floor", "~55%", ">= 85%", 0.85, "ge",
     lambda r: _step(r, "autoencoder", "run_vs_floor"), _pct),
    ("784-512-512-10 B=128 SGD via sess.run vs PyTorch eager", "1.09-1.40x", ">= 1.2x", 1.2, "ge",
     lambda r: _step(r, "mlp-b128-sgd", "run_vs_torch"), _x),
    _need_row("B=128's", "mlp-b128-sgd", 1.2),
    ("784-512-512-10 B=1024 SGD via sess.run vs PyTorch eager", "0.95-0.99x", ">= 1.0x", 1.0, "ge",
     lambda r: _step(r, "mlp-b1024-sgd", "run_vs_torch"), _x),
    _need_row("B=1024's", "mlp-b1024-sgd", 1.0),
    ("784-512-512-10 B=1024 SGD (sess.run) vs its GEMM floor", "-", ">= 95%", 0.95, "ge",
     lambda r: _step(r, "mlp-b1024-sgd", "run_vs_floor"), _pct),
    ("tiny 2-16-2 via sess.run vs PyTorch eager", "11x", ">= 30x", 30, "ge",
     lambda r: _step(r, "tiny", "run_vs_torch"), _x),
    ("sess.run per-call time vs make_callable (tiny)", "~2.5x", "<= 1.5x", 1.5, "le",
     lambda r: _step(r, "tiny", "run_percall_vs_callable"), _x),
    ("autoencoder with a busy process on one core, vs quiet (sess.run)", "36%", ">= 67%", 0.67, "ge",
     _cont, _pct),
    ("  the same step's one-core bound, vs quiet (what one free core allows: see the contention table)",
     "-", "-", None, "info", _cont_bound, _pct),
    ("sigmoid / exp / tanh on 200k float32, 1 thread: slowest vs PyTorch", "3.5-5x slower",
     "<= 1.5x", 1.5, "le", _kern, lambda v: f"{v:.2f}x slower"),
]


def targets_table(report: dict) -> str:
    lines = ["issue 10 targets (ratios from this run)", "",
             "| target | issue's 'today' | target | this run | met |", "|---|---|---|---|---|"]
    for label, today, tgt, thr, how, get, show in TARGETS:
        v = get(report)
        if thr is None:   # an information row: no target of its own
            met = "-"
        else:
            met = "not measured" if v is None else ("yes" if (v >= thr if how == "ge" else v <= thr) else "no")
        lines.append(f"| {label} | {today} | {tgt} | {'-' if v is None else show(v)} | {met} |")
    return "\n".join(lines)


def first_step_table(fs: dict) -> str:
    from .children import FIRST_STEP_TARGETS as T
    m = fs["median"]
    g = lambda case, k: m.get(case, {}).get(k)
    s = lambda v: "-" if v is None else f"{v:.2f}"
    lines = [f"first step of a new graph: {fs['workload']}; median of {fs['samples']} fresh processes "
             "each (seconds)", "",
             "| situation | import | build + init | first train step | first eval fetch "
             "| import..first step done | spawn..first step done | steady steps/s | issue target |",
             "|---|---|---|---|---|---|---|---|---|"]
    names = {"new_graph": "warm kernels, new graph", "cold": "fully cold (empty caches)",
             "same_graph": "same graph again, new process"}
    met = lambda v, t: "" if v is None else (" (met)" if v <= t else " (not met)")
    step_tgt = lambda case: (f"import..step <= {T[case][1]} s (today {T[case][0]})"
                             + met(g(case, "to_first_step_s"), T[case][1]))
    for case, label in names.items():
        note = step_tgt(case)
        if case == "new_graph":
            note += (f"; eval <= {T['new_graph_eval'][1]} s (today {T['new_graph_eval'][0]})"
                     + met(g(case, "eval_s"), T["new_graph_eval"][1]))
        lines.append(f"| {label} | {s(g(case, 'import_s'))} | {s(g(case, 'build_s'))} | "
                     f"{s(g(case, 'first_step_s'))} | {s(g(case, 'eval_s'))} | "
                     f"**{s(g(case, 'to_first_step_s'))}** | {s(g(case, 'spawn_to_first_step_s'))} | "
                     f"{fmt(g(case, 'steady_steps_per_s'))} | {note} |")
    lines += ["", "new graph: a fresh GRAPHENGINE_CACHE_DIR (steps, fused loops) and logits scaled by a "
              "random unique constant; the kernel caches (NUMBA_CACHE_DIR, GRAPHENGINE_KERNEL_CACHE_DIR: "
              "the package's kernels and the per-op loops of the first steps) warmed by an earlier process; "
              "cold: every cache empty; same graph: the caches a previous process "
              "of the same program filled. import..: from before `import numpy` / `import "
              "graphengine.compat.v1` to the first `sess.run([train_step, loss])` returned; spawn..: "
              "from starting the interpreter. Steady steps/s: B=100 sess.run after warm-up and after the "
              "background compiles finished (the compiled step). Target for steady state: unchanged or better."]
    lines += [f"error: {e[-300:]}" for e in fs.get("errors", [])]
    return "\n".join(lines)


def contention_table(c: dict) -> str:
    lines = [f"{c['workload']} with one busy process pinned to core 0 (steps/s, median of alternating "
             "quiet/loaded rounds)", "",
             "| engine | quiet | with a busy process | loaded / quiet | one-core bound | bound / quiet | target |",
             "|---|---|---|---|---|---|---|"]
    for e, r in c["rows"].items():
        b = r.get("one_core_bound")
        lines.append(f"| {LABEL[e]} | {fmt(r['quiet'])} | {fmt(r['loaded'])} | **{_pct(r['ratio'])}** | "
                     f"{fmt(b) if b else '-'} | {_pct(r['bound_ratio']) if b else '-'} | "
                     f"{'>= 67%' if e.startswith('graphengine') else ''} |")
    fl = c.get("floors", {})
    if fl.get("floor") and fl.get("floor-1t"):
        f2, f1 = fl["floor"], fl["floor-1t"]
        lines += ["", f"GEMM floor, same rounds: all threads {fmt(f2['quiet'])} quiet / {fmt(f2['loaded'])} "
                  f"loaded; 1 BLAS thread {fmt(f1['quiet'])} quiet / {fmt(f1['loaded'])} loaded (steps/s). "
                  "One-core bound: the engine's quiet step with its GEMMs at the 1-thread loaded rate "
                  "instead of the all-thread quiet rate, everything else unchanged: what one free core "
                  "allows when a GEMM splits evenly over two threads (the thread on the busy core runs "
                  "at about half speed and the GEMM waits for it)."]
    lines += ["", "Each engine in its own process; every round times each engine quiet, then starts a "
              "pure-Python spin loop pinned to core 0 (os.sched_setaffinity) and times each engine again."]
    lines += [f"{e} failed: {m[-300:]}" for e, m in c.get("errors", {}).items()]
    return "\n".join(lines)


def kernels_table(k: dict) -> str:
    lines = [f"elementwise kernels over {k['n']:,} float32, 1 thread (microseconds per call, median of "
             "alternating rounds)", "",
             "| function | graphengine make_callable | PyTorch out= | graphengine / PyTorch | target |",
             "|---|---|---|---|---|"]
    for r in k["rows"]:
        lines.append(f"| {r['fn']} | {fmt(r['graphengine_us'])} | {fmt(r['torch_us'])} | "
                     f"**{_x(r['slowdown'])}** | <= 1.5x |")
    lines += ["", "graphengine: `sess.make_callable([ge.nn.sigmoid(v), z])` on a float32 Variable v (no "
              "feed; z a 1-element reduce_sum that makes the plan a compiled step; graphengine ran it "
              f"as: {', '.join(k.get('plans', [])) or '?'}), per call, nothing subtracted: it includes "
              f"the per-call overhead, {fmt(k['overhead_us'])} us for the same graph on a 1-element v."]
    lines += [f"{e} failed: {m[-300:]}" for e, m in k.get("errors", {}).items()]
    return "\n".join(lines)


def memory_table(mem: dict) -> str:
    lines = [f"peak memory of {mem['workload']} training steps, one process per engine (MiB)", "",
             "| engine | RSS after warm-up at B=4 | peak RSS during big-batch steps | step peak (difference) |",
             "|---|---|---|---|"]
    for r in mem["runs"]:
        if "error" in r:
            lines.append(f"| {r['engine']} | error: {r['error'][-200:]} | | |")
            continue
        lines.append(f"| {r['engine']} | {r['base_mib']:.1f} | {r['peak_mib']:.1f} | **{r['step_mib']:.1f}** |")
    lines += ["", "Each engine in its own process: 2 steps at B=4 (graphengine's step does not depend on "
              "the batch size), reset the RSS high-water mark (`echo 5 > /proc/self/clear_refs`), 5 steps "
              "at the workload's batch; step peak = VmHWM - VmRSS before them."]
    return "\n".join(lines)


def threads_table(rows: list[dict]) -> str:
    lines = ["sgemm throughput vs threads (784-512-512-10 B=128 step GEMMs, graphengine's BLAS path)", "",
             "| case | GFLOP/s | vs 1 thread | load avg (1 min) |", "|---|---|---|---|"]
    base = rows[0]["gflops"] if rows and rows[0].get("gflops") else None
    for r in rows:
        g = r.get("gflops")
        lines.append(f"| {r['case']} | {g:.1f} | {g / base:.2f}x | {r.get('load_avg_1min', 0):.1f} |"
                     if g and base else f"| {r['case']} | error | |")
    return "\n".join(lines)
