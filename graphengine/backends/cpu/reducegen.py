"""The generated step's reductions and their gradients' broadcasts: ``reduce_*``, ``argmax``/``argmin``,
``expand_like`` and ``sum_to_like`` (adjacent axes through the ``(a, r, b)`` kernels of
``kernels.cpu.reduce``; any other set of axes by one loop nest)."""
from __future__ import annotations

from graphengine.graph import Operation, Tensor
from graphengine.ops.facts import unbroadcast_axes, view3
from graphengine.ops.reduce import reduce_identity
from kernels.codegen import num_literal, size_src

from .loopgen import Unsupported


class ReduceGen:
    """Mixed into the step generator (``stepgen.Gen``)."""

    def _keep_view(self, x: Tensor, t: Tensor, axes: tuple) -> str:
        """``t`` (a reduction of x over axes) viewed with x's rank, 1 on the reduced axes."""
        d = self.dims(x)
        keep = ["1" if i in axes else n for i, n in enumerate(d)]
        return self.shaped(t, keep)

    def _reduce_generic(self, x: Tensor, out: Tensor, axes: tuple, how: str) -> None:
        """Any set of axes, by one loop nest over x (used when the axes are not adjacent)."""
        k = self.idx(out)
        self.emit(f"r{k} = {self._keep_view(x, out, axes)}")
        init = "0" if how in ("sum", "mean") else num_literal(reduce_identity(f"reduce_{how}", x.dtype.np))
        self.emit(f"{self.flat(out)}[:] = {init}")
        ivars, depth = self.loops(x)
        at = ", ".join("0" if i in axes else iv for i, iv in enumerate(ivars))
        src = f"{self.v(x)}[{', '.join(ivars)}]"
        if how in ("sum", "mean"):
            self.emit(f"r{k}[{at}] += {src}", depth)
        else:
            cmp = ">" if how == "max" else "<"
            self.emit(f"if {src} {cmp} r{k}[{at}] or {src} != {src}:", depth)
            self.emit(f"r{k}[{at}] = {src}", depth + 1)
        if how == "mean":
            count = " * ".join(self.dims(x)[i] for i in axes) or "1"
            self._mean_div(out, count)

    def _mean_div(self, out: Tensor, count: str) -> None:
        """Sum -> mean in place: NaN over an empty axis for floats; exact truncation for ints."""
        fn = "mean_div" if out.dtype.is_floating else "imean_div"
        self.emit(f"{fn}({self.flat(out)}, {count})")

    # compute ops ------------------------------------------------------------------------------
    def _three(self, x: Tensor, axes: tuple) -> tuple[str, str, str]:
        d = self.dims(x) if self.rank(x) else []
        three = view3(d, axes, size_src)
        if three is None:
            raise Unsupported("reduction over non-adjacent axes")
        return three

    def _reduce(self, op: Operation, how: str) -> None:
        x, out = op.inputs[0], op.outputs[0]
        axes = op.attrs["axis"] if op.attrs["axis"] is not None else tuple(range(self.rank(x)))
        if axes and max(axes) - min(axes) + 1 != len(axes):
            self.alloc(out)
            self._reduce_generic(x, out, tuple(axes), how)
            return
        a, r, b = self._three(x, op.attrs["axis"])
        self.alloc(out)
        x3 = self.shaped(x, [a, r, b])
        o2 = self.shaped(out, [a, b])
        if how in ("sum", "mean"):
            self.emit(f"sum3({x3}, {o2})")
            if how == "mean":
                self._mean_div(out, r)
        else:
            init = num_literal(reduce_identity(f"reduce_{how}", x.dtype.np))
            self.emit(f"max3({x3}, {o2}, {1 if how == 'max' else -1}, {init})")

    def op_reduce_sum(self, op):
        self._reduce(op, "sum")

    def op_reduce_mean(self, op):
        self._reduce(op, "mean")

    def op_reduce_max(self, op):
        self._reduce(op, "max")

    def op_reduce_min(self, op):
        self._reduce(op, "min")

    def _arg(self, op, sign):
        x, out = op.inputs[0], op.outputs[0]
        a, r, b = self._three(x, (op.attrs["axis"],))
        self.alloc(out)
        self.emit(f"argmax3({self.v(x)}.reshape(({a}, {r}, {b})), "
                  f"{self.v(out)}.reshape(({a}, {b})), {sign})")

    def op_argmax(self, op):
        self._arg(op, 1)

    def op_argmin(self, op):
        self._arg(op, -1)

    def op_expand_like(self, op):
        g, x = op.inputs
        out = op.outputs[0]
        axes = op.attrs["axis"] if op.attrs["axis"] is not None else tuple(range(self.rank(x)))
        if axes and max(axes) - min(axes) + 1 != len(axes):
            self.alloc(out)
            kv = self._keep_view(x, g, tuple(axes))
            count = " * ".join(self.dims(x)[i] for i in axes) if op.attrs["mean"] else "1"
            ivars, depth = self.loops(out)
            at = ", ".join("0" if i in axes else iv for i, iv in enumerate(ivars))
            self.emit(f"{self.v(out)}[{', '.join(ivars)}] = {kv}[{at}] / max({count}, 1)", depth)
            return
        a, r, b = self._three(x, op.attrs["axis"])
        self.alloc(out)
        scale = f"1.0 / max({r}, 1)" if op.attrs["mean"] else "1.0"
        self.emit(f"expand3({self.shaped(g, [a, b])}, {self.shaped(out, [a, r, b])}, {scale})")

    def op_sum_to_like(self, op):
        g, x = op.inputs
        out = op.outputs[0]
        if g.shape is None or x.shape is None:
            raise Unsupported("sum_to_like with unknown rank")
        axes = unbroadcast_axes(g.shape, x.shape)
        self.lay.sum_axes[out] = axes
        if not axes:  # no broadcasting (checked per signature): the gradient passes through
            self.lay.same_shape.append((g, x))
            self.lay.alias_of[out] = g
            return
        self.alloc(out)
        if max(axes) - min(axes) + 1 != len(axes):
            self._reduce_generic(g, out, axes, "sum")
            return
        a, r, b = self._three(g, axes)
        self.emit(f"sum3({self.shaped(g, [a, r, b])}, {self.shaped(out, [a, b])})")
