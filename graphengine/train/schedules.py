"""Learning-rate schedules (TF1 ``tf.train.*_decay``): graph ops of ``global_step``, so the
value changes as the step counter does and any optimizer takes one as its learning rate.

Each follows TF1's arithmetic: the rate's dtype (float32 for a Python float) is used
throughout, ``global_step`` is cast to it, and ``staircase`` floors ``step / decay_steps``.

>>> import graphengine as ge
>>> step = ge.Variable(0, dtype=ge.int64, trainable=False, name="step_sched")
>>> lr = ge.train.exponential_decay(0.1, step, 100, 0.5, staircase=True)
>>> opt = ge.train.GradientDescentOptimizer(lr)
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..graph import Tensor, name_scope
from ..ops import elementwise as ew
from ..ops.source import as_tensor


def _rate(learning_rate: Any) -> Tensor:
    return as_tensor(learning_rate) if not isinstance(learning_rate, Tensor) else learning_rate


def _cast(x: Any, like: Tensor) -> Tensor:
    if isinstance(x, Tensor) or hasattr(x, "_as_graph_tensor"):
        return ew.cast(as_tensor(x), like.dtype)
    return as_tensor(np.asarray(x).astype(like.dtype.np), like.dtype)  # TF1 casts (truncating)


def _step(global_step: Any, like: Tensor, what: str) -> Tensor:
    if global_step is None:
        raise ValueError(f"global_step is required for {what}")
    return _cast(global_step, like)


def exponential_decay(learning_rate: Any, global_step: Any, decay_steps: Any, decay_rate: Any,
                      staircase: bool = False, name: str | None = None) -> Tensor:
    """``learning_rate * decay_rate ** (global_step / decay_steps)`` (the exponent floored when
    ``staircase``)."""
    with name_scope(name or "ExponentialDecay"):
        lr = _rate(learning_rate)
        p = ew.divide(_step(global_step, lr, "exponential_decay"), _cast(decay_steps, lr))
        if staircase:
            p = ew.floor(p)
        return ew.multiply(lr, ew.pow(_cast(decay_rate, lr), p))


def natural_exp_decay(learning_rate: Any, global_step: Any, decay_steps: Any, decay_rate: Any,
                      staircase: bool = False, name: str | None = None) -> Tensor:
    """``learning_rate * exp(-decay_rate * global_step / decay_steps)``, computed as TF1 does:
    exponential decay with rate ``exp(-decay_rate)``."""
    lr = _rate(learning_rate)
    with name_scope(name or "NaturalExpDecay"):
        rate = ew.exp(ew.negative(_cast(decay_rate, lr)))
    return exponential_decay(lr, global_step, decay_steps, rate, staircase, name=name or "NaturalExpDecay")


def inverse_time_decay(learning_rate: Any, global_step: Any, decay_steps: Any, decay_rate: Any,
                       staircase: bool = False, name: str | None = None) -> Tensor:
    """``learning_rate / (1 + decay_rate * global_step / decay_steps)`` (floored when ``staircase``)."""
    with name_scope(name or "InverseTimeDecay"):
        lr = _rate(learning_rate)
        p = ew.divide(_step(global_step, lr, "inverse_time_decay"), _cast(decay_steps, lr))
        if staircase:
            p = ew.floor(p)
        return ew.divide(lr, ew.add(as_tensor(1, lr.dtype), ew.multiply(_cast(decay_rate, lr), p)))


def polynomial_decay(learning_rate: Any, global_step: Any, decay_steps: Any,
                     end_learning_rate: Any = 0.0001, power: Any = 1.0, cycle: bool = False,
                     name: str | None = None) -> Tensor:
    """``(lr - end) * (1 - step / decay_steps) ** power + end``, the step clipped at
    ``decay_steps``; with ``cycle`` the horizon grows to the next multiple of ``decay_steps``."""
    with name_scope(name or "PolynomialDecay"):
        lr = _rate(learning_rate)
        step = _step(global_step, lr, "polynomial_decay")
        steps = _cast(decay_steps, lr)
        end = _cast(end_learning_rate, lr)
        if cycle:
            mult = ew.where(ew.equal(step, 0), as_tensor(1, lr.dtype), ew.ceil(ew.divide(step, steps)))
            steps = ew.multiply(steps, mult)
        else:
            step = ew.minimum(step, steps)
        p = ew.divide(step, steps)
        decayed = ew.pow(ew.subtract(as_tensor(1, lr.dtype), p), _cast(power, lr))
        return ew.add(ew.multiply(ew.subtract(lr, end), decayed), end)


def cosine_decay(learning_rate: Any, global_step: Any, decay_steps: Any, alpha: Any = 0.0,
                 name: str | None = None) -> Tensor:
    """``lr * ((1 - alpha) * 0.5 * (1 + cos(pi * min(step, decay_steps) / decay_steps)) + alpha)``."""
    with name_scope(name or "CosineDecay"):
        lr = _rate(learning_rate)
        steps = _cast(decay_steps, lr)
        step = ew.minimum(_step(global_step, lr, "cosine_decay"), steps)
        frac = ew.divide(step, steps)
        cosine = ew.multiply(0.5, ew.add(1.0, ew.cos(ew.multiply(as_tensor(math.pi, lr.dtype), frac))))
        a = _cast(alpha, lr)
        return ew.multiply(lr, ew.add(ew.multiply(ew.subtract(as_tensor(1, lr.dtype), a), cosine), a))


def piecewise_constant(x: Any, boundaries: list, values: list, name: str | None = None) -> Tensor:
    """``values[0]`` while ``x <= boundaries[0]``, ``values[i]`` for ``boundaries[i-1] < x <=
    boundaries[i]``, ``values[-1]`` beyond the last boundary (TF1)."""
    if len(values) != len(boundaries) + 1:
        raise ValueError(f"piecewise_constant: {len(boundaries)} boundaries need "
                         f"{len(boundaries) + 1} values, got {len(values)}")
    with name_scope(name or "PiecewiseConstant"):
        x = as_tensor(x)
        vals = [as_tensor(v) if not isinstance(v, Tensor) else v for v in values]
        out = vals[-1]
        for b, v in reversed(list(zip(boundaries, vals[:-1]))):
            out = ew.where(ew.less_equal(x, _cast(b, x)), ew.cast(v, out.dtype), out)
        return out
