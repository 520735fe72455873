"""The generated step's optimizer updates and assignments: flat, in place on the variables."""
from __future__ import annotations

import numpy as np

from graphengine.compiler.fuse import Fused
from graphengine.ops.facts import render_adam_step_size
from graphengine.ops.registry import OPS
from kernels.codegen import num_literal

from .loopgen import Unsupported, _np_type

MT_KERNELS = ("rmsprop", "adam", "momentum")


def mt_updates() -> bool:
    """Whether this process's steps split large updates over MKL's threads (``kernels.cpu.omp``)."""
    from kernels.cpu import omp
    return omp.enabled()


def _mt_size(var) -> bool:
    """A variable large enough for the threaded update (unknown sizes: the kernel decides)."""
    from kernels.cpu.omp import PAR_MIN
    shape = var.shape
    if shape is None or any(d is None for d in shape):
        return True
    return int(np.prod(shape, dtype=np.int64)) >= PAR_MIN


class UpdateGen:
    """Mixed into the step generator (``stepgen.Gen``)."""

    def fold_updates(self) -> dict:
        """The ``fold_updates`` pass: gradient-descent updates done by their gradient's GEMM.

        ``apply_gradient_descent(var, lr, grad)`` with ``grad = matmul(a, b, transpose_a=True)``
        (a dense layer's weight gradient) becomes one ``matmul_tn_sgd(a, b, var, lr)`` at the
        matmul: BLAS adds ``-lr * a.T @ b`` into the variable, the gradient is never stored and
        no update pass reads it back. Only where that changes nothing else a step sees: the
        gradient has no other reader and is not fetched, ``lr`` is a constant or a feed (known
        before the matmul), and no op between the matmul and the update reads the variable (or a
        view of it), so every read still sees the value the schedule gives it.
        Returns {matmul output: (update op, var, lr source)}; ``self.folded`` holds the updates."""
        ops = list(self.p.ops)
        pos = {op: i for i, op in enumerate(ops)}
        readers: dict = {}
        for i, op in enumerate(ops):
            for t in op.inputs:
                readers.setdefault(t, []).append(i)
        fetched = set(self.p.fetches)
        fold: dict = {}
        for op in ops:
            if op.type != "apply_gradient_descent":
                continue
            var, lr, grad = op.inputs
            mm = grad.op
            if mm.type != "matmul" or mm not in pos or not mm.attrs["transpose_a"] \
                    or mm.attrs["transpose_b"] or grad.dtype.np not in (np.float32, np.float64) \
                    or var.dtype != grad.dtype or var.shape is None or len(var.shape) != 2 \
                    or grad.shape is None or len(grad.shape) != 2:
                continue
            if grad in fetched or grad in self.fed or var in self.fed or readers.get(grad) != [pos[op]]:
                continue
            if lr.op.type == "const" and lr.shape == ():
                lr_src = num_literal(float(lr.op.attrs["value"]))
            elif lr in self.fed and lr.shape == ():
                lr_src = None   # read from the feed when emitted
            else:
                continue
            views, stack = {var}, [var]
            while stack:   # views of the variable (identity, reshape, ...) read it too
                t = stack.pop()
                for j in readers.get(t, ()):
                    o = ops[j]
                    if not isinstance(o, Fused) and OPS[o.type].view:
                        for u in o.outputs:
                            if u not in views:
                                views.add(u)
                                stack.append(u)
            lo, hi = pos[mm], pos[op]
            if any(lo < j < hi and not (not isinstance(ops[j], Fused) and OPS[ops[j].type].view)
                   for t in views for j in readers.get(t, ())):
                continue
            fold[grad] = (op, var, lr, lr_src)
        self.folded = {v[0] for v in fold.values()}
        return fold

    def op_matmul_sgd(self, op, var, lr, lr_src) -> None:
        """The matmul of a folded update (see ``fold_updates``)."""
        a, b = op.inputs
        T = _np_type(var)
        lit = lr_src if lr_src is not None else self.scalar(lr)
        self.emit(f"matmul_tn_sgd({self.v(a)}, {self.v(b)}, {self.v(var)}, {T}({lit}))")
        self.lay.update_steps.append(self.step_no)

    def _upd(self, op, fn: str, flat: list[str], scalars: list[str]) -> None:
        """In-place update call; scalars are cast to the variable's dtype (float32 math). Where
        the GEMMs run on MKL, large variables get the update split over MKL's OpenMP threads
        (``kernels.cpu.optim_mt``: the same numbers)."""
        ins = dict(zip(OPS[op.type].meta["inputs"], op.inputs))
        if fn in MT_KERNELS and _mt_size(ins["var"]) and mt_updates():
            fn += "_mt"
            line = f"from kernels.cpu.optim_mt import {fn}"
            if line not in self.imports:
                self.imports.append(line)
        T = _np_type(ins["var"])
        args = [self.flat(ins[n]) for n in flat]
        args += [f"{T}({x})" if not x.startswith(("True", "False")) else x for x in scalars]
        self.emit(f"{fn}({', '.join(args)})")

    def op_apply_gradient_descent(self, op):
        self._upd(op, "sgd", ["var", "grad"], [self.scalar(op.inputs[1])])

    def op_apply_momentum(self, op):
        ins = dict(zip(OPS[op.type].meta["inputs"], op.inputs))
        self._upd(op, "momentum", ["var", "accum", "grad"],
                  [self.scalar(ins["lr"]), self.scalar(ins["momentum"]), repr(op.attrs["nesterov"])])

    def op_apply_rms_prop(self, op):
        a = op.attrs
        self._upd(op, "rmsprop", ["var", "ms", "mom", "grad"],
                  [self.scalar(op.inputs[3]), num_literal(a["rho"]), num_literal(1.0 - a["rho"]),
                   num_literal(a["momentum"]), num_literal(a["epsilon"])])

    def op_apply_adam(self, op):
        a = op.attrs
        ins = dict(zip(OPS[op.type].meta["inputs"], op.inputs))
        b1, b2 = a["beta1"], a["beta2"]
        lr, t = self.scalar(ins["lr"]), self.scalar(ins["t"])
        L = num_literal
        step = render_adam_step_size(lr, t, L(b1), L(b2))
        self._upd(op, "adam", ["var", "m", "v", "grad"],
                  [step, L(b1), L(1.0 - b1), L(b2), L(1.0 - b2), L(a["epsilon"])])

    def op_apply_adagrad(self, op):
        self._upd(op, "adagrad", ["var", "accum", "grad"], [self.scalar(op.inputs[2])])

    def op_assign(self, op):
        var = op.attrs["targets"][0].outputs[0]
        self.arg("target", var)
        self.emit(f"copy_flat({self.flat(var)}, {self.flat(op.inputs[0])})")
        self.lay.alias_of[op.outputs[0]] = var

    def op_assign_add(self, op):
        var_read, delta = op.inputs
        if delta.shape != var_read.shape:
            raise Unsupported("assign_add with broadcasting")
        self.emit(f"add_flat({self.flat(var_read)}, {self.flat(delta)})")
        self.lay.alias_of[op.outputs[0]] = var_read


