"""TF1 spellings for clipping, division, products, ``where``, ``one_hot(axis=)``, batched
``matmul``, the extra ``tf.nn`` functions, ``tf.losses`` reductions and the learning-rate
schedules: ``graphengine.compat.v1`` calls ``install`` with its namespace.

>>> import graphengine.compat.v1 as tf
>>> with tf.Session() as sess:
...     sess.run(tf.div(tf.constant([-7, 7]), 2)).tolist()
[-4, 3]
"""
from __future__ import annotations

from typing import Any

import graphengine as _ge

from .. import dtypes as _dt
from .. import losses as _losses
from ..ops import clip as _clip
from ..ops import elementwise as _ew
from ..ops import nn as _nn_ops
from ..ops import reduce as _red
from ..ops import shape as _shape
from ..ops.host import where as _where
from ..train import schedules as _sched


def div(x: Any, y: Any, name: str | None = None) -> Any:
    """``tf.div``: Python 2 division. Integers floor-divide and keep their dtype (-7 / 2 = -4);
    floats divide."""
    x = _ge.as_tensor(x)
    y = _ge.as_tensor(y, x.dtype) if not isinstance(y, _ge.Tensor) else y
    if x.dtype.is_integer:
        return _ew.floordiv(x, y, name=name)
    return _ew.divide(x, y, name=name)


def truediv(x: Any, y: Any, name: str | None = None) -> Any:
    """``tf.truediv``: integers are converted first (int8/int16/uint8 to float32, int32/int64 to
    float64), as TF1."""
    return _ew.divide(x, y, name=name)


def matmul(a: Any, b: Any, transpose_a: bool = False, transpose_b: bool = False,
           adjoint_a: bool = False, adjoint_b: bool = False, a_is_sparse: bool = False,
           b_is_sparse: bool = False, output_type: Any = None, name: str | None = None) -> Any:
    """``tf.matmul``: rank >= 3 inputs multiply per batch entry, batch axes broadcasting;
    ``adjoint_*`` is ``transpose_*`` for real dtypes; the sparsity hints are ignored."""
    return _ge.matmul(a, b, transpose_a or adjoint_a, transpose_b or adjoint_b, name=name)


def one_hot(indices: Any, depth: int, on_value: Any = None, off_value: Any = None, axis: Any = None,
            dtype: Any = None, name: str | None = None) -> Any:
    """``tf.one_hot`` (TF1's argument order; the dtype defaults to on_value's, else float32)."""
    if dtype is None:
        given = on_value if on_value is not None else off_value
        dtype = _dt.default_dtype_for(given) if given is not None else _ge.float32
    return _shape.one_hot(indices, depth, 1 if on_value is None else on_value,
                          0 if off_value is None else off_value, dtype, name,
                          axis=-1 if axis is None else axis)


def where(condition: Any, x: Any = None, y: Any = None, name: str | None = None) -> Any:
    """``tf.where``: with x and y, TF1's select (a rank-1 condition picks whole rows of x and y;
    otherwise shapes broadcast); alone, the int64 coordinates of the true entries."""
    if x is not None and y is not None:
        c, x = _ge.as_tensor(condition), _ge.as_tensor(x)
        if c.ndim == 1 and x.ndim is not None and x.ndim > 1:
            c = _ge.reshape(c, [-1] + [1] * (x.ndim - 1))
        return _where(c, x, y, name=name)
    return _where(condition, x, y, name=name)


def _l2_normalize(x: Any, axis: Any = None, epsilon: float = 1e-12, name: str | None = None,
                  dim: Any = None) -> Any:
    """``tf.nn.l2_normalize`` (``dim`` is TF1's alias for ``axis``)."""
    if axis is not None and dim is not None:
        raise ValueError("tf.nn.l2_normalize: pass axis or dim, not both")
    return _nn_ops.l2_normalize(x, axis if axis is not None else dim, epsilon, name)


SCHEDULES = ("exponential_decay", "natural_exp_decay", "inverse_time_decay", "polynomial_decay",
             "cosine_decay", "piecewise_constant")


def install(ns: dict) -> None:
    """Add these names to ``graphengine.compat.v1``'s globals and sub-namespaces."""
    ns.update(
        div=div, truediv=truediv, floordiv=_ew.floordiv, floor_div=_ew.floordiv, floor=_ew.floor,
        ceil=_ew.ceil, sin=_ew.sin, cos=_ew.cos, matmul=matmul, one_hot=one_hot, where=where,
        where_v2=_where, clip_by_value=_clip.clip_by_value, clip_by_norm=_clip.clip_by_norm,
        clip_by_global_norm=_clip.clip_by_global_norm, global_norm=_clip.global_norm,
        reduce_prod=ns["_tf1_reduce"](_red.reduce_prod, "reduce_prod"),
    )
    extra_nn = dict(l2_normalize=_l2_normalize, selu=_nn_ops.selu, softsign=_nn_ops.softsign,
                    in_top_k=_nn_ops.in_top_k,
                    softmax_cross_entropy_with_logits=_nn_ops.softmax_cross_entropy_with_logits,
                    softmax_cross_entropy_with_logits_v2=_nn_ops.softmax_cross_entropy_with_logits_v2)
    ns["nn"].__dict__.update(extra_nn)
    ns["math"].__dict__.update(
        divide=_ew.divide, truediv=truediv, floordiv=_ew.floordiv, floor=_ew.floor, ceil=_ew.ceil,
        sin=_ew.sin, cos=_ew.cos, reduce_prod=ns["reduce_prod"], l2_normalize=_l2_normalize,
        in_top_k=_nn_ops.in_top_k, softsign=_nn_ops.softsign, selu=_nn_ops.selu,
    )
    ns["losses"].__dict__.update(
        log_loss=_losses.log_loss, compute_weighted_loss=_losses.compute_weighted_loss,
        Reduction=_losses.Reduction, sigmoid_cross_entropy=_losses.sigmoid_cross_entropy,
        softmax_cross_entropy=_losses.softmax_cross_entropy,
    )
    ns["train"].__dict__.update({k: getattr(_sched, k) for k in SCHEDULES})
