"""The single op registry: ``OpDef`` holds everything about an op; ``apply`` builds a node."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import dtypes as _dt
from ..errors import DTypeError, GraphEngineError, ShapeError
from ..graph import Operation, Tensor, get_default_graph, shape_str, user_site

# kind: how compilers treat the op.
#   elementwise - same-shape (broadcast) map with a scalar `template`
#   reduce, movement, matmul, nn - compute kernels
#   source - placeholder/const/variable/random: no tensor inputs
#   update - mutates variables at step end (assign, optimizer applies)
#   control - group/no_op
#   host - runs on the host after the rest of the step, producing Python values (summaries)
KINDS = ("elementwise", "reduce", "movement", "matmul", "nn", "source", "update", "control", "host")

HEAVY_KINDS = ("matmul", "reduce", "nn")  # compute kernels a compiled step pays off for

InferFn = Callable[..., Any]


@dataclass(frozen=True)
class OpDef:
    name: str
    kind: str
    infer: InferFn                     # (shapes, dtypes, attrs) -> [(shape, dtype), ...]
    ref: Callable | None = None        # (attrs, *arrays) -> array | tuple of arrays (NumPy spec)
    vjp: Callable | None = None        # (op, grads) -> [grad or None per input]; graph ops only
    template: str | None = None        # elementwise: scalar expr over {0},{1},... and {attr}
    num_outputs: int = 1
    differentiable: bool = True        # False: gradient is None through it (argmax, equal, ...)
    # flags: what compilers and backends ask about an op (never a list of names elsewhere)
    stateful: bool = False             # a run's effect is not a function of the inputs (random
    #                                    draws, updates, collectives, summaries): never merged or folded
    random: bool = False               # draws from its own random stream (implies stateful)
    runtime: bool = False              # the runtime computes it (feeds, constants, variables,
    #                                    random streams, grouping): no kernel on any backend
    arg_source: bool = False           # the compiled CPU step receives its value as an argument
    host_only: bool = False            # runs on the host (shape known only at run time, Python
    #                                    values): never inside a captured CUDA graph
    no_cse: bool = False               # never merged by CSE (defop: stateful, update, control)
    view: bool = False                 # the output is input 0's data, as is or reshaped (no copy)
    heavy: bool = False                # worth compiling a whole CPU step for (defop: kinds in
    #                                    HEAVY_KINDS; the fused optimizer updates)
    doc: str = ""
    meta: dict = field(default_factory=dict)


OPS: dict[str, OpDef] = {}


def defop(name: str, kind: str, infer: InferFn, **kw: Any) -> OpDef:
    if name in OPS:
        raise ValueError(f"op {name!r} registered twice")
    if kind not in KINDS:
        raise ValueError(f"unknown op kind {kind!r}")
    kw.setdefault("no_cse", kw.get("stateful", False) or kind in ("update", "control"))
    kw.setdefault("heavy", kind in HEAVY_KINDS)
    od = OpDef(name=name, kind=kind, infer=infer, **kw)
    OPS[name] = od
    return od


def get_op_def(name: str) -> OpDef:
    try:
        return OPS[name]
    except KeyError:
        raise KeyError(f"no op named {name!r} is registered") from None


# Ops that take tf.string inputs (they move or combine strings on the host); any other op given a
# string raises a DTypeError naming it and the user's line. Modules defining string ops add theirs.
STRING_OPS: set[str] = {"identity", "stop_gradient", "placeholder_with_default", "reshape",
                        "reshape_like", "expand_dims", "squeeze", "concat", "transpose"}


def _no_strings(op_type: str, inputs: Sequence[Tensor]) -> None:
    for t in inputs:
        if t.dtype.name == "string":
            raise DTypeError(f"{op_type} does not compute on strings ({t.name} is a tf.string tensor); "
                             "strings support identity, reshape/concat/slicing, tf.strings.join and "
                             "tf.as_string (numbers -> strings)")


def apply(op_type: str, inputs: Sequence[Tensor], attrs: dict | None = None,
          name: str | None = None, *, control_inputs: Sequence[Operation] = ()) -> Operation:
    """Build one node of ``op_type``: infer shapes/dtypes now, raising with the user's line."""
    od = OPS[op_type]
    attrs = dict(attrs or {})
    graph = get_default_graph() if not inputs else inputs[0].graph
    for t in inputs:
        if t.graph is not graph:
            raise GraphEngineError(f"{op_type}: input {t.name} is from a different graph; "
                                   "build all parts of a model inside one graph")
    site = user_site()
    try:
        if op_type not in STRING_OPS:
            _no_strings(op_type, inputs)
        specs = od.infer([t.shape for t in inputs], [t.dtype for t in inputs], attrs)
    except (ShapeError, DTypeError) as e:
        scope = graph.current_scope()
        where = f"'{scope + '/' if scope else ''}{name or op_type}'"
        shapes = ", ".join(f"{t.name} {shape_str(t.shape)} {t.dtype.name}" for t in inputs)
        raise type(e)(f"{op_type} {where} built at {site}: {e} [inputs: {shapes}]") from None
    return graph.create_op(op_type, inputs, attrs, name, specs, site=site,
                           control_inputs=control_inputs)


def apply1(op_type: str, inputs: Sequence[Tensor], attrs: dict | None = None,
           name: str | None = None) -> Tensor:
    return apply(op_type, inputs, attrs, name).outputs[0]


# ----- helpers shared by infer functions ---------------------------------------------------

def broadcast_shapes(*shapes: tuple | None) -> tuple | None:
    """NumPy broadcasting over static shapes; None dims are unknown until run time."""
    if any(s is None for s in shapes):
        return None
    rank = max((len(s) for s in shapes), default=0)
    out = []
    for i in range(rank):
        dims = [s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0]
        known = {d for d in dims if d is not None and d != 1}
        if len(known) > 1:
            raise ShapeError(f"shapes {' and '.join(shape_str(s) for s in shapes)} do not "
                             f"broadcast (dimension {i - rank}: {sorted(known)})")
        if known:
            out.append(known.pop())
        elif all(d == 1 for d in dims):
            out.append(1)
        else:
            out.append(None)
    return tuple(out)


def same_dtype(dtypes: Sequence[_dt.DType], what: str) -> _dt.DType:
    first = dtypes[0]
    for d in dtypes[1:]:
        if d != first:
            raise DTypeError(f"{what} needs inputs of one dtype, got "
                             f"{' and '.join(x.name for x in dtypes)}; use ge.cast to convert")
    return first


def norm_axes(axis: Any, rank: int | None) -> tuple | None:
    """Axis attr -> sorted tuple of non-negative axes (None = all)."""
    if axis is None:
        return None if rank is None else tuple(range(rank))
    axes = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
    if rank is None:
        if any(a < 0 for a in axes):
            raise ShapeError("negative axis needs a known rank")
        return tuple(sorted(int(a) for a in axes))
    out = []
    for a in axes:
        a = int(a)
        if not -rank <= a < rank:
            raise ShapeError(f"axis {a} is out of range for rank {rank}")
        out.append(a % rank)
    if len(set(out)) != len(out):
        raise ShapeError(f"repeated axis in {axis}")
    return tuple(sorted(out))


def reduced_shape(shape: tuple | None, axes: tuple | None, keepdims: bool) -> tuple | None:
    if shape is None:
        return None
    axes = tuple(range(len(shape))) if axes is None else axes
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)

