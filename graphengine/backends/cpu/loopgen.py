"""Elementwise loop nests of the generated CPU step: one loop per fused group (see
``graphengine.compiler.fuse``), through broadcasts and reductions, in the tensors' dtypes."""
from __future__ import annotations

from graphengine.compiler.fuse import BROADCAST_READS, Fused, _sink_axes
from graphengine.graph import Operation, Tensor
from kernels.codegen import render
from kernels.registry import Unsupported  # noqa: F401  (raised here and by step emitters)


def _np_type(t: Tensor) -> str:
    return f"np.{t.dtype.np.name}"


class LoopGen:
    """Mixed into the step generator (``stepgen.Gen``): its ``lay``, ``v``, ``dims``, ``emit``."""

    # elementwise loop nests -------------------------------------------------------------------
    def expr(self, m: Operation, args: list[str]) -> str:
        """One member's scalar expression, computed in its dtype (typed literals, SIMD math)."""
        o = m.outputs[0]
        if m.type == "pow" and m.inputs[1] in self.lay.scalar_consts:  # x**1, x**2: no pow call
            e = self.lay.scalar_consts[m.inputs[1]]
            if e == 1.0:
                return f"{_np_type(o)}({args[0]})"
            if e == 2.0:
                return f"{_np_type(o)}({args[0]} * {args[0]})"
        ct = next((_np_type(t) for t in m.inputs if t.dtype.is_floating), None)
        return f"{_np_type(o)}({render(m.type, args, m.attrs, ctype=ct, cpu=True)})"

    def const_arg(self, t: Tensor) -> str:
        """A scalar constant inside a loop body: read from its argument into a local before the
        loop, never pasted as a literal, so loops that differ only in constants share one helper."""
        nm = f"r{700000 + self.idx(t)}"
        self.consts_pending[nm] = f"{nm} = {_np_type(t)}({self.v(t)}[0])"
        return nm

    def fused(self, f: Fused) -> None:
        if f.sinks or any(m.type in BROADCAST_READS or m.type == "sum_to_like" for m in f.maps):
            self.fused_nest(f)
            return
        self.consts_pending = {}
        dom = f.outputs[0] if f.outputs else f.members[-1].outputs[0]
        rank = self.rank(dom)
        for t in f.outputs:
            self.alloc(t)
            if t is not dom:
                self.lay.same_shape.append((t, dom))
        ivars = [f"i{d}" for d in range(rank)]
        full = lambda t: t.shape == dom.shape  # noqa: E731
        flat = all(full(t) or t in self.lay.scalar_consts or t.shape == () for t in f.inputs)
        if flat:  # None dims: the driver checks per signature that these really match
            self.lay.same_shape.extend((t, dom) for t in f.inputs
                                       if full(t) and None in t.shape and t is not dom)
        body: list[str] = []
        local: dict[Tensor, str] = {}
        if flat:
            n = f"{self.v(dom)}.size"
            loops = [f"for q in range({n}):"]
            index = lambda t: "[0]" if t.shape == () else "[q]"  # noqa: E731
            views = {t: f"{self.v(t)}.reshape(-1)" if rank > 1 and t.shape != () else self.v(t)
                     for t in list(f.inputs) + list(f.outputs) if t not in self.lay.scalar_consts}
            for t, expr in views.items():
                if expr != self.v(t):
                    nm = f"f{self.idx(t)}"
                    self.emit(f"{nm} = {expr}")
                    views[t] = nm
            ref = lambda t: views[t] + index(t)  # noqa: E731
        else:
            loops = [f"for {iv} in range({d}):" for iv, d in zip(ivars, self.adims(dom))]
            views = {t: self.v(t) for t in list(f.inputs) + list(f.outputs)
                     if t not in self.lay.scalar_consts}
            direct = set(f.outputs)
            for t in f.inputs:
                if full(t) and t.shape != ():
                    direct.add(t)
                    if None in t.shape and t is not dom:
                        self.lay.same_shape.append((t, dom))
            at = "[" + ", ".join(ivars) + "]"
            ref = lambda t: views[t] + (at if t in direct else self.bcast_index(t, dom, ivars))  # noqa: E731
        for m in f.members:
            args = []
            for t in m.inputs:
                if t in local:
                    args.append(local[t])
                elif t in self.lay.scalar_consts:
                    args.append(self.const_arg(t))
                else:
                    args.append(ref(t))
            o = m.outputs[0]
            nm = f"e{self.idx(o)}"
            body.append(f"{nm} = {self.expr(m, args)}")
            local[o] = nm
        for t in f.outputs:
            body.append(f"{ref(t)} = {local[t]}")
        if rank == 0 and not flat:
            loops = ["for q in range(1):"]
        for line in self.consts_pending.values():  # local lines right before a loop go with it
            self.emit(line)
        depth = 1
        for lp in loops:
            self.emit(lp, depth)
            depth += 1
        for b in body:
            self.emit(b, depth)

    def fused_nest(self, f: Fused) -> None:
        """A group with broadcast reads and/or reductions: one loop nest over the root's shape.

        Reductions accumulate per column (also when the last axis is reduced, so the inner loop
        stays vectorizable; the columns are then added in float64) and are written once after
        the nest. The whole group sits
        in a one-trip loop so that outlining moves it, finalization included, into one helper.
        """
        self.consts_pending = {}
        dom = f.root.outputs[0] if f.maps else f.sinks[0].inputs[0]  # a lone sink: over its input
        rank = self.rank(dom)
        dims = self.dims(dom)
        for t in f.outputs:
            self.alloc(t)
            if t.op in f.maps and t is not dom:
                self.lay.same_shape.append((t, dom))
        ivars = [f"i{d}" for d in range(rank)]
        at = "[" + ", ".join(ivars) + "]" if rank else "[0]"
        names = iter(range(90000, 10 ** 9))
        fresh = lambda: f"r{next(names)}"  # noqa: E731 - locals, renamed when outlined
        pre: list[str] = []     # inside the one-trip loop, before the nest
        body: list[str] = []
        post: list[str] = []
        local: dict[Tensor, str] = {}

        def ref(t: Tensor) -> str:
            if t in local:
                return local[t]
            if t in self.lay.scalar_consts:
                return self.const_arg(t)
            if t.shape == dom.shape and t.shape != ():
                if None in t.shape and t is not dom:
                    self.lay.same_shape.append((t, dom))
                return self.v(t) + at
            return self.v(t) + self.bcast_index(t, dom, ivars)

        def keep_dims(axes: tuple) -> list[str]:
            return ["1" if i in axes else d for i, d in enumerate(dims)]

        for m in f.maps:
            o = m.outputs[0]
            k = self.idx(o)
            if m.type == "expand_like":
                g = m.inputs[0]
                axes = m.attrs["axis"] if m.attrs["axis"] is not None else tuple(range(rank))
                gv, sc = fresh(), fresh()
                pre.append(f"{gv} = {self.v(g)}.reshape(({', '.join(keep_dims(axes)) or '1'},))")
                idx = ", ".join("0" if i in axes else iv for i, iv in enumerate(ivars)) or "0"
                val = f"{gv}[{idx}]"
                if m.attrs["mean"]:
                    count = " * ".join(dims[i] for i in axes) or "1"
                    pre.append(f"{sc} = {_np_type(o)}(1.0 / max({count}, 1))")
                    val = f"{val} * {sc}"
                body.append(f"e{k} = {_np_type(o)}({val})")
            elif m.type == "broadcast_like":
                body.append(f"e{k} = {ref(m.inputs[0])}")
            elif m.type == "sum_to_like":  # sums over nothing: checked per signature
                self.lay.sum_axes[o] = ()
                self.lay.same_shape.append((m.inputs[0], m.inputs[1]))
                body.append(f"e{k} = {ref(m.inputs[0])}")
            else:
                body.append(f"e{k} = {self.expr(m, [ref(t) for t in m.inputs])}")
            local[o] = f"e{k}"
        stored = set(f.outputs)
        for s in f.sinks:
            if s.outputs[0] not in stored:  # only its shape is used downstream (an S row)
                continue
            x, o = s.inputs[0], s.outputs[0]
            axes = _sink_axes(s)
            if s.type == "sum_to_like":
                self.lay.sum_axes[o] = axes
            whole = len(axes) == rank
            fold = whole and rank > 1  # accumulate per column, add the columns up at the end
            acc = keep_dims(axes)
            if fold:
                acc[-1] = dims[-1]
            ra, tot, rf, ro = fresh(), fresh(), fresh(), fresh()
            # per-column partial sums in the data's dtype (a float64 accumulator would keep the
            # loop scalar); the batch is the only sequential length, columns add up in float64
            pre.append(f"{ra} = np.zeros(({', '.join(acc)},), {_np_type(x)})")
            idx = ", ".join(iv if (i not in axes or (fold and i == rank - 1)) else "0"
                            for i, iv in enumerate(ivars))
            body.append(f"{ra}[{idx}] += {ref(x)}")
            # mean of nothing is NaN, as in NumPy: 0.0 / 0 under error_model='numpy'
            div = f" / ({' * '.join(dims[i] for i in axes)})" if s.type == "reduce_mean" else ""
            post.append(f"{rf} = {ra}.reshape(-1)")
            post.append(f"{ro} = {self.v(o)}.reshape(-1)")
            if fold:
                post.append(f"{tot} = 0.0")
                post.append(f"for j in range({rf}.size):")
                post.append(f"    {tot} += {rf}[j]")
                post.append(f"{ro}[0] = {tot}{div}")
            else:
                post.append(f"for j in range({rf}.size):")
                post.append(f"    {ro}[j] = {rf}[j]{div}")
        for t in f.outputs:
            if t.op in f.maps:
                body.append(f"{self.v(t)}{at} = {local[t]}")
        self.emit("for _once in range(1):")
        for line in [*self.consts_pending.values(), *pre]:
            self.emit(line, 2)
        depth = 2
        for iv, d in zip(ivars, dims):
            self.emit(f"for {iv} in range({d}):", depth)
            depth += 1
        if not ivars:
            self.emit("for q in range(1):", depth)
            depth += 1
        for line in body:
            self.emit(line, depth)
        for line in post:
            self.emit(line, 2)

    def bcast_index(self, t: Tensor, dom: Tensor, ivars: list[str]) -> str:
        if t.shape == () or t in self.lay.scalar_consts:
            return "[0]"
        r, rd = len(t.shape), len(dom.shape)
        parts = []
        for d in range(r):
            dd = d + rd - r
            n, nd = t.shape[d], dom.shape[dd]
            if n == 1:
                parts.append("0")
            elif n is not None and (nd is None or nd == n):
                parts.append(ivars[dd])
            else:  # unknown: index 0 when this dim is broadcast at run time
                parts.append(f"({ivars[dd]} if {self.v(t)}.shape[{d}] != 1 else 0)")
        return "[" + ", ".join(parts) + "]"

