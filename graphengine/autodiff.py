"""Reverse-mode autodiff: ``gradients`` builds backward nodes from each op's ``vjp`` rule."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .errors import GradientError
from .graph import Operation, Tensor
from .ops import source
from .ops.elementwise import add
from .ops.registry import OPS


def _as_list(x: Any) -> list:
    return list(x) if isinstance(x, list | tuple) else [x]


def _tensor(x: Any) -> Tensor:
    return source.as_tensor(x)


def _between(ys: Sequence[Tensor], xs: Sequence[Tensor], stops: set) -> list[Operation]:
    """Ops on some path from an x to a y, in topological order."""
    back: dict[Operation, None] = {}
    stack = [y.op for y in ys]
    while stack:
        op = stack.pop()
        if op in back:
            continue
        back[op] = None
        stack.extend(t.op for t in op.inputs if t not in stops)
    consumers: dict[Operation, list[Operation]] = {}
    for op in back:
        for t in op.inputs:
            consumers.setdefault(t.op, []).append(op)
    fwd: set[Operation] = set()
    stack = [x.op for x in xs]
    while stack:
        op = stack.pop()
        if op in fwd or op not in back:
            continue
        fwd.add(op)
        stack.extend(consumers.get(op, []))
    return sorted(fwd, key=lambda o: o._id)


def _ones_like(y: Tensor) -> Tensor:
    if y.shape is not None and None not in y.shape:
        return source.ones(y.shape, y.dtype, name="grad_ys")
    from .ops.shape import broadcast_like
    return broadcast_like(source.as_tensor(1, y.dtype), y)


def gradients(ys: Any, xs: Any, grad_ys: Any = None, name: str = "gradients",
              stop_gradients: Any = None) -> list[Tensor | None]:
    """Symbolic d(sum(ys))/d(xs) as new graph nodes; None where no path exists (TF1).

    >>> import graphengine as ge
    >>> x = ge.placeholder(ge.float32, ())
    >>> (g,) = ge.gradients(x * x, [x])
    >>> float(g.eval({x: 3.0}, session=ge.Session()))
    6.0
    """
    ys = [_tensor(y) for y in _as_list(ys)]
    xs_list = [_tensor(x) for x in _as_list(xs)]
    stops = {_tensor(s) for s in _as_list(stop_gradients)} if stop_gradients is not None else set()
    if grad_ys is None:
        grad_ys = [None] * len(ys)
    grad_ys = _as_list(grad_ys)
    if len(grad_ys) != len(ys):
        raise ValueError(f"gradients: {len(grad_ys)} grad_ys for {len(ys)} ys")
    graph = ys[0].graph
    ops = _between(ys, xs_list, stops)
    on_path = set(ops)
    grads: dict[Tensor, list[Tensor]] = {}
    with graph.name_scope(name) as root:
        for y, gy in zip(ys, grad_ys):
            if y.op not in on_path:
                continue
            if not y.dtype.is_floating:
                raise GradientError(f"gradients: ys must be floating point; {y.name} is {y.dtype.name}")
            grads.setdefault(y, []).append(_ones_like(y) if gy is None else source.as_tensor(gy, y.dtype))
        for op in reversed(ops):
            out_grads = [_sum(grads.get(t)) for t in op.outputs]
            if all(g is None for g in out_grads) or not op.inputs:
                continue
            od = OPS[op.type]
            if not od.differentiable:
                continue
            if od.vjp is None:
                raise GradientError(f"no gradient rule for {op.describe()}; it lies on the path "
                                    f"from {ys[0].name} to the requested xs")
            first = graph._counter
            with graph.name_scope(f"{root}{op.name}_grad/"):
                in_grads = od.vjp(op, out_grads)
            for new in graph._ops[::-1]:  # backward nodes remember their forward op
                if new._id <= first:
                    break
                new.forward = op
            for t, g in zip(op.inputs, in_grads):
                if g is None or t in stops or t.op not in on_path or not t.dtype.is_floating:
                    continue
                grads.setdefault(t, []).append(g)
    return [_sum(grads.get(x)) if x.op in on_path and x not in stops else None for x in xs_list]


def blocking_ops(ys: Any, xs: Any) -> list[tuple[Operation, str]]:
    """Why no gradient flows from ``xs`` to ``ys``: the ops that cut every path, with a reason.

    Walks forward from ``xs`` over the ops that lie on some path to ``ys`` and stops where a
    gradient cannot pass: a non-differentiable op (argmax, equal, one_hot, ...), ``stop_gradient``,
    or an integer/bool value (a cast to an integer dtype). Returns ``[]`` when some path carries
    a gradient or when no path exists at all; the blockers nearest the ``xs`` come first.
    """
    ys = [_tensor(y) for y in _as_list(ys)]
    xs_list = [_tensor(x) for x in _as_list(xs)]
    on_path = set(_between(ys, xs_list, set()))
    consumers: dict[Tensor, list[Operation]] = {}
    for op in on_path:
        for t in op.inputs:
            consumers.setdefault(t, []).append(op)
    blocked: dict[Operation, str] = {}
    seen: set[Tensor] = set()
    stack = [x for x in xs_list if x.op in on_path]
    while stack:
        t = stack.pop()
        if t in seen:
            continue
        seen.add(t)
        for op in consumers.get(t, []):
            od = OPS[op.type]
            if op.type == "stop_gradient":
                blocked.setdefault(op, "stop_gradient blocks the gradient")
            elif not od.differentiable:
                blocked.setdefault(op, f"{op.type} is not differentiable")
            elif not all(o.dtype.is_floating for o in op.outputs):
                out = op.outputs[0].dtype.name
                blocked.setdefault(op, f"its output is {out}: gradients flow through floating "
                                       "point values only")
            else:
                stack.extend(o for o in op.outputs if o.op in on_path)
    if any(y in seen for y in ys):
        return []  # a path carries a gradient
    return sorted(blocked.items(), key=lambda kv: kv[0]._id)


def _sum(gs: list[Tensor] | None) -> Tensor | None:
    if not gs:
        return None
    if len(gs) > 1:  # fan-out: combine once and cache the sum
        total = gs[0]
        for g in gs[1:]:
            total = add(total, g)
        gs[:] = [total]
    return gs[0]
