"""The whole-step CPU backend (``jit="step"``): one generated Numba function per plan.

Per distinct feed-shape signature (a new batch size, say) the driver computes every tensor's
shape, checks the generator's assumptions and sizes the buffer pools once; the generated
function itself depends only on dtypes and ranks, so a ragged last batch never recompiles.
With ``GRAPHENGINE_BACKGROUND_COMPILE`` set, a step not yet compiled is built in a child process
while the first calls run without it (graphengine.backends.cpu.background says how, and why it is opt-in).
"""
from __future__ import annotations

import copy
import hashlib
import os
import pickle
import sys
from pathlib import Path
from types import FunctionType
from typing import Any

import numpy as np

import kernels
from graphengine.compiler.fuse import fuse, split
from graphengine.errors import GraphEngineError, ShapeError
from graphengine.graph import Tensor, shape_str
from graphengine.ops.facts import resolve_alias, unbroadcast_axes
from graphengine.ops.registry import OPS
from graphengine.ops.source import sample
from graphengine.runtime.executor import OpExecutor
from graphengine.runtime.state import State
from graphengine.runtime.threads import POLICY as BLAS_THREADS
from kernels.codegen import load_source
from kernels.registry import get_kernel

from . import background
from .stepgen import Unsupported, arena_dtypes, generate

_HERE = Path(__file__).resolve().parent
# generated steps call these kernels and are written by these generators: their source is part
# of the cache key (kernels/cpu/*.py, and stepgen/loopgen/updategen beside this file), except the
# interim step's Python twins, which no compiled code calls
_NOT_IN_KEY = ("step.py", "background.py", "pyloops.py", "pykernels.py", "pyblas.py")
KERNEL_HASH = hashlib.sha1(b"".join(
    f.read_bytes() for f in sorted(Path(kernels.__file__).resolve().parent.joinpath("cpu").glob("*.py"))
    + sorted(_HERE.glob("*.py")) if f.name not in _NOT_IN_KEY)).hexdigest()[:12]

COMPILE_COUNT = [0]  # generated step functions built in this process (tests assert on it)


def _cpu_kernel(op: str):
    return get_kernel(op, "cpu")


class StepBackend:
    """After the compiler's PIPELINE (prune, simplify, schedule): ``fuse`` (graphengine.compiler
    .fuse: elementwise groups through broadcasts and reductions), then the generator's
    ``fold_updates`` (gradient-descent updates done by their gradient's GEMM), ``layout`` (a
    row of the run-time shape table and an argument or pool buffer per tensor),
    ``plan_memory`` (pool slots by liveness) and ``emit`` (the step's source, loop helpers in
    shared modules), then Numba."""
    name = "cpu"
    passes = ("fuse", "fold_updates", "layout", "plan_memory", "emit")

    def compile(self, program, debug_numerics: bool):
        if debug_numerics:  # checking every op's output needs op-by-op execution
            return OpExecutor(program, _cpu_kernel, debug_numerics=True)
        if not any(OPS[op.type].heavy for op in program.ops):
            # initializers and other cheap plans: compiling a step would cost more than it saves
            exe = OpExecutor(program, _cpu_kernel)
            exe.why_not_compiled = "no compute-heavy op (matmul, reduction, softmax, optimizer update)"
            return exe
        fused = fuse(program)
        try:
            src, lay = generate(fused, KERNEL_HASH, load_loop=lambda s: load_source("loop", s).__name__)
        except Unsupported as e:
            exe = OpExecutor(program, _cpu_kernel)
            exe.why_not_compiled = str(e)
            return exe
        mod = load_source("step", src)
        COMPILE_COUNT[0] += 1
        exe = StepExecutable(program, fused, lay, mod.step, src)
        exe.mod_file = mod.__file__
        exe.background = background.mode()
        if "kernels.cpu.mpi_lib" in src:
            # importing the step initializes MPI: a child would join the job as a second copy
            # of this rank. Every rank compiles in the foreground (at the same step, too).
            exe.background = None
        if exe.background == "python":
            # built on the first call that needs it (a step cached on disk never does)
            exe.interim_builder = lambda: self.interim(program, fused)
            exe.body_runnable = background.python_runnable(mod)
        return exe

    def interim(self, program, fused) -> StepExecutable | None:
        """What a new plan's first calls run while its step compiles in the background: the
        step generated from ``split(fused)`` (one-member loops, shared by every graph and kept in
        the kernel cache), its body run as Python. The same numbers as the fused step (see
        ``split``); None when its body needs the compiler."""
        parts = split(fused)
        try:
            src, lay = generate(parts, KERNEL_HASH, load_loop=lambda s: load_source("oploop", s).__name__)
        except Unsupported:
            return None
        mod = load_source("step", src)
        if not background.python_runnable(mod):
            return None
        return StepExecutable(program, parts, lay, _with_python_kernels(mod.step.py_func), src)


def _with_python_kernels(fn):
    """``fn`` (a step body run as Python) calling Python twins of what it calls, where one
    exists, bit for bit and with nothing to compile: the matmul kernels' (``kernels.cpu
    .pyblas``: the same BLAS calls), the other kernels' (``kernels.cpu.pykernels``) and the
    one-op loops' (``kernels.cpu.pyloops``: the same arithmetic in NumPy). A copy with its own
    globals: the module, which a compiled step may share, is left as it is."""
    from numba.core.dispatcher import Dispatcher

    from kernels.cpu import pyblas, pykernels, pyloops
    g = dict(fn.__globals__)
    if pyblas.available():
        g.update({k: v for k, v in pyblas.MATMUL.items() if k in g})
    if pykernels.available():
        g.update({k: v for k, v in pykernels.TWINS.items() if g.get(k) is pykernels._KERNELS[k]})
    mt = sys.modules.get("kernels.cpu.optim_mt")   # threaded updates: the serial twin, same numbers
    if mt is not None and pykernels.available():
        for k, base in mt.TWIN_OF.items():
            if g.get(k) is getattr(mt, k):
                g[k] = pykernels.TWINS[base]
    for name in fn.__code__.co_names:
        v = g.get(name)
        if isinstance(v, Dispatcher) and v.py_func.__module__.startswith("_ge_oploop_"):
            src = getattr(sys.modules.get(v.py_func.__module__), "__ge_source__", None)
            t = pyloops.twin(src) if src is not None else None
            if t is not None:
                g[name] = t
    return FunctionType(fn.__code__, g, fn.__name__, fn.__defaults__, fn.__closure__)


class _Signature:
    __slots__ = ("shapes", "S", "pools", "arenas", "fallback", "fetch_views", "rest", "rest_key", "waiting", "hot",
                 "out_specs")


class StepExecutable:
    def __init__(self, program, fused, lay, fn, source: str) -> None:
        self.program = program
        self.fused = fused
        self.lay = lay
        self.fn = fn
        self.source = source
        self._sigs: dict[tuple, Any] = {}
        self.background: str | None = None  # "python"/"ops": see graphengine.backends.cpu.background
        self.mod_file = ""
        self.calls_interim = 0  # calls that ran before the compiled step was ready
        self._jobs: dict = {}   # Numba argument types -> its background compile
        self.interim: StepExecutable | None = None  # what they run ("python" mode), if not fn.py_func
        self.interim_builder = None  # builds ``interim`` when a call first needs it
        self.body_runnable = False   # whether fn's own body may run as Python instead
        self._fallback: OpExecutor | None = None
        self._feed_order = list(program.feeds)
        self._consts = {t: np.array(t.op.attrs["value"]).reshape(-1) if t.shape == ()
                        else np.array(t.op.attrs["value"]) for k, t in lay.args if k == "const"}
        self._base = None
        self._feed_pos = [(i, t) for i, (k, t) in enumerate(lay.args) if k == "placeholder"]
        self._random_pos = [(i, t) for i, (k, t) in enumerate(lay.args) if k in OPS and OPS[k].random]
        self._arg_pos = {t: i for i, (k, t) in enumerate(lay.args)}
        self._scalar_feeds = any(t.shape == () for t in program.feeds)
        assert [t for k, t in lay.args[:len(program.feeds)]] == list(program.feeds)
        # a step that can fail after an update ran must put the variables back when it does
        first_update = min([fused.n_phase1, *[i + 1 for i in lay.update_steps]])
        late = any(i >= first_update for i in lay.fail_steps)
        self._guarded = [v for op in program.ops if OPS[op.type].kind == "update"
                         for v in op.attrs["targets"]] if late else []
        self._fetch_base = []
        for t in program.fetches:
            self._fetch_base.append((t, resolve_alias(t, lay.alias_of.get, lay.view_of.get)))
        # the fetches handed out in arrays of their own (the first fetch of each per-call output
        # array): the caller keeps them as they are; every other fetch is a view it copies
        out_pos = {b: j for j, b in enumerate(lay.outs)}
        self._out_of = [out_pos.get(b, -1) for _, b in self._fetch_base]
        firsts = {}
        for i, (t, b) in enumerate(self._fetch_base):
            if b in out_pos and t is b:
                firsts.setdefault(b, i)
        self.fresh_pos = frozenset(firsts.values())

    # per-signature preparation ------------------------------------------------------------
    def _prepare(self, feeds: dict, state) -> Any:
        shapes: dict[Tensor, tuple] = {t: v.shape for t, v in feeds.items()}
        for op in self.program.ops:
            if op.outputs and all(t in shapes for t in op.outputs):
                continue
            od = OPS[op.type]
            if op.type == "variable":
                specs = [(op.attrs["shape"], None)]
            elif op.type == "const":
                specs = [(op.attrs["value"].shape, None)]
            elif op.type == "random":
                specs = [(op.attrs["shape"], None)]
            elif op.type == "random_uniform_like":
                specs = [(shapes[op.inputs[0]], None)]
            else:
                ins = [shapes[t] for t in op.inputs]
                try:
                    specs = od.infer(ins, [t.dtype for t in op.inputs], op.attrs)
                except ShapeError as e:
                    got = ", ".join(f"{t.name} {shape_str(s)}" for t, s in zip(op.inputs, ins))
                    raise ShapeError(f"{op.describe()}: {e} [run-time inputs: {got}]") from None
            for t, (s, _) in zip(op.outputs, specs):
                if t in shapes:  # fed (one output of several): the op writes into its stand-in
                    shapes[self.lay.stand_in[t]] = tuple(s)
                else:
                    shapes[t] = tuple(s)
        for t in self.lay.index:  # assignment targets that nothing reads
            if t not in shapes and t.op.type == "variable":
                shapes[t] = t.op.attrs["shape"]
        sig = _Signature()
        sig.shapes = shapes
        sig.fallback = False
        sig.rest = sig.rest_key = sig.hot = None
        sig.waiting = None  # None: not checked; a background.Job while it compiles; False: ready
        lay = self.lay
        for a, b in lay.same_shape:
            if shapes[a] != shapes[b]:
                sig.fallback = True
        for out, axes in lay.sum_axes.items():
            g, x = out.op.inputs
            if unbroadcast_axes(shapes[g], shapes[x]) != axes:
                sig.fallback = True
        rank = max([len(s) for s in shapes.values()] + [1])
        S = np.ones((len(lay.index) + 2 * len(lay.slot_dtype), rank), np.int64)
        for t, k in lay.index.items():
            s = shapes[t]
            S[k, :len(s)] = s
        sizes = [1] * len(lay.slot_dtype)
        for t, sl in lay.slot.items():
            sizes[sl] = max(sizes[sl], int(np.prod(shapes[t])))
        # one arena per dtype; each slot starts on a 64-byte boundary (S rows: start, size)
        dts = arena_dtypes(lay.slot_dtype)
        ends = [0] * len(dts)
        for j, (n, dt) in enumerate(zip(sizes, lay.slot_dtype)):
            k = dts.index(dt)
            align = max(1, 64 // dt.itemsize)
            start = -(-ends[k] // align) * align
            S[len(lay.index) + 2 * j, 0], S[len(lay.index) + 2 * j + 1, 0] = start, n
            ends[k] = start + n
        sig.S = S
        sig.arenas = [np.empty(n, dt) for n, dt in zip(ends, dts)]
        sig.pools = [sig.arenas[dts.index(dt)][S[len(lay.index) + 2 * j, 0]:][:n]
                     for j, (n, dt) in enumerate(zip(sizes, lay.slot_dtype))]
        sig.fetch_views = []
        sig.out_specs = [(shapes[b], b.dtype.np) for b in lay.outs]
        if sig.fallback:
            return sig
        for t, b in self._fetch_base:
            view = None
            if b in lay.slot:
                n = int(np.prod(shapes[b]))
                view = sig.pools[lay.slot[b]][:n].reshape(shapes[t])
            sig.fetch_views.append((t, b, view))
        return sig

    def _new_outs(self, sig) -> list:
        return [np.empty(s, d) for s, d in sig.out_specs]

    def _own(self, got: list, fresh: frozenset) -> list:
        """``got`` from a stand-in (the op-by-op fallback, the interim step) with this step's
        ``fresh_pos`` entries made the caller's own: copies where the stand-in's are not."""
        for i in self.fresh_pos - fresh:
            if got[i] is not None:
                got[i] = np.array(got[i], copy=True)
        return got

    def run(self, feeds: dict, state) -> dict:
        values = [feeds[t] for t in self._feed_order]
        outs = self.call(values, state, feeds)
        return dict(zip(self.program.fetches, outs))

    def call(self, values: list, state, feeds: dict | None = None) -> list:
        """Run with feed values in ``program.feeds`` order; fetch values in ``program.fetches``
        order: those at ``fresh_pos`` in arrays of their own, the rest views of reused buffers
        (the caller copies them)."""
        BLAS_THREADS.tick()
        key = tuple([v.shape for v in values])
        sig = self._sigs.get(key)
        if feeds is None and (sig is None or sig.fallback or self._random_pos or self._guarded):
            feeds = dict(zip(self._feed_order, values))
        if sig is None:
            sig = self._sigs[key] = self._prepare(feeds, state)
        if sig.fallback:  # e.g. a None dim that broadcasts at run time: exact op-by-op path
            if self._fallback is None:
                self._fallback = OpExecutor(self.program, _cpu_kernel)
            vals = self._fallback.run(feeds, state)
            return self._own([vals[t] for t in self.program.fetches], frozenset())
        rest = sig.rest
        if rest is None or sig.rest_key[0] is not state or sig.rest_key[1] != state.version:
            rest = sig.rest = tuple(self._base_args(state)[len(values):]) + (sig.S, *sig.arenas)
            sig.rest_key = (state, state.version)
        given = values
        if self._scalar_feeds:
            values = [v.reshape(1) if v.ndim == 0 else v for v in values]
        fn = self.fn
        if sig.waiting is not False and self._not_ready(sig, values, rest):
            self.calls_interim += 1
            if self.background == "ops":
                if self._fallback is None:
                    self._fallback = OpExecutor(self.program, _cpu_kernel)
                vals = self._fallback.run(feeds if feeds is not None else dict(zip(self._feed_order, given)),
                                          state)
                return self._own([vals[t] for t in self.program.fetches], frozenset())
            if self.interim is not None:
                isig = self.interim._sigs.get(key)
                if isig is None or not isig.fallback:
                    return self._own(list(self.interim.call(given, state, feeds)), self.interim.fresh_pos)
            fn = self.fn.py_func  # the same calls, from Python: the same numbers
        outs = self._new_outs(sig)
        if not (self._random_pos or self._guarded):  # the common case: feeds + fixed arguments
            code = fn(*values, *rest, *outs)
            args = None
        else:
            args = list(values) + list(rest) + outs
            for i, t in self._random_pos:
                if t.op.type == "random":
                    a = sample(t.op.attrs, state.rng(t.op), t.op.attrs["shape"])
                else:
                    a = state.rng(t.op).random(sig.shapes[t]).astype(t.dtype.np)
                args[i] = a.reshape(1) if a.ndim == 0 else a
            saved = [(v, state.vars[v].copy()) for v in self._guarded if v in state.vars]
            code = fn(*args)
            if code:
                for v, a in saved:
                    state.write(v, a)
        if code:
            self._raise(code - 1, feeds if feeds is not None else dict(zip(self._feed_order, given)), state)
        out = []
        for (t, b, view), j in zip(sig.fetch_views, self._out_of):
            if j >= 0:
                view = outs[j] if t is b else outs[j].reshape(sig.shapes[t])
            elif view is None:
                i = self._arg_pos[b]
                a = values[i] if i < len(values) else (args[i] if args is not None else rest[i - len(values)])
                view = a.reshape(sig.shapes[t])
            out.append(view)
        if (args is None and fn is self.fn and not self._scalar_feeds
                and all(view is not None or j >= 0 for (_, _, view), j in zip(sig.fetch_views, self._out_of))):
            # what call_hot repeats: the fixed arguments, the fetches that are views of fixed
            # buffers (None where a per-call output array goes), the output arrays' (shape,
            # dtype) and each fetch's shape
            sig.hot = (state, state.version, rest, tuple(None if j >= 0 else v for v, j in zip(out, self._out_of)),
                       tuple(sig.out_specs), tuple(sig.shapes[t] for t in self.program.fetches))
        return out

    def call_hot(self, values: list, state) -> tuple | list:
        """``call`` for the common case, with less Python: feeds of a signature that already ran
        the compiled step with these fixed arguments (same state and version, no random inputs,
        fetches in the step's buffers); anything else goes through ``call``. The caller
        guarantees what the session's entries check: dtypes and C-contiguous feeds."""
        BLAS_THREADS.tick()
        sig = self._sigs.get(tuple([v.shape for v in values]))
        hot = None if sig is None else sig.hot
        if hot is None or hot[0] is not state or hot[1] != state.version:
            return self.call(values, state)
        if not hot[4]:
            code = self.fn(*values, *hot[2])
            if code:
                self._raise(code - 1, dict(zip(self._feed_order, values)), state)
            return hot[3]
        outs = self._new_outs(sig)
        code = self.fn(*values, *hot[2], *outs)
        if code:
            self._raise(code - 1, dict(zip(self._feed_order, values)), state)
        got = list(hot[3])
        for i, j in enumerate(self._out_of):
            if j >= 0:
                got[i] = outs[j] if i in self.fresh_pos else outs[j].reshape(hot[5][i])
        return got

    def _not_ready(self, sig, values: list, rest: tuple) -> bool:
        """Whether this call must run op by op because the compiled step is being built in a
        background process (see graphengine.backends.cpu.background); starts that process on first use."""
        job = sig.waiting
        if job is None:
            sig.waiting = False
            if not self.background:
                return False
            import numba
            args = list(values) + list(rest) + self._new_outs(sig)
            for i, t in self._random_pos:
                args[i] = np.empty(sig.shapes[t] or (1,), t.dtype.np)
            types = tuple(numba.typeof(a) for a in args)
            if types in self.fn.overloads:
                return False
            mark = background.marker(self.mod_file, repr(types))
            if os.path.exists(mark):
                return False
            if self.interim_builder is not None:
                self.interim, self.interim_builder = self.interim_builder(), None
            if self.background == "python" and self.interim is None and not self.body_runnable:
                return False   # nothing to run meanwhile that gives the same numbers: compile here
            same = self._jobs.get(types)   # another feed-shape signature, same Numba types
            if same is not None and same.ok is not False:
                sig.waiting = same
                return same.poll() is None
            try:
                sig.waiting = self._jobs[types] = background.Job(
                    self.mod_file, types, mark, background.loop_dirs(sys.modules[self.fn.py_func.__module__]))
            except (OSError, pickle.PicklingError) as e:
                background.log.error("cannot start a background compile (%s); compiling in the foreground", e)
                return False
            return True
        if job.poll() is None:
            return True
        sig.waiting = False  # done, or failed (logged): the compiled step loads or compiles now
        return False

    def wait_background(self) -> bool:
        """Wait for this plan's background compiles; whether all succeeded (tests use it)."""
        return all(s.waiting.poll(wait=True) for s in self._sigs.values() if s.waiting)

    def _base_args(self, state) -> list:
        """Arguments that stay put between steps (variables, constants), rebuilt only when a
        variable buffer is replaced."""
        cached = self._base
        if cached is not None and cached[0] is state and cached[1] == state.version:
            return cached[2]
        args: list = []
        for kind, t in self.lay.args:
            a = None
            if kind == "variable":
                a = state.read(t.op)
            elif kind == "const":
                a = self._consts[t]
            elif kind == "target":
                a = state.vars.get(t.op)
                if a is None:
                    state.write(t.op, np.zeros(t.shape, t.dtype.np))
                    a = state.vars[t.op]
            args.append(a.reshape(1) if a is not None and a.ndim == 0 else a)
        self._base = (state, state.version, args)
        return args

    def _raise(self, step_no: int, feeds: dict, state) -> None:
        """Re-run op by op on a copy of the state to get the failing op's exact error."""
        if self._fallback is None:
            self._fallback = OpExecutor(self.program, _cpu_kernel)
        shadow = State()
        shadow.vars = {op: a.copy() for op, a in state.vars.items()}
        shadow.rngs = {op: copy.deepcopy(g) for op, g in state.rngs.items()}
        self._fallback.run(feeds, shadow)
        bad = self.fused.ops[step_no]
        raise GraphEngineError(f"{bad.describe()} failed inside the compiled step")
