"""TF1 batch normalization layer, gather/embeddings and ``tf.summary`` for ``graphengine.compat.v1``.

``tf.layers.batch_normalization`` is ``graphengine.layers.batch_normalization`` (the TF1 semantics
are documented there) with TF1's full signature: the options graphengine does not implement
(renorm, virtual batches, adjustment, constraints, several axes) raise ``UnsupportedTF1Error``.
"""
from __future__ import annotations

from typing import Any

import graphengine as _ge

from .. import layers_bn as _layers_bn
from ..ops import batchnorm as _bn
from ..ops import gather as _gather
from ..ops import summary as _summary
from .unsupported import UnsupportedTF1Error

UPDATE_OPS = _layers_bn.UPDATE_OPS
MOVING_AVERAGE_VARIABLES = _layers_bn.MOVING_AVERAGE_VARIABLES


def batch_normalization(inputs: Any, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3,
                        center: bool = True, scale: bool = True, beta_initializer: Any = None,
                        gamma_initializer: Any = None, moving_mean_initializer: Any = None,
                        moving_variance_initializer: Any = None, beta_regularizer: Any = None,
                        gamma_regularizer: Any = None, beta_constraint: Any = None, gamma_constraint: Any = None,
                        training: Any = False, trainable: bool = True, name: str | None = None,
                        reuse: Any = None, renorm: bool = False, renorm_clipping: Any = None,
                        renorm_momentum: float = 0.99, fused: Any = None, virtual_batch_size: Any = None,
                        adjustment: Any = None) -> Any:
    """``tf.layers.batch_normalization`` (TF1): ``graphengine.layers.batch_normalization``.

    >>> import graphengine.compat.v1 as tf
    >>> x = tf.placeholder(tf.float32, [None, 3])
    >>> y = tf.layers.batch_normalization(x, training=True)
    >>> sorted(v.name for v in tf.global_variables())[:2]
    ['batch_normalization/beta:0', 'batch_normalization/gamma:0']
    >>> len(tf.get_collection(tf.GraphKeys.UPDATE_OPS))
    2
    """
    if renorm or virtual_batch_size is not None or adjustment is not None:
        raise UnsupportedTF1Error("tf.layers.batch_normalization: renorm, virtual_batch_size and "
                                  "adjustment are not supported by graphengine.compat.v1")
    if beta_constraint is not None or gamma_constraint is not None:
        raise UnsupportedTF1Error("tf.layers.batch_normalization: constraints are not supported")
    if isinstance(axis, list | tuple):
        if len(axis) != 1:
            raise UnsupportedTF1Error("tf.layers.batch_normalization over several axes is not supported")
        axis = axis[0]
    return _layers_bn.batch_normalization(
        inputs, axis, momentum, epsilon, center, scale, beta_initializer, gamma_initializer,
        moving_mean_initializer, moving_variance_initializer, beta_regularizer, gamma_regularizer,
        training=training, trainable=trainable, name=name, reuse=reuse, fused=fused)


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
