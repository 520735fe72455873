"""simplify: common-subexpression elimination, constant folding and algebraic identities.

Pure: returns a new Program. Ops whose inputs change are cloned (the graph is never edited);
``Program.aliases`` records where each fetched tensor's value now comes from.
"""
from __future__ import annotations

import numpy as np

from .. import dtypes as _dt
from ..graph import Operation, Tensor
from ..ops.facts import resolve_alias
from ..ops.registry import OPS
from .program import Program

FOLD_LIMIT = 1 << 16  # fold constants up to this many elements (bigger ones stay computed)


def _attr_key(attrs: dict):
    out = []
    for k, v in sorted(attrs.items()):
        if isinstance(v, np.ndarray):
            data = tuple(v.reshape(-1).tolist()) if v.dtype == object else v.tobytes()  # strings
            out.append((k, v.dtype.str, v.shape, data))
        elif isinstance(v, Operation | _dt.DType | str | int | float | bool | tuple | type(None)):
            out.append((k, v if not isinstance(v, Operation) else id(v)))
        else:
            return None  # unhashable or unknown: never merge
    return tuple(out)


def _const_value(t: Tensor, fed: frozenset = frozenset()):
    return t.op.attrs["value"] if t.op.type == "const" and t not in fed else None


def _scalar_is(t: Tensor, x: float, fed: frozenset) -> bool:
    v = _const_value(t, fed)
    return v is not None and v.size == 1 and float(v.reshape(-1)[0]) == x


def _identity_of(op: Operation, fed: frozenset) -> Tensor | None:
    """x + 0, x - 0, x * 1, x / 1 and identity-like ops are their input (same shape and dtype)."""
    out = op.outputs[0] if op.outputs else None
    if op.type in ("identity", "stop_gradient"):
        return op.inputs[0]
    if op.type not in ("add", "subtract", "multiply", "divide") or out is None:
        return None
    a, b = op.inputs
    unit = 0.0 if op.type in ("add", "subtract") else 1.0
    for keep, other in ((a, b), (b, a)):
        if keep is b and op.type in ("subtract", "divide"):
            continue
        if _scalar_is(other, unit, fed) and keep.shape == out.shape and keep.dtype == out.dtype \
                and keep.shape is not None and None not in keep.shape:
            return keep
    return None


def simplify(p: Program) -> Program:
    fed = frozenset(p.feeds)  # a fed constant is not constant
    rep: dict[Tensor, Tensor] = {}
    rep_op: dict[Operation, Operation] = {}
    seen: dict[tuple, Operation] = {}
    out_ops: list[Operation] = []

    def res(t: Tensor) -> Tensor:  # follow chains: clone -> merged -> folded
        return resolve_alias(t, rep.get)

    for op in p.ops:
        ins = [res(t) for t in op.inputs]
        ctrl = [rep_op.get(c, c) for c in op.control_inputs]
        od = OPS[op.type]
        if any(t in fed for t in op.outputs):
            out_ops.append(op)
            continue
        if ins != list(op.inputs) or ctrl != list(op.control_inputs):
            new = Operation(op.graph, op.type, ins, op.attrs, op.name, op.site, ctrl)
            new.outputs = tuple(Tensor(new, i, t.shape, t.dtype) for i, t in enumerate(op.outputs))
            new.forward = op.forward
            rep.update(zip(op.outputs, new.outputs))
            rep_op[op] = new
            op = new
        pure = not od.no_cse
        if pure and op.outputs:
            same = _identity_of(op, fed)
            if same is not None and same is not op.outputs[0]:
                rep[op.outputs[0]] = same
                continue
            key = _attr_key(op.attrs)
            if key is not None:
                key = (op.type, tuple(id(t) for t in op.inputs), key)
                prev = seen.get(key)
                if prev is not None:
                    rep.update(zip(op.outputs, prev.outputs))
                    continue
                seen[key] = op
            folded = _fold(op, od, fed)
            if folded is not None:
                rep[op.outputs[0]] = folded.outputs[0]
                op = folded
                key2 = ("const", (), _attr_key(folded.attrs))
                if key2 in seen:
                    rep[op.outputs[0]] = seen[key2].outputs[0]
                    continue
                seen[key2] = folded
        out_ops.append(op)
    aliases = dict(p.aliases)
    for t in p.fetches:
        if res(t) is not t:
            aliases[t] = res(t)
    return Program(ops=tuple(out_ops), fetches=tuple(res(t) for t in p.fetches),
                   targets=tuple(rep_op.get(o, o) for o in p.targets), feeds=p.feeds,
                   aliases=aliases, n_phase1=p.n_phase1)


def _fold(op: Operation, od, fed: frozenset) -> Operation | None:
    if op.type == "const" or od.ref is None or len(op.outputs) != 1 or not op.inputs:
        return None
    vals = [_const_value(t, fed) for t in op.inputs]
    if any(v is None for v in vals):
        return None
    out = op.outputs[0]
    if out.shape is None or None in out.shape or int(np.prod(out.shape)) > FOLD_LIMIT:
        return None
    try:
        value = np.asarray(od.ref(op.attrs, *vals), dtype=out.dtype.np)
    except Exception:  # noqa: BLE001 - leave it to run time, where errors name the op
        return None
    if value.shape != out.shape:
        return None
    value.setflags(write=False)
    c = Operation(op.graph, "const", [], {"value": value}, op.name, op.site)
    c.outputs = (Tensor(c, 0, out.shape, out.dtype),)
    c.forward = op.forward
    return c
