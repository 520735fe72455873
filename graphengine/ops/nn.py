"""Softmax, log-softmax and the fused softmax cross-entropies (loss and backprop in one op)."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DTypeError, ShapeError
from ..graph import Tensor
from .elementwise import (
    _ew,
    abs,
    add,
    cast,
    divide,
    elu,
    equal,
    exp,
    greater,
    greater_equal,
    less,
    logical_and,
    maximum,
    multiply,
    negative,
    not_equal,
    rsqrt,
    square,
    subtract,
    where,
    zeros_like_scalar,
)
from .linalg import matmul
from .reduce import reduce_sum
from .registry import apply, apply1, defop
from .shape import expand_dims, one_hot, stop_gradient, transpose
from .source import as_tensor, random_uniform_like


def _last_axis_infer(s, d, a):
    if not d[0].is_floating:
        raise DTypeError(f"needs floating-point logits, got {d[0].name}")
    if s[0] is not None and len(s[0]) == 0:
        raise ShapeError("needs at least rank 1")
    return [(s[0], d[0])]


def _np_log_softmax(x):
    m = np.max(x, axis=-1, keepdims=True)
    z = x - m
    return z - np.log(np.sum(np.exp(z), axis=-1, keepdims=True))


def _g_softmax(op, g):
    y = op.outputs[0]
    return [multiply(y, subtract(g[0], reduce_sum(multiply(g[0], y), -1, keepdims=True)))]


def _g_log_softmax(op, g):
    y = op.outputs[0]
    return [subtract(g[0], multiply(exp(y), reduce_sum(g[0], -1, keepdims=True)))]


defop("softmax", "nn", _last_axis_infer, ref=lambda a, x: np.exp(_np_log_softmax(x)), vjp=_g_softmax)
defop("log_softmax", "nn", _last_axis_infer, ref=lambda a, x: _np_log_softmax(x), vjp=_g_log_softmax)


def _along_last(kind: str, logits: Any, axis: int, name: str | None) -> Tensor:
    x = as_tensor(logits)
    rank = x.ndim
    if axis in (-1, None) or (rank is not None and axis == rank - 1):
        return apply1(kind, [x], {}, name)
    if rank is None:
        raise ShapeError(f"{kind} over axis {axis} needs a known rank")
    perm = list(range(rank))
    perm[axis], perm[-1] = perm[-1], perm[axis]
    return transpose(apply1(kind, [transpose(x, perm)], {}, name), perm)


def softmax(logits: Any, axis: int = -1, name: str | None = None) -> Tensor:
    """exp(x) / sum(exp(x)) along ``axis``, computed stably (max subtracted)."""
    return _along_last("softmax", logits, axis, name)


def log_softmax(logits: Any, axis: int = -1, name: str | None = None) -> Tensor:
    """x - logsumexp(x) along ``axis``; finite for any finite logits."""
    return _along_last("log_softmax", logits, axis, name)


# ----- fused cross-entropies: outputs (loss per example, backprop = softmax - labels) -------

def _xent_infer(sparse: bool):
    def infer(s, d, a):
        sl, sy = s
        if not d[0].is_floating:
            raise DTypeError(f"logits must be floating point, got {d[0].name}")
        if sparse and not d[1].is_integer:
            raise DTypeError(f"sparse labels must be integer class ids, got {d[1].name}")
        if not sparse and d[1] != d[0]:
            raise DTypeError(f"labels ({d[1].name}) and logits ({d[0].name}) must share a dtype")
        if sl is not None and len(sl) != 2:
            raise ShapeError(f"logits must be rank 2 [batch, classes], got rank {len(sl)}")
        if sl is not None and sy is not None:
            want = sl[:-1] if sparse else sl
            if len(sy) != len(want) or any(a is not None and b is not None and a != b
                                           for a, b in zip(sy, want)):
                raise ShapeError(f"labels of shape {sy} do not match logits of shape {sl} "
                                 f"(expected {want})")
        return [(None if sl is None else sl[:-1], d[0]), (sl, d[0])]
    return infer


def _sparse_xent_ref(a, x, y):
    lsm = _np_log_softmax(x)
    n = x.shape[0]
    if np.any((y < 0) | (y >= x.shape[1])):
        bad = y[(y < 0) | (y >= x.shape[1])][0]
        raise ValueError(f"label {bad} is outside [0, {x.shape[1]})")
    loss = -lsm[np.arange(n), y]
    back = np.exp(lsm)
    back[np.arange(n), y] -= 1
    return loss, back


def _dense_xent_ref(a, x, y):
    lsm = _np_log_softmax(x)
    return -np.sum(y * lsm, axis=-1), np.exp(lsm) - y


def _g_xent(sparse: bool):
    def rule(op, g):
        if len(g) > 1 and g[1] is not None:
            raise NotImplementedError("gradient through the backprop output of a fused cross-entropy")
        d = multiply(expand_dims(g[0], -1), op.outputs[1])
        if sparse:
            return [d, None]
        return [d, multiply(expand_dims(g[0], -1), negative(log_softmax(op.inputs[0])))]
    return rule


defop("sparse_softmax_xent", "nn", _xent_infer(True), ref=_sparse_xent_ref, vjp=_g_xent(True),
      num_outputs=2)
defop("softmax_xent", "nn", _xent_infer(False), ref=_dense_xent_ref, vjp=_g_xent(False),
      num_outputs=2)


def sparse_softmax_cross_entropy_with_logits(_sentinel: Any = None, *, labels: Any, logits: Any,
                                             name: str | None = None) -> Tensor:
    """Per-example cross-entropy with integer class ``labels`` (TF1; keyword arguments only).

    One fused kernel computes the loss and its gradient (softmax - onehot) together.
    """
    if _sentinel is not None:
        raise TypeError("pass labels= and logits= by keyword, as in TF1")
    logits = as_tensor(logits)
    return apply("sparse_softmax_xent", [logits, as_tensor(labels)], {}, name).outputs[0]


def softmax_cross_entropy_with_logits_v2(_sentinel: Any = None, *, labels: Any, logits: Any,
                                         name: str | None = None, axis: int = -1) -> Tensor:
    """Per-example cross-entropy with one-hot or probability ``labels`` (keyword arguments only);
    gradients flow to the labels too (TF1's ``_v2``)."""
    if _sentinel is not None:
        raise TypeError("pass labels= and logits= by keyword, as in TF1")
    if axis not in (-1, 1):
        raise ShapeError("softmax_cross_entropy_with_logits supports the last axis only")
    logits = as_tensor(logits)
    return apply("softmax_xent", [logits, as_tensor(labels, logits.dtype)], {}, name).outputs[0]


def softmax_cross_entropy_with_logits(_sentinel: Any = None, *, labels: Any, logits: Any,
                                      name: str | None = None, axis: int = -1) -> Tensor:
    """As ``_v2``, but no gradient reaches the labels (TF1's v1 stops it).

    >>> import graphengine as ge
    >>> y, x = ge.constant([[0.0, 1.0]]), ge.constant([[1.0, 2.0]])
    >>> ge.gradients(ge.nn.softmax_cross_entropy_with_logits(labels=y, logits=x), [y])
    [None]
    """
    logits = as_tensor(logits)
    return softmax_cross_entropy_with_logits_v2(_sentinel, labels=stop_gradient(as_tensor(labels, logits.dtype)),
                                                logits=logits, name=name, axis=axis)


def sigmoid_cross_entropy_with_logits(_sentinel: Any = None, *, labels: Any, logits: Any,
                                      name: str | None = None) -> Tensor:
    """Elementwise binary cross-entropy, max(x,0) - x*z + log(1+exp(-|x|)) (no overflow)."""
    if _sentinel is not None:
        raise TypeError("pass labels= and logits= by keyword, as in TF1")
    logits = as_tensor(logits)
    return _ew("sigmoid_xent", logits, as_tensor(labels, logits.dtype), name=name)


def l2_loss(t: Any, name: str | None = None) -> Tensor:
    """sum(t ** 2) / 2, as TF1."""
    return divide(reduce_sum(square(t)), 2, name=name)


def bias_add(value: Any, bias: Any, name: str | None = None) -> Tensor:
    """value + bias, with bias a vector matching value's last dimension."""
    value, bias = as_tensor(value), as_tensor(bias)
    if bias.ndim != 1:
        raise ShapeError(f"bias_add: bias must be rank 1, got shape {bias.shape}")
    if value.shape is not None and value.shape[-1] not in (None, bias.shape[0]):
        raise ShapeError(f"bias_add: bias of length {bias.shape[0]} for last dimension {value.shape[-1]}")
    return add(value, bias, name=name or "BiasAdd")


def xw_plus_b(x: Any, weights: Any, biases: Any, name: str | None = None) -> Tensor:
    """``matmul(x, weights) + biases`` (TF1 ``tf.nn.xw_plus_b``).

    >>> import graphengine as ge
    >>> ge.nn.xw_plus_b(ge.zeros((4, 3)), ge.zeros((3, 2)), ge.zeros((2,))).shape
    (4, 2)
    """
    return bias_add(matmul(x, weights), biases, name=name)


def dropout(x: Any, keep_prob: Any = None, *, rate: Any = None, training: Any = True,
            seed: int | None = None, name: str | None = None) -> Tensor:
    """Zero each value with probability ``rate`` and scale the rest by 1/(1-rate).

    ``training`` may be a bool or a bool tensor (e.g. ``ge.placeholder_with_default(False, ())``),
    so one graph serves training and evaluation. TF1's ``keep_prob`` is accepted too.
    """
    x = as_tensor(x)
    if (keep_prob is None) == (rate is None):
        raise ValueError("dropout: pass exactly one of keep_prob or rate")
    if rate is None:
        rate = 1 - keep_prob if not isinstance(keep_prob, Tensor) else subtract(1, keep_prob)
    if isinstance(rate, float | int) and not 0 <= rate < 1:
        raise ValueError(f"dropout rate must be in [0, 1), got {rate}")
    if training is False:
        return x
    if isinstance(training, Tensor):
        rate = multiply(as_tensor(rate, x.dtype), cast(training, x.dtype))
    else:
        rate = as_tensor(rate, x.dtype)
    u = random_uniform_like(x, seed=seed)
    keep = cast(greater_equal(u, rate), x.dtype)
    return multiply(x, divide(keep, subtract(as_tensor(1, x.dtype), rate)), name=name or "dropout")


# ----- composites: normalization, activations, top-k membership (TF1's definitions) ----------

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def l2_normalize(x: Any, axis: Any = None, epsilon: float = 1e-12, name: str | None = None) -> Tensor:
    """``x / sqrt(max(sum(x ** 2, axis), epsilon))``, as TF1 (axis None: all axes)."""
    x = as_tensor(x)
    sq = reduce_sum(square(x), axis, keepdims=True)
    return multiply(x, rsqrt(maximum(sq, epsilon)), name=name)


def selu(features: Any, name: str | None = None) -> Tensor:
    """Scaled ELU: ``scale * (x if x > 0 else alpha * (exp(x) - 1))`` with TF1's constants."""
    x = as_tensor(features)
    return where(greater(x, 0), multiply(x, SELU_SCALE), multiply(elu(x), SELU_SCALE * SELU_ALPHA),
                 name=name)


def softsign(features: Any, name: str | None = None) -> Tensor:
    """``x / (1 + |x|)``."""
    x = as_tensor(features)
    return divide(x, add(abs(x), 1), name=name)


def in_top_k(predictions: Any, targets: Any, k: int, name: str | None = None) -> Tensor:
    """Whether each row's target class is among its ``k`` largest predictions (bool, per row).

    As TF1: ties at the boundary count as in the top k (a target is in when fewer than k classes
    score strictly higher); a row with a non-finite prediction, or an out-of-range target, gives False.

    >>> import graphengine as ge
    >>> p = ge.constant([[0.1, 0.8, 0.1], [0.5, 0.2, 0.3]])
    >>> ge.nn.in_top_k(p, ge.constant([1, 2]), 1).eval(session=ge.Session()).tolist()
    [True, False]
    """
    p, t = as_tensor(predictions), as_tensor(targets)
    if p.ndim != 2 or p.shape[1] is None:
        raise ShapeError(f"in_top_k: predictions must be (batch, classes) with known classes, got {p.shape}")
    if not t.dtype.is_integer:
        raise DTypeError(f"in_top_k: targets must be integer class ids, got {t.dtype.name}")
    n = p.shape[1]
    mask = equal(one_hot(t, n, dtype=t.dtype), 1)
    score = reduce_sum(where(mask, p, zeros_like_scalar(p)), 1, keepdims=True)
    higher = reduce_sum(cast(greater(p, score), t.dtype), 1)
    # TF1: a row with any non-finite prediction cannot say (False); x - x is NaN for inf and NaN
    finite = equal(reduce_sum(cast(not_equal(subtract(p, p), 0), t.dtype), 1), 0)
    ok = logical_and(logical_and(greater_equal(t, 0), less(t, n)), finite)
    return logical_and(less(higher, int(k)), ok, name=name)
