"""Clipping (TF1 ``clip_ops``): by value, by norm, by global norm. Compositions of public ops,
so gradients flow through them exactly as TF1's do (ties at the bounds go to the input)."""
from __future__ import annotations

from typing import Any

from ..graph import Tensor
from . import elementwise as ew
from .nn import l2_loss
from .reduce import reduce_sum
from .source import as_tensor


def clip_by_value(t: Any, clip_value_min: Any, clip_value_max: Any, name: str | None = None) -> Tensor:
    """``maximum(minimum(t, max), min)``, as TF1 (the gradient reaches t where min <= t <= max).

    >>> import graphengine as ge
    >>> ge.clip_by_value(ge.constant([-2.0, 0.5, 3.0]), -1.0, 1.0).eval(session=ge.Session()).tolist()
    [-1.0, 0.5, 1.0]
    """
    t = as_tensor(t)
    return ew.maximum(ew.minimum(t, clip_value_max), clip_value_min, name=name)


def clip_by_norm(t: Any, clip_norm: Any, axes: Any = None, name: str | None = None) -> Tensor:
    """``t * clip_norm / max(l2norm(t), clip_norm)``, the norm taken over ``axes`` (default all)."""
    t = as_tensor(t)
    l2sum = reduce_sum(ew.multiply(t, t), axes, keepdims=True)
    pred = ew.greater(l2sum, 0)
    safe = ew.where(pred, l2sum, ew.ones_like_scalar(l2sum))
    l2norm = ew.where(pred, ew.sqrt(safe), l2sum)
    return ew.divide(ew.multiply(t, clip_norm), ew.maximum(l2norm, clip_norm), name=name)


def global_norm(t_list: Any, name: str | None = None) -> Tensor:
    """sqrt(sum of squares of every tensor in ``t_list``) (None entries are skipped), as TF1."""
    ts = [as_tensor(t) for t in t_list if t is not None]
    if not ts:
        raise ValueError("global_norm: t_list has no tensors")
    half = l2_loss(ts[0])
    for t in ts[1:]:
        half = ew.add(half, l2_loss(t))
    return ew.sqrt(ew.multiply(half, 2.0), name=name)


def clip_by_global_norm(t_list: Any, clip_norm: Any, use_norm: Any = None,
                        name: str | None = None) -> tuple[list, Tensor]:
    """Scale every tensor by ``clip_norm / max(global_norm, clip_norm)``; returns
    ``(clipped list, global norm)`` (None entries stay None), as TF1. The usual gradient clipping:

    >>> import graphengine as ge
    >>> w = ge.Variable([3.0, 4.0], name="w_clip")
    >>> opt = ge.train.GradientDescentOptimizer(0.1)
    >>> grads, variables = zip(*opt.compute_gradients(ge.reduce_sum(w * w)))
    >>> clipped, norm = ge.clip_by_global_norm(grads, 5.0)
    >>> train = opt.apply_gradients(zip(clipped, variables))
    """
    t_list = list(t_list)
    norm = global_norm(t_list) if use_norm is None else as_tensor(use_norm)
    # TF1: a NaN/inf norm makes every value NaN (norm - norm), rather than silently passing through
    scale = ew.multiply(ew.minimum(ew.divide(1.0, norm), ew.divide(as_tensor(1.0, norm.dtype), clip_norm)),
                        clip_norm)
    scale = ew.add(scale, ew.subtract(norm, norm))
    out = [None if t is None else ew.multiply(as_tensor(t), ew.cast(scale, as_tensor(t).dtype))
           for t in t_list]
    return out, norm
