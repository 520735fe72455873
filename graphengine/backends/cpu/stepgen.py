"""Generate the source of one Numba function that runs a whole step.

Every tensor becomes a local array: feeds, variables, random draws and constants arrive as
arguments; the rest are views into flat pool buffers (``P<k>``) shaped from the run-time shape
table ``S`` (row per tensor), except fetched tensors, which the step writes straight into the
arrays the caller gets (``o<j>``, one new array per call: no copy out of a reused buffer).
Rank-0 tensors are length-1 vectors here. Elementwise groups become one loop nest; other ops
call the Numba kernels of ``kernels.cpu`` on those views (reductions: ``reducegen``).
The function returns 0, or 1 + the index of the step that failed (e.g. a label out of range).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from graphengine.compiler.fuse import Fused
from graphengine.graph import Operation, Tensor
from graphengine.ops.facts import resolve_alias
from graphengine.ops.registry import OPS
from kernels.codegen import num_literal
from kernels.cpu.outline import LOOP_HEADER, LOOP_NJIT, NJIT, outline  # noqa: F401
from kernels.registry import get_step_emitter

from .loopgen import LoopGen, Unsupported
from .reducegen import ReduceGen
from .updategen import UpdateGen


@dataclass
class Layout:
    """What the generator decided about each tensor; the driver fills buffers to match."""
    index: dict[Tensor, int] = field(default_factory=dict)     # row in S
    args: list[tuple[str, Tensor]] = field(default_factory=list)  # (kind, tensor) per argument
    computed: list[Tensor] = field(default_factory=list)       # tensors that live in the pool
    alias_of: dict[Tensor, Tensor] = field(default_factory=dict)
    scalar_consts: dict[Tensor, float] = field(default_factory=dict)
    # assumptions checked per signature: (tensor, expected same shape as tensor)
    same_shape: list[tuple[Tensor, Tensor]] = field(default_factory=list)
    sum_axes: dict[Tensor, tuple] = field(default_factory=dict)  # sum_to_like out -> axes of g
    view_of: dict[Tensor, Tensor] = field(default_factory=dict)  # reshaped view -> its source
    slot: dict[Tensor, int] = field(default_factory=dict)      # pool slot of each computed tensor
    slot_dtype: list[np.dtype] = field(default_factory=list)
    fail_steps: list[int] = field(default_factory=list)        # steps that can return an error code
    update_steps: list[int] = field(default_factory=list)      # steps that update a variable early
    stand_in: dict[Tensor, Tensor] = field(default_factory=dict)  # fed output -> what the op writes
    # fetched computed tensors (rank >= 1) the step writes into per-call arrays: the step's
    # last parameters, o0, o1, ... in this order
    outs: list[Tensor] = field(default_factory=list)


class _WithOutputs:
    """``op`` as the emitters see it, with some outputs replaced (see ``Gen.partly_fed``)."""

    def __init__(self, op: Operation, outputs: tuple) -> None:
        self._op, self.outputs = op, outputs

    def __getattr__(self, name: str):
        return getattr(self._op, name)



class Gen(LoopGen, UpdateGen, ReduceGen):
    def __init__(self, program) -> None:
        self.p = program
        self.lay = Layout()
        self.lines: list[str] = []
        self.fed = set(program.feeds)
        self.step_no = 0
        self.born: dict[Tensor, int] = {}
        self.last: dict[Tensor, int] = {}
        self.imports: list[str] = []  # module-level imports that registered emitters need
        self.load_loop = None  # callable(source) -> module name: loop helpers in shared modules
        self.consts_pending: dict[str, str] = {}  # scalar-constant locals of the loop being built
        self.alloc_dims: dict[Tensor, list[str]] = {}  # pool-backed tensor -> its shape's dims

    # names ---------------------------------------------------------------------------------
    def idx(self, t: Tensor) -> int:
        lay = self.lay
        if t not in lay.index:
            lay.index[t] = len(lay.index)
        return lay.index[t]

    def base(self, t: Tensor) -> Tensor:
        return resolve_alias(t, self.lay.alias_of.get)

    def v(self, t: Tensor) -> str:
        t = self.base(t)
        u = t
        while u is not None:  # a view keeps the buffer it looks into alive
            self.last[u] = max(self.last.get(u, -1), self.step_no)
            u = self.lay.view_of.get(u)
        return f"t{self.idx(t)}"

    def rank(self, t: Tensor) -> int:
        if t.shape is None:
            raise Unsupported(f"{t.name} has unknown rank")
        return len(t.shape)

    def dims(self, t: Tensor) -> list[str]:
        k = self.idx(t)
        return [f"S[{k}, {i}]" for i in range(self.rank(t))] or ["1"]

    def adims(self, t: Tensor) -> list[str]:
        """Dims read off the array itself (keeps outlined loop bodies free of table indices)."""
        v = self.v(t)
        return [f"{v}.shape[{i}]" for i in range(self.rank(t))] or ["1"]

    def is_c(self, t: Tensor) -> bool:
        """Whether ``t``'s array is C-contiguous by construction: a computed tensor (pool slot
        or output array), a variable's or assignment target's buffer, or a view of one."""
        b = self.base(t)
        while b in self.lay.view_of:
            b = self.lay.view_of[b]
        if b in self.born:
            return True
        return any(u is b and kind in ("variable", "target") for kind, u in self.lay.args)

    def shaped(self, t: Tensor, dims: list[str]) -> str:
        """``t`` viewed with shape ``dims`` (expressions, no -1; same size): ``as_shape`` for a
        C-contiguous array (no call into Numba's reshape helper), else ``reshape``."""
        shape = f"({', '.join(dims)},)"
        return f"as_shape({self.v(t)}, {shape})" if self.is_c(t) else f"{self.v(t)}.reshape({shape})"

    def flat(self, t: Tensor) -> str:
        """``t`` as a 1-D view (``shaped`` to its size)."""
        return self.shaped(t, [" * ".join(self.dims(t))])

    def emit(self, line: str, depth: int = 1) -> None:
        self.lines.append("    " * depth + line)

    def emit_checked(self, call: str) -> None:
        """Emit a kernel call that returns a negative number on success, else an error index:
        the step then returns this step's number so the driver re-runs op by op for the error."""
        self.emit(f"if {call} >= 0:")
        self.emit(f"return {self.step_no + 1}", 2)
        self.lay.fail_steps.append(self.step_no)

    # program ------------------------------------------------------------------------------
    def generate(self) -> tuple[str, Layout]:
        for t in self.p.feeds:
            self.arg("placeholder", t)
        self.fold = self.fold_updates()
        for step_no, op in enumerate(self.p.ops):
            self.step_no = step_no
            if op in self.folded:
                continue
            if isinstance(op, Fused):
                self.fused(op)
                continue
            if op.outputs and all(t in self.fed for t in op.outputs):
                continue
            if any(t in self.fed for t in op.outputs):
                op = self.partly_fed(op)
            self.op(op)
        self.step_no = len(self.p.ops) + 1
        for t in self.p.fetches:
            self.v(t)  # fetched values stay live to the end
        self.plan_memory()
        return self.source(), self.lay

    def partly_fed(self, op: Operation) -> Operation:
        """An op with some outputs fed still runs for the others: it writes each fed output into
        a stand-in buffer, so readers of the fed tensor see the fed value."""
        outs = []
        for t in op.outputs:
            if t in self.fed:
                sub = Tensor(t.op, t.value_index, t.shape, t.dtype)
                self.lay.stand_in[t] = sub
                t = sub
            outs.append(t)
        return _WithOutputs(op, tuple(outs))

    def plan_memory(self) -> None:
        """Fetched tensors (rank >= 1) go to per-call output arrays (``lay.outs``); the rest get
        pool slots by greedy interval colouring per dtype: a slot is reused once its last reader
        has run."""
        lay = self.lay
        computed = set(lay.computed)
        for t in self.p.fetches:
            b = resolve_alias(t, lay.alias_of.get, lay.view_of.get)
            if b in computed and b.shape != () and b not in lay.outs:
                lay.outs.append(b)
        outs = set(lay.outs)
        free: dict[np.dtype, list[int]] = {}
        ends: list[tuple[int, int, np.dtype]] = []  # (last use, slot, dtype)
        for t in sorted((t for t in lay.computed if t not in outs), key=lambda t: self.born[t]):
            start = self.born[t]
            for end, sl, dt in [e for e in ends if e[0] < start]:
                ends.remove((end, sl, dt))
                free.setdefault(dt, []).append(sl)
            dt = t.dtype.np
            pool = free.get(dt)
            if pool:
                sl = pool.pop()
            else:
                sl = len(lay.slot_dtype)
                lay.slot_dtype.append(dt)
            lay.slot[t] = sl
            ends.append((self.last.get(t, start), sl, dt))

    def source(self) -> str:
        lay = self.lay
        arenas = arena_dtypes(lay.slot_dtype)
        params = [f"a{i}" for i in range(len(lay.args))]
        params += ["S"] + [f"A{k}" for k in range(len(arenas))] + [f"o{j}" for j in range(len(lay.outs))]
        head = [f"def step({', '.join(params)}):"]
        for i, (_, t) in enumerate(lay.args):
            head.append(f"    t{self.idx(t)} = a{i}")
        rows = len(lay.index)   # S's rows past the tensors' shapes: each slot's (start, size)
        for j, dt in enumerate(lay.slot_dtype):
            r = rows + 2 * j
            head.append(f"    p{j} = A{arenas.index(dt)}[S[{r}, 0]:S[{r}, 0] + S[{r + 1}, 0]]")
        helpers, lines = outline(self.lines, self.load_loop)
        body = "\n".join(lines)
        for t, sl in self.lay.slot.items():
            dims = self.alloc_dims[t]
            body = body.replace(f"@P{self.idx(t)}@", f"as_shape(p{sl}, ({', '.join(dims)},))")
        for j, t in enumerate(self.lay.outs):
            body = body.replace(f"@P{self.idx(t)}@", f"o{j}")
        return helpers + NJIT + "\n" + "\n".join(head) + "\n" + body + "\n    return 0\n"

    def arg(self, kind: str, t: Tensor) -> None:
        self.idx(t)
        self.lay.args.append((kind, t))

    def alloc(self, t: Tensor) -> None:
        """Declare a computed output: ``plan_memory`` puts it in a pool slot (a view of the
        slot's buffer, shaped from S) or, if it is fetched, in a per-call output array."""
        k = self.idx(t)
        self.lay.computed.append(t)
        self.born[t] = self.step_no
        self.alloc_dims[t] = self.dims(t)
        self.emit(f"t{k} = @P{k}@")

    def scalar(self, t: Tensor) -> str:
        """A rank-0 (or size-1) input read as a scalar."""
        if t in self.lay.scalar_consts:
            return num_literal(self.lay.scalar_consts[t])
        # float(): the step's scalar arithmetic is float64 whether Numba or Python runs it
        # (NumPy 2 would keep a float32 scalar's math in float32: see graphengine.backends.cpu.background)
        return f"float({self.v(t)}[0])"

    def op(self, op: Operation) -> None:
        kind = op.type
        out = op.outputs[0] if op.outputs else None
        if OPS[kind].arg_source:
            if kind == "const" and out.shape == () and out.dtype.is_floating | out.dtype.is_integer:
                self.lay.scalar_consts[out] = op.attrs["value"].item()
            self.arg(kind, out)
            return
        if kind == "group":
            return
        if OPS[kind].view:
            src = op.inputs[0]
            self.lay.alias_of[out] = src
            if kind in ("identity", "stop_gradient", "placeholder_with_default"):
                return
            # a view with the new shape
            del self.lay.alias_of[out]
            k = self.idx(out)
            dims = self.dims(out)
            self.emit(f"t{k} = {self.shaped(src, dims)}")
            self.lay.view_of[out] = self.base(src)
            return
        reg = get_step_emitter(kind)
        if reg is not None:
            fn, imports = reg
            for line in imports:
                if line not in self.imports:
                    self.imports.append(line)
            fn(self, op)
            return
        gen = getattr(self, "op_" + kind, None)
        if gen is None:
            od = OPS[kind]
            if od.kind == "elementwise":
                self.fused(Fused((op,), tuple(op.inputs), tuple(op.outputs)))
                return
            raise Unsupported(f"no step code generator for op {kind!r}")
        gen(op)

    def loops(self, t: Tensor, prefix: str = "i") -> tuple[list[str], int]:
        """Open a loop nest over ``t``'s dims; returns the index names and the body depth."""
        ivars = [f"{prefix}{d}" for d in range(self.rank(t))]
        depth = 1
        for iv, d in zip(ivars, self.adims(t)):
            self.emit(f"for {iv} in range({d}):", depth)
            depth += 1
        return ivars, depth

    def _axis_offset(self, xs, upto: int, axis: int) -> str:
        return " + ".join(f"{self.v(x)}.shape[{axis}]" for x in xs[:upto]) or "0"

    def op_concat(self, op: Operation) -> None:
        out, ax = op.outputs[0], op.attrs["axis"]
        self.alloc(out)
        for k, x in enumerate(op.inputs):
            off = self._axis_offset(op.inputs, k, ax)
            ivars, depth = self.loops(x, f"c{k}_")
            dst = [f"{off} + {iv}" if d == ax else iv for d, iv in enumerate(ivars)]
            self.emit(f"{self.v(out)}[{', '.join(dst)}] = {self.v(x)}[{', '.join(ivars)}]", depth)

    def op_concat_part(self, op: Operation) -> None:
        g, xs = op.inputs[0], op.inputs[1:]
        out, ax, i = op.outputs[0], op.attrs["axis"], op.attrs["index"]
        self.alloc(out)
        off = self._axis_offset(xs, i, ax)
        ivars, depth = self.loops(out)
        src = [f"{off} + {iv}" if d == ax else iv for d, iv in enumerate(ivars)]
        self.emit(f"{self.v(out)}[{', '.join(ivars)}] = {self.v(g)}[{', '.join(src)}]", depth)

    def op_matmul(self, op: Operation) -> None:
        a, b = op.inputs
        out = op.outputs[0]
        if not out.dtype.is_floating:
            raise Unsupported("integer matmul")
        if out in self.fold:
            self.op_matmul_sgd(op, *self.fold[out][1:])
            return
        self.alloc(out)
        fn = "matmul_" + ("t" if op.attrs["transpose_a"] else "n") + ("t" if op.attrs["transpose_b"] else "n")
        self.emit(f"{fn}({self.v(a)}, {self.v(b)}, {self.v(out)})")

    def op_broadcast_like(self, op):
        x, like = op.inputs
        out = op.outputs[0]
        self.fused_copy(x, out)

    def fused_copy(self, x: Tensor, out: Tensor) -> None:
        self.alloc(out)
        ivars = [f"i{d}" for d in range(self.rank(out))]
        depth = 1
        for iv, d in zip(ivars, self.adims(out)):
            self.emit(f"for {iv} in range({d}):", depth)
            depth += 1
        if not ivars:
            self.emit(f"{self.v(out)}[0] = {self.v(x)}[0]")
            return
        self.emit(f"{self.v(out)}[{', '.join(ivars)}] = {self.v(x)}{self.bcast_index(x, out, ivars)}", depth)

    def _rows(self, x: Tensor) -> str:
        d = self.dims(x)
        return self.shaped(x, [' * '.join(d[:-1]) or '1', d[-1]])

    def op_softmax(self, op, log=False):
        x, out = op.inputs[0], op.outputs[0]
        self.alloc(out)
        self.emit(f"softmax_rows({self._rows(x)}, {self._rows(out)}, {log})")

    def op_log_softmax(self, op):
        self.op_softmax(op, log=True)

    def op_sparse_softmax_xent(self, op, fn="sparse_xent_rows"):
        x, y = op.inputs
        loss, back = op.outputs
        self.alloc(loss)
        self.alloc(back)
        self.emit_checked(f"{fn}({self.v(x)}, {self.v(y)}, {self.v(loss)}, {self.v(back)})")

    def op_softmax_xent(self, op):
        self.op_sparse_softmax_xent(op, fn="dense_xent_rows")

    def op_one_hot(self, op):
        idx, out = op.inputs[0], op.outputs[0]
        self.alloc(out)
        a = op.attrs
        self.emit(f"one_hot_flat({self.v(idx)}.reshape(-1), {a['depth']}, {num_literal(a['on_value'])}, "
                  f"{num_literal(a['off_value'])}, {self.v(out)}.reshape((-1, {a['depth']})))")

    def op_transpose(self, op):
        x, out = op.inputs[0], op.outputs[0]
        perm = op.attrs["perm"]
        self.alloc(out)
        ivars = [f"i{d}" for d in range(len(perm))]
        depth = 1
        for iv, d in zip(ivars, self.adims(out)):
            self.emit(f"for {iv} in range({d}):", depth)
            depth += 1
        src = [None] * len(perm)
        for d, p in enumerate(perm):
            src[p] = ivars[d]
        self.emit(f"{self.v(out)}[{', '.join(ivars)}] = {self.v(x)}[{', '.join(src)}]", depth)

HEADER = """# generated by graphengine: one training/eval step ({note})
import math
import numba
import numpy as np
from kernels.cpu.linalg import matmul_nn, matmul_nt, matmul_tn, matmul_tt, matmul_tn_sgd
from kernels.cpu.reduce import sum3, max3, argmax3, expand3, mean_div, imean_div
from kernels.cpu.nn import softmax_rows, sparse_xent_rows, dense_xent_rows
from kernels.cpu.optim import sgd, momentum, rmsprop, adam, adagrad, copy_flat, add_flat, scale_flat
from kernels.cpu.movement import as_shape, one_hot_flat
from kernels.cpu.simd import vexp, vlog, vlog1p, vexpm1, vtanh, vsigmoid, vsoftplus

"""


def generate(program, kernel_hash: str, load_loop=None) -> tuple[str, Layout]:
    """The step's source and layout; ``load_loop(source) -> module name`` puts loop helpers in
    shared modules (see ``outline``)."""
    g = Gen(program)
    if load_loop is not None:
        g.load_loop = lambda src: load_loop(src.replace("{note}", f"kernels {kernel_hash}"))
    body, lay = g.generate()
    extra = "".join(line + "\n" for line in g.imports)
    src = HEADER.format(note=f"kernels {kernel_hash}") + extra + ("\n" if extra else "") + body
    return src, lay


def arena_dtypes(slot_dtype: list) -> list:
    """The step's buffer arenas: one array per dtype (in the order the slots first use them),
    every pool slot a view into its dtype's arena. One argument per dtype instead of one per slot:
    the compiled step's call unboxes each array argument (~0.1 us apiece on a tiny model)."""
    out: list = []
    for dt in slot_dtype:
        if dt not in out:
            out.append(dt)
    return out
