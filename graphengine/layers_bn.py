"""The batch normalization layer with TF1's ``tf.layers.batch_normalization`` semantics.

As TF1 (``tensorflow/python/keras/layers/normalization.py`` of the 1.x line): variables
``<name>/gamma``, ``beta``, ``moving_mean``, ``moving_variance`` (names batch_normalization,
batch_normalization_1, ...), ``momentum=0.99``, ``epsilon=1e-3``, and the moving statistics updated
by ops in the ``UPDATE_OPS`` collection (``moving -= (moving - batch_stat) * (1 - momentum)``) that
the program runs with ``control_dependencies(update_ops)``. Rank-4 inputs normalized over axis 1
or 3 take the fused path, whose variance for the moving average carries Bessel's correction
(n / (n - 1)); other inputs use ``nn.moments``' biased variance. ``training`` may be a bool or a
bool tensor (then both paths are built and the updates are no-ops while it is False).
"""
from __future__ import annotations

from typing import Any

from .errors import ShapeError
from .graph import Tensor, get_default_graph
from .ops import batchnorm as _bn
from .ops import elementwise as _ew
from .ops.shape import reshape
from .ops.source import as_tensor, ones, zeros
from .variables import GLOBAL_VARIABLES, Ones, Zeros, assign_add, get_variable, unique_layer_name, variable_scope

UPDATE_OPS = "update_ops"
MOVING_AVERAGE_VARIABLES = "moving_average_variables"


def _init_or(x: Any, default: Any) -> Any:
    if x is None:
        return default
    return x() if isinstance(x, type) else x


def batch_normalization(inputs: Any, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3,
                        center: bool = True, scale: bool = True, beta_initializer: Any = None,
                        gamma_initializer: Any = None, moving_mean_initializer: Any = None,
                        moving_variance_initializer: Any = None, beta_regularizer: Any = None,
                        gamma_regularizer: Any = None, training: Any = False, trainable: bool = True,
                        name: str | None = None, reuse: Any = None, fused: Any = None) -> Tensor:
    """Normalize with batch statistics when ``training``, with the moving averages otherwise;
    the moving-average updates go to the ``UPDATE_OPS`` collection (TF1
    ``tf.layers.batch_normalization``).

    >>> import graphengine as ge
    >>> x = ge.placeholder(ge.float32, [None, 3])
    >>> y = ge.layers.batch_normalization(x, training=True)
    >>> sorted(v.name for v in ge.global_variables())[:2]
    ['batch_normalization/beta:0', 'batch_normalization/gamma:0']
    >>> len(ge.get_default_graph().get_collection(ge.layers.UPDATE_OPS))
    2
    """
    x = as_tensor(inputs)
    if x.ndim is None:
        raise ShapeError(f"batch_normalization: input {x.name} has undefined rank")
    rank = x.ndim
    ax = axis + rank if axis < 0 else axis
    if not 0 <= ax < rank:
        raise ShapeError(f"batch_normalization: invalid axis {axis} for rank {rank}")
    c = x.shape[ax]
    if c is None:
        raise ShapeError(f"batch_normalization: input has undefined `axis` dimension; shape {x.shape}")
    unbiased = fused is not False and rank == 4 and ax in (1, 3)  # TF1's fused path
    if unbiased:  # which, as tf.nn.fused_batch_norm, raises epsilon to cuDNN's minimum
        epsilon = max(float(epsilon), 1.001e-5)
    dt = x.dtype
    with variable_scope(name or unique_layer_name("batch_normalization"), reuse=reuse):
        gamma = get_variable("gamma", [c], dtype=dt, initializer=_init_or(gamma_initializer, Ones()),
                             regularizer=gamma_regularizer, trainable=trainable) if scale else None
        beta = get_variable("beta", [c], dtype=dt, initializer=_init_or(beta_initializer, Zeros()),
                            regularizer=beta_regularizer, trainable=trainable) if center else None
        mv_collections = [GLOBAL_VARIABLES, MOVING_AVERAGE_VARIABLES]
        moving_mean = get_variable("moving_mean", [c], dtype=dt, trainable=False, collections=mv_collections,
                                   initializer=_init_or(moving_mean_initializer, Zeros()))
        moving_var = get_variable("moving_variance", [c], dtype=dt, trainable=False,
                                  collections=mv_collections,
                                  initializer=_init_or(moving_variance_initializer, Ones()))
        bshape = [1] * rank
        bshape[ax] = c
        vec = (lambda t: t) if ax == rank - 1 else (lambda t: reshape(t, bshape))

        def infer() -> Any:
            return _bn.batch_normalization(x, vec(moving_mean.value()), vec(moving_var.value()),
                                           None if beta is None else vec(beta.value()),
                                           None if gamma is None else vec(gamma.value()), epsilon)
        if training is False:
            return infer()
        g = gamma.value() if gamma is not None else ones([c], dt)
        b = beta.value() if beta is not None else zeros([c], dt)
        y, mean, var = _bn._fused(x, g, b, ax, epsilon, unbiased, "FusedBatchNorm")
        decay = as_tensor(1.0 - momentum, dt)
        if isinstance(training, Tensor):
            on = _ew.cast(training, dt)
            y = _ew.where(training, y, infer())
            decay = _ew.multiply(decay, on)
        for k, (var_, value) in enumerate(((moving_mean, mean), (moving_var, var))):
            delta = _ew.multiply(_ew.subtract(value, var_.value()), decay)
            upd = assign_add(var_, delta, name="AssignMovingAvg" + (f"_{k}" if k else ""))
            get_default_graph().add_to_collection(UPDATE_OPS, upd)
        return y


__all__ = ["MOVING_AVERAGE_VARIABLES", "UPDATE_OPS", "batch_normalization"]
