"""TF1 batch normalization layer, gather/embeddings and ``tf.summary`` for ``graphengine.compat.v1``.

``tf.layers.batch_normalization`` follows TF1 (``tensorflow/python/keras/layers/normalization.py``
of the 1.x line): variables ``<name>/gamma``, ``beta``, ``moving_mean``, ``moving_variance``
(names batch_normalization, batch_normalization_1, ...), ``momentum=0.99``, ``epsilon=1e-3``,
and the moving statistics updated by ops in ``tf.GraphKeys.UPDATE_OPS``
(``moving -= (moving - batch_stat) * (1 - momentum)``) that the program runs with
``tf.control_dependencies(update_ops)``. As TF1: rank-4 inputs normalized over axis 1 or 3 take
the fused path, whose variance for the moving average carries Bessel's correction (n / (n - 1));
other inputs use ``tf.nn.moments``' biased variance. ``training`` may be a bool or a bool tensor
(then both paths are built and the updates are no-ops while it is False).
"""
from __future__ import annotations

from typing import Any

import graphengine as _ge

from .. import initializers as _init
from ..ops import batchnorm as _bn
from ..ops import elementwise as _ew
from ..ops import gather as _gather
from ..ops import summary as _summary
from ..ops.shape import reshape as _reshape

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
                        gamma_regularizer: Any = None, beta_constraint: Any = None, gamma_constraint: Any = None,
                        training: Any = False, trainable: bool = True, name: str | None = None,
                        reuse: Any = None, renorm: bool = False, renorm_clipping: Any = None,
                        renorm_momentum: float = 0.99, fused: Any = None, virtual_batch_size: Any = None,
                        adjustment: Any = None) -> Any:
    """``tf.layers.batch_normalization`` (TF1): normalize with batch statistics when ``training``,
    with the moving averages otherwise; the moving-average updates go to ``UPDATE_OPS``.

    >>> import graphengine.compat.v1 as tf
    >>> x = tf.placeholder(tf.float32, [None, 3])
    >>> y = tf.layers.batch_normalization(x, training=True)
    >>> sorted(v.name for v in tf.global_variables())[:2]
    ['batch_normalization/beta:0', 'batch_normalization/gamma:0']
    >>> len(tf.get_collection(tf.GraphKeys.UPDATE_OPS))
    2
    """
    from .v1 import UnsupportedTF1Error, _unique_layer_name, variable_scope
    if renorm or virtual_batch_size is not None or adjustment is not None:
        raise UnsupportedTF1Error("tf.layers.batch_normalization: renorm, virtual_batch_size and "
                                  "adjustment are not supported by graphengine.compat.v1")
    if beta_constraint is not None or gamma_constraint is not None:
        raise UnsupportedTF1Error("tf.layers.batch_normalization: constraints are not supported")
    x = _ge.as_tensor(inputs)
    if x.ndim is None:
        raise ValueError(f"batch_normalization: input {x.name} has undefined rank")
    if isinstance(axis, list | tuple):
        if len(axis) != 1:
            raise UnsupportedTF1Error("tf.layers.batch_normalization over several axes is not supported")
        axis = axis[0]
    rank = x.ndim
    ax = axis + rank if axis < 0 else axis
    if not 0 <= ax < rank:
        raise ValueError(f"batch_normalization: invalid axis {axis} for rank {rank}")
    c = x.shape[ax]
    if c is None:
        raise ValueError(f"batch_normalization: input has undefined `axis` dimension; shape {x.shape}")
    unbiased = fused is not False and rank == 4 and ax in (1, 3)  # TF1's fused path
    if unbiased:  # which, as tf.nn.fused_batch_norm, raises epsilon to cuDNN's minimum
        epsilon = max(float(epsilon), 1.001e-5)
    dt = x.dtype
    with variable_scope(name or _unique_layer_name("batch_normalization"), reuse=reuse):
        gamma = _ge.get_variable("gamma", [c], dtype=dt, initializer=_init_or(gamma_initializer, _init.Ones()),
                                 regularizer=gamma_regularizer, trainable=trainable) if scale else None
        beta = _ge.get_variable("beta", [c], dtype=dt, initializer=_init_or(beta_initializer, _init.Zeros()),
                                regularizer=beta_regularizer, trainable=trainable) if center else None
        mv_collections = [_ge.variables.GLOBAL_VARIABLES, MOVING_AVERAGE_VARIABLES]
        moving_mean = _ge.get_variable("moving_mean", [c], dtype=dt, trainable=False, collections=mv_collections,
                                       initializer=_init_or(moving_mean_initializer, _init.Zeros()))
        moving_var = _ge.get_variable("moving_variance", [c], dtype=dt, trainable=False,
                                      collections=mv_collections,
                                      initializer=_init_or(moving_variance_initializer, _init.Ones()))
        bshape = [1] * rank
        bshape[ax] = c
        vec = (lambda t: t) if ax == rank - 1 else (lambda t: _reshape(t, bshape))

        def infer() -> Any:
            return _bn.batch_normalization(x, vec(moving_mean.value()), vec(moving_var.value()),
                                           None if beta is None else vec(beta.value()),
                                           None if gamma is None else vec(gamma.value()), epsilon)
        if training is False:
            return infer()
        g = gamma.value() if gamma is not None else _ge.ones([c], dt)
        b = beta.value() if beta is not None else _ge.zeros([c], dt)
        y, mean, var = _bn._fused(x, g, b, ax, epsilon, unbiased, "FusedBatchNorm")
        decay = _ge.as_tensor(1.0 - momentum, dt)
        if isinstance(training, _ge.Tensor):
            on = _ew.cast(training, dt)
            y = _ew.where(training, y, infer())
            decay = _ew.multiply(decay, on)
        for k, (var_, value) in enumerate(((moving_mean, mean), (moving_var, var))):
            delta = _ew.multiply(_ew.subtract(value, var_.value()), decay)
            upd = _ge.assign_add(var_, delta, name="AssignMovingAvg" + (f"_{k}" if k else ""))
            _ge.get_default_graph().add_to_collection(UPDATE_OPS, upd)
        return y


def install(ns: dict) -> None:
    """Add this module's TF1 names to ``graphengine.compat.v1`` (its globals ``ns``)."""
    ns["gather"] = _gather.gather
    nn, layers = ns["nn"], ns["layers"]
    nn.moments, nn.batch_normalization = _bn.moments, _bn.batch_normalization
    nn.fused_batch_norm, nn.embedding_lookup = _bn.fused_batch_norm, _gather.embedding_lookup
    layers.batch_normalization = batch_normalization
    gk = ns["GraphKeys"]
    gk.SUMMARIES, gk.MOVING_AVERAGE_VARIABLES = _summary.SUMMARIES, MOVING_AVERAGE_VARIABLES
    gk.UPDATE_OPS = UPDATE_OPS
    ns["summary"] = ns["_Namespace"](
        "summary", "TF1 ``tf.summary``: summary ops (serialized ``Summary`` bytes) and ``FileWriter``.",
        scalar=_summary.scalar, histogram=_summary.histogram, image=_summary.image, merge=_summary.merge,
        merge_all=_summary.merge_all, FileWriter=_ge.summary.FileWriter)


__all__ = ["batch_normalization", "install"]
