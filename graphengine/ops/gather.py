"""Gather and embedding lookup; the gradient is a dense scatter-add (duplicate ids summed).

``gather(params, indices, axis)`` has shape ``params.shape[:axis] + indices.shape +
params.shape[axis + 1:]``. Its gradient ``gather_grad(g, indices, params)`` is a zeros tensor of
params' shape with each slice of ``g`` added at its index, so every optimizer applies it as a
dense gradient. Indices outside ``[0, params.shape[axis])`` are an error (TF1's CPU behaviour).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DTypeError, ShapeError
from ..graph import Tensor
from .registry import apply1, defop
from .shape import concat
from .source import as_tensor, constant


def _norm_axis(axis: int, rank: int | None) -> int:
    if rank is None:
        if axis < 0:
            raise ShapeError("gather with a negative axis needs params of known rank")
        return axis
    if not -rank <= axis < rank:
        raise ShapeError(f"axis {axis} is out of range for params of rank {rank}")
    return axis % rank


def _gather_shape(p, i, axis):
    if p is None or i is None:
        return None
    return tuple(p[:axis]) + tuple(i) + tuple(p[axis + 1:])


def _gather_infer(s, d, a):
    if not d[1].is_integer:
        raise DTypeError(f"indices must be integers, got {d[1].name}")
    ax = a["axis"]
    if s[0] is not None and not 0 <= ax < len(s[0]):
        raise ShapeError(f"axis {ax} is out of range for params of rank {len(s[0])}")
    return [(_gather_shape(s[0], s[1], ax), d[0])]


def _gather_grad_infer(s, d, a):
    if not d[1].is_integer:
        raise DTypeError(f"indices must be integers, got {d[1].name}")
    if d[0] != d[2]:
        raise DTypeError(f"gradient ({d[0].name}) and params ({d[2].name}) must share a dtype")
    want = _gather_shape(s[2], s[1], a["axis"])
    if want is not None and s[0] is not None and (len(want) != len(s[0]) or any(
            x is not None and y is not None and x != y for x, y in zip(want, s[0]))):
        raise ShapeError(f"gradient of shape {s[0]} for a gather result of shape {want}")
    return [(s[2], d[0])]


def check_indices(idx: np.ndarray, n: int) -> None:
    """Raise naming the first index outside [0, n), as TF1: ``indices[3] = 7 is not in [0, 5)``."""
    bad = (idx < 0) | (idx >= n)
    if bad.any():
        pos = np.unravel_index(int(np.argmax(bad.reshape(-1))), idx.shape) if idx.ndim else ()
        where = ",".join(str(int(p)) for p in pos)
        raise IndexError(f"indices[{where}] = {int(idx[pos])} is not in [0, {n})")


def _gather_ref(a, params, idx):
    check_indices(idx, params.shape[a["axis"]])
    return np.take(params, idx, axis=a["axis"])


def _gather_grad_ref(a, g, idx, params):
    ax = a["axis"]
    check_indices(idx, params.shape[ax])
    out = np.zeros(params.shape, g.dtype)
    lead = params.shape[:ax]
    g3 = g.reshape(lead + (idx.size,) + params.shape[ax + 1:])
    np.add.at(np.moveaxis(out, ax, 0), idx.reshape(-1), np.moveaxis(g3, ax, 0))
    return out


defop("gather", "movement", _gather_infer, ref=_gather_ref,
      vjp=lambda op, g: [apply1("gather_grad", [g[0], op.inputs[1], op.inputs[0]], dict(op.attrs)), None])
defop("gather_grad", "movement", _gather_grad_infer, ref=_gather_grad_ref,
      vjp=lambda op, g: [apply1("gather", [g[0], op.inputs[1]], dict(op.attrs)), None, None])


def gather(params: Any, indices: Any, axis: int = 0, name: str | None = None,
           validate_indices: Any = None, batch_dims: int = 0) -> Tensor:
    """Slices of ``params`` along ``axis`` at ``indices`` (any rank), as TF1's ``tf.gather``.

    >>> import graphengine as ge
    >>> ge.Session().run(ge.gather(ge.constant([[1, 2], [3, 4], [5, 6]]), [2, 0])).tolist()
    [[5, 6], [1, 2]]
    """
    if batch_dims:
        raise NotImplementedError("gather(batch_dims=...) is not supported")
    params = as_tensor(params)
    indices = as_tensor(indices)
    ax = _norm_axis(int(axis), params.ndim)
    return apply1("gather", [params, indices], {"axis": ax}, name or "GatherV2")


def embedding_lookup(params: Any, ids: Any, partition_strategy: str = "mod", name: str | None = None,
                     validate_indices: bool = True, max_norm: Any = None) -> Tensor:
    """Rows of the embedding table ``params`` for ``ids`` (TF1 ``tf.nn.embedding_lookup``).

    ``params`` may be a list of shards, split by ``partition_strategy`` ``"mod"`` (id ``i`` in
    shard ``i % n``) or ``"div"`` (contiguous ranges), as TF1. The gradient is dense.

    >>> import graphengine as ge
    >>> table = ge.constant([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
    >>> ge.Session().run(ge.nn.embedding_lookup(table, [[2], [1]])).tolist()
    [[[2.0, 2.0]], [[1.0, 1.0]]]
    """
    if max_norm is not None:
        raise NotImplementedError("embedding_lookup(max_norm=...) is not supported")
    shards = [as_tensor(p) for p in params] if isinstance(params, list | tuple) else [as_tensor(params)]
    if not shards:
        raise ValueError("embedding_lookup: params is an empty list")
    ids = as_tensor(ids)
    if len(shards) == 1:
        return gather(shards[0], ids, name=name or "embedding_lookup")
    rows = [p.shape[0] if p.shape is not None else None for p in shards]
    if None in rows:
        raise ShapeError("embedding_lookup over several shards needs their first dimensions known")
    table = concat(shards, 0)
    if partition_strategy == "div":
        return gather(table, ids, name=name or "embedding_lookup")
    if partition_strategy != "mod":
        raise ValueError(f"partition_strategy must be 'mod' or 'div', got {partition_strategy!r}")
    n, total = len(shards), sum(rows)
    offsets = np.concatenate([[0], np.cumsum(rows)[:-1]])
    ids_all = np.arange(total)
    position = (offsets[ids_all % n] + ids_all // n).astype(ids.dtype.np)  # id -> row of the concat
    return gather(table, gather(constant(position), ids), name=name or "embedding_lookup")


__all__ = ["embedding_lookup", "gather"]
