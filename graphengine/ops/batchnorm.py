"""Batch normalization: ``moments``, ``batch_normalization`` and the fused ``batch_norm`` op.

``batch_norm`` normalizes over every axis but the channel axis (``attrs["axis"]``) in one
kernel and returns ``(y, batch_mean, batch_variance)``; its gradient is one fused kernel too
(``batch_norm_grad``). With ``unbiased`` the variance output carries Bessel's correction
(n / (n - 1)), as TF1's ``FusedBatchNorm`` returns it; ``y`` always uses the biased variance.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DTypeError, ShapeError
from ..graph import Tensor, name_scope
from .elementwise import add, multiply, rsqrt, squared_difference, subtract
from .reduce import reduce_mean
from .registry import apply, defop, same_dtype
from .shape import broadcast_like, reshape, squeeze, stop_gradient
from .source import as_tensor, zeros


def _channels(x_shape, axis: int) -> int | None:
    return None if x_shape is None else x_shape[axis]


def _check_vectors(s, d, a, names):
    same_dtype(list(d), "batch_norm")
    if not d[0].is_floating:
        raise DTypeError(f"needs a floating-point input, got {d[0].name}")
    x = s[0]
    if x is not None and not 0 <= a["axis"] < len(x):
        raise ShapeError(f"channel axis {a['axis']} is out of range for rank {len(x)}")
    c = _channels(x, a["axis"])
    for name, v in zip(names, s[1:]):
        if v is not None and (len(v) != 1 or None not in (c, v[0]) and v[0] != c):
            raise ShapeError(f"{name} must be a vector of the {c} channels, got shape {v}")
    return c


def _bn_infer(s, d, a):
    c = _check_vectors(s, d, a, ("scale", "offset"))
    return [(s[0], d[0]), ((c,), d[0]), ((c,), d[0])]


def _bn_grad_infer(s, d, a):
    # inputs: dy, x, scale, mean, var, g_mean, g_var
    if s[0] is not None and s[1] is not None and len(s[0]) != len(s[1]):
        raise ShapeError(f"gradient of shape {s[0]} for an input of shape {s[1]}")
    c = _check_vectors(s[1:], d[1:], a, ("scale", "mean", "variance", "mean gradient", "variance gradient"))
    return [(s[1], d[1]), ((c,), d[1]), ((c,), d[1])]


def _split(a: dict, x: np.ndarray) -> tuple[tuple, list, int]:
    ax = a["axis"]
    axes = tuple(i for i in range(x.ndim) if i != ax)
    shape = [1] * x.ndim
    shape[ax] = x.shape[ax]
    n = x.size // max(x.shape[ax], 1)
    return axes, shape, n


def _var_factor(a: dict, n: int) -> float:
    """Reported variance = biased variance * factor (Bessel's correction when unbiased)."""
    return n / max(n - 1, 1) if a["unbiased"] else 1.0


def _bn_ref(a, x, scale, offset):
    axes, shape, n = _split(a, x)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = x.mean(axis=axes)
        var = ((x - mean.reshape(shape)) ** 2).mean(axis=axes)
        inv = 1.0 / np.sqrt(var + a["epsilon"])
    y = (x - mean.reshape(shape)) * (inv * scale).reshape(shape) + offset.reshape(shape)
    dt = x.dtype
    return y.astype(dt), mean.astype(dt), (var * _var_factor(a, n)).astype(dt)


def _bn_grad_ref(a, dy, x, scale, mean, var, g_mean, g_var):
    axes, shape, n = _split(a, x)
    k = _var_factor(a, n)
    inv = 1.0 / np.sqrt(var / k + a["epsilon"])
    xc = x - mean.reshape(shape)
    s0 = dy.sum(axis=axes)
    s1 = (dy * xc).sum(axis=axes)
    nn = max(n, 1)
    coef_dy = scale * inv
    coef_xc = -scale * inv ** 3 * s1 / nn + g_var * 2.0 * k / nn
    coef_1 = -scale * inv * s0 / nn + g_mean / nn
    dx = coef_dy.reshape(shape) * dy + coef_xc.reshape(shape) * xc + coef_1.reshape(shape)
    dt = x.dtype
    return dx.astype(dt), (s1 * inv).astype(dt), s0.astype(dt)


def _g_bn(op, g):
    x, scale, _ = op.inputs
    _, mean, var = op.outputs
    gy, gm, gv = (list(g) + [None, None])[:3]
    c = scale.shape[0]
    if gy is None:
        gy = broadcast_like(as_tensor(0, x.dtype), x)
    gm = zeros((c,), x.dtype) if gm is None else gm
    gv = zeros((c,), x.dtype) if gv is None else gv
    dx, dscale, doffset = apply("batch_norm_grad", [gy, x, scale, mean, var, gm, gv], dict(op.attrs)).outputs
    return [dx, dscale, doffset]


defop("batch_norm", "nn", _bn_infer, ref=_bn_ref, vjp=_g_bn, num_outputs=3,
      doc="Fused batch normalization over all axes but the channel axis: (y, mean, variance).")
defop("batch_norm_grad", "nn", _bn_grad_infer, ref=_bn_grad_ref, num_outputs=3,
      doc="Gradient of batch_norm: (dx, dscale, doffset) from dy and the mean/variance gradients.")


def _fused(x: Tensor, scale: Tensor, offset: Tensor, axis: int, epsilon: float, unbiased: bool,
           name: str | None) -> tuple[Tensor, Tensor, Tensor]:
    y, m, v = apply("batch_norm", [x, scale, offset],
                    {"axis": int(axis), "epsilon": float(epsilon), "unbiased": bool(unbiased)},
                    name or "FusedBatchNorm").outputs
    return y, m, v


# ----- public API (TF1 tf.nn names) ------------------------------------------------------------

def moments(x: Any, axes: Any, shift: Any = None, name: str | None = None,
            keep_dims: bool = False, keepdims: bool | None = None) -> tuple[Tensor, Tensor]:
    """Mean and (biased) variance of ``x`` over ``axes``, as TF1's ``tf.nn.moments``.

    The variance is ``mean(squared_difference(x, stop_gradient(mean)))``: TF1's formula.

    >>> import graphengine as ge
    >>> m, v = ge.nn.moments(ge.constant([[1.0, 2.0], [3.0, 6.0]]), axes=[0])
    >>> ge.Session().run([m, v])[1].tolist()
    [1.0, 4.0]
    """
    keep = bool(keep_dims if keepdims is None else keepdims)
    x = as_tensor(x)
    with name_scope(name or "moments"):
        mean = reduce_mean(x, axes, keepdims=True, name="mean")
        variance = reduce_mean(squared_difference(x, stop_gradient(mean)), axes, keepdims=True,
                               name="variance")
        if not keep:
            mean = squeeze(mean, axes)
            variance = squeeze(variance, axes)
    return mean, variance


def batch_normalization(x: Any, mean: Any, variance: Any, offset: Any, scale: Any,
                        variance_epsilon: float, name: str | None = None) -> Tensor:
    """``scale * (x - mean) / sqrt(variance + variance_epsilon) + offset`` (TF1's formula:
    ``x * inv + (offset - mean * inv)`` with ``inv = scale * rsqrt(variance + eps)``).

    ``offset`` and ``scale`` may be None. Gradients flow to every input, so with ``mean`` and
    ``variance`` from ``moments(x)`` this is full batch normalization.

    >>> import graphengine as ge
    >>> y = ge.nn.batch_normalization(ge.constant([1.0, 3.0]), 2.0, 1.0, None, None, 0.0)
    >>> ge.Session().run(y).tolist()
    [-1.0, 1.0]
    """
    x = as_tensor(x)
    with name_scope(name or "batchnorm"):
        inv = rsqrt(add(as_tensor(variance, x.dtype), as_tensor(variance_epsilon, x.dtype)))
        if scale is not None:
            inv = multiply(inv, as_tensor(scale, x.dtype))
        mean = as_tensor(mean, x.dtype)
        shift = subtract(offset, multiply(mean, inv)) if offset is not None else \
            multiply(mean, multiply(inv, -1.0))
        return add(multiply(x, inv), shift)


def _channel_axis(x: Tensor, data_format: str) -> int:
    if x.ndim is None:
        raise ShapeError("fused_batch_norm needs an input of known rank")
    if data_format in ("NHWC", "NDHWC", "NWC", "NC"):
        return x.ndim - 1
    if data_format in ("NCHW", "NCDHW", "NCW"):
        return 1
    raise ValueError(f"fused_batch_norm: unknown data_format {data_format!r} (use 'NHWC' or 'NCHW')")


def fused_batch_norm(x: Any, scale: Any, offset: Any = None, mean: Any = None, variance: Any = None,
                     epsilon: float = 0.001, data_format: str = "NHWC", is_training: bool = True,
                     name: str | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """TF1 ``tf.nn.fused_batch_norm``: returns ``(y, batch_mean, batch_variance)``.

    Training (``is_training=True``, no ``mean``/``variance``): normalizes with the batch
    statistics; ``batch_variance`` is Bessel-corrected (n / (n - 1)), as TF1's kernel returns
    it for the moving average. Inference: normalizes with the given ``mean``/``variance`` and
    returns them. ``epsilon`` is raised to at least 1.001e-5, as TF1 does (for cuDNN).

    >>> import graphengine as ge
    >>> y, m, v = ge.nn.fused_batch_norm(ge.constant([[[[1.0], [3.0]]]]), [1.0], [0.0], epsilon=0.0)
    >>> [a.ravel().round(3).tolist() for a in ge.Session().run([y, m, v])]
    [[-1.0, 1.0], [2.0], [2.0]]
    """
    x = as_tensor(x)
    epsilon = max(float(epsilon), 1.001e-5)
    axis = _channel_axis(x, data_format)
    scale = as_tensor(scale, x.dtype)
    offset = zeros(scale.shape, x.dtype) if offset is None else as_tensor(offset, x.dtype)
    if is_training:
        if mean is not None or variance is not None:
            raise ValueError("fused_batch_norm: mean and variance must be None when is_training=True")
        return _fused(x, scale, offset, axis, epsilon, True, name)
    if mean is None or variance is None:
        raise ValueError("fused_batch_norm: inference (is_training=False) needs mean and variance")
    mean, variance = as_tensor(mean, x.dtype), as_tensor(variance, x.dtype)
    shape = [1] * x.ndim
    shape[axis] = -1
    bshape = (lambda t: reshape(t, shape)) if axis != x.ndim - 1 else (lambda t: t)
    y = batch_normalization(x, bshape(mean), bshape(variance), bshape(offset), bshape(scale), epsilon,
                            name=name or "FusedBatchNorm")
    return y, mean, variance


__all__ = ["batch_normalization", "fused_batch_norm", "moments"]
