"""Where a new graph's first step goes: ``python bench/first_step_phases.py '<json>'`` runs
bench/tf1_first_step.py's program once with Numba event listeners (per-function compile time)
and wrappers around graphengine's Python-side phases; prints one JSON line.

Not cProfile: it slows Numba's compiler ~10x. Phases overlap (a Numba compile contains the
compiles of functions it calls), so per-function times are inclusive of callees compiled then.
All times are CPU seconds of this process (``time.process_time``).

Measured on the busy 2-core machine (CPU s, medians of 3 unless noted; 784-100-10 MLP, Adam,
B=100; "new graph" = fresh GRAPHENGINE_CACHE_DIR, warm Numba kernels), by
GRAPHENGINE_BACKGROUND_COMPILE mode:

| case | foreground (default) | =1 (deterministic) | =ops |
|---|---|---|---|
| new graph: first train step | 5.79 | 2.06 | 0.49 |
| new graph: first eval fetch | 2.15 | 0.75 | 0.22 |
| new graph: import through first step | 7.05 | 3.20 | 1.64 |
| constant edited, same cache dir: first step (n=2) | 0.044 (was ~5.5) | | |
| same graph, new process: first step / through first step (n=2) | 0.043 / 1.13 | 0.042 / 1.03 | |
| fully cold: first step (n=2) | 8.8 | 5.0 | 3.7 |

Where the foreground first step goes (new graph): 7 loop helpers 2.2-2.8 (incl. ~0.9 of Numba's
own array implementations compiled once per process), the step function itself ~2 (typing and
lowering about half each), the eval step 1.85 more. Fixed per-process costs before any step:
``import graphengine`` 0.19, Numba 0.26, SciPy's BLAS 0.18, first Numba cache load (JIT set-up)
0.26.
"""
import time

CLK = time.process_time  # CPU seconds: the machine is shared, wall time is not this process's
T0 = CLK()
import json  # noqa: E402
import sys  # noqa: E402
from collections import defaultdict  # noqa: E402

PH = defaultdict(float)
FN: list = []


def _wrap(mod, name, label):
    f = getattr(mod, name)

    def w(*a, **k):
        t = CLK()
        try:
            return f(*a, **k)
        finally:
            PH[label] += CLK() - t
    setattr(mod, name, w)


def install():
    from numba.core import event

    class L(event.Listener):
        def __init__(self):
            self.st = {}

        def on_start(self, ev):
            if ev.kind == "numba:compile":
                self.st[id(ev.data["dispatcher"]), str(ev.data["args"])] = CLK()

        def on_end(self, ev):
            if ev.kind == "numba:compile":
                d = ev.data["dispatcher"]
                t0 = self.st.pop((id(d), str(ev.data["args"])), None)
                if t0 is not None:
                    FN.append((f"{d.py_func.__module__}.{d.py_func.__name__}", CLK() - t0))

    class Tot(event.Listener):
        def __init__(self, kind):
            self.kind, self.t = kind, None

        def on_start(self, ev):
            self.t = CLK()

        def on_end(self, ev):
            PH[self.kind] += CLK() - self.t

    event.register("numba:compile", L())
    for k in ("numba:llvm_lock", "numba:compiler_lock"):
        event.register(k, Tot(k))
    import graphengine.backends.cpu.step as st
    import graphengine.runtime.session as S
    import kernels.codegen as cg
    _wrap(S, "compile_program", "compile_program")
    _wrap(st, "fuse", "fuse")
    _wrap(st, "generate", "generate (incl. loop module loads)")
    _wrap(cg, "load_source", "load_source (import: typing+compile or cache load)")
    st.load_source = cg.load_source
    from numba.core import caching
    _wrap(caching.Cache, "load_overload", "numba cache load_overload")
    _wrap(caching.Cache, "save_overload", "numba cache save_overload")


if __name__ == "__main__":
    args = json.loads(sys.argv[1])
    import graphengine.compat.v1  # noqa: F401
    T1 = CLK()
    t = CLK()
    import numba  # noqa: F401

    import graphengine.backends.cpu.step  # noqa: F401
    PH["import numba + graphengine.backends.cpu.step"] = CLK() - t
    install()
    sys.path.insert(0, "bench")
    import tf1_first_step as P
    P.T0, P.T1 = T0, T1
    import types
    P.time = types.SimpleNamespace(perf_counter=CLK, time=time.time)
    out = P.main(args)
    out["phases"] = dict(PH)
    agg = defaultdict(lambda: [0, 0.0])
    for n, s in FN:
        agg[n][0] += 1
        agg[n][1] += s
    out["functions"] = sorted(((n, c, round(s, 4)) for n, (c, s) in agg.items()), key=lambda r: -r[2])
    print(json.dumps(out), flush=True)
