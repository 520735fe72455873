"""TF1 layer spellings on the core layers: ``tf.layers.dense``/``flatten``/``dropout`` and
``tf.contrib.layers.fully_connected``/``flatten`` (``graphengine.layers`` implements them)."""
from __future__ import annotations

from typing import Any

import graphengine as _ge

from .. import initializers as _init
from .. import layers as _layers
from ..variables import unique_layer_name
from .unsupported import UnsupportedTF1Error


def _dense(inputs: Any, units: int, activation: Any = None, use_bias: bool = True,
          kernel_initializer: Any = None, bias_initializer: Any = None,
          kernel_regularizer: Any = None, bias_regularizer: Any = None, trainable: bool = True,
          name: str | None = None, reuse: Any = None) -> Any:
    """``tf.layers.dense``: ``graphengine.layers.dense`` (rank-2 inputs only).

    >>> import graphengine.compat.v1 as tf
    >>> x = tf.placeholder(tf.float32, [None, 3])
    >>> tf.layers.dense(x, 4, activation=tf.nn.relu).shape
    (None, 4)
    """
    inputs = _ge.as_tensor(inputs)
    if inputs.shape is not None and inputs.shape[-1] is not None and inputs.ndim != 2:
        raise UnsupportedTF1Error(f"tf.layers.dense on rank-{inputs.ndim} inputs is not supported by "
                                  "graphengine.compat.v1; reshape to (batch, features) first")
    return _layers.dense(inputs, units, activation, use_bias, kernel_initializer, bias_initializer,
                         kernel_regularizer, bias_regularizer, trainable, name, reuse)


def _fully_connected(inputs: Any, num_outputs: int, activation_fn: Any = _ge.relu,
                     weights_initializer: Any = None, weights_regularizer: Any = None,
                     biases_initializer: Any = _init.Zeros, biases_regularizer: Any = None,
                     reuse: Any = None, trainable: bool = True, scope: str | None = None,
                     **_: Any) -> Any:
    """``tf.contrib.layers.fully_connected``: dense with ReLU by default, scope "fully_connected"."""
    bias_init = biases_initializer() if isinstance(biases_initializer, type) else biases_initializer
    return _dense(inputs, num_outputs, activation_fn, use_bias=biases_initializer is not None,
                 kernel_initializer=weights_initializer, bias_initializer=bias_init,
                 kernel_regularizer=weights_regularizer, bias_regularizer=biases_regularizer,
                 trainable=trainable, name=scope or unique_layer_name("fully_connected"), reuse=reuse)


def _flatten(inputs: Any, scope: str | None = None, **_: Any) -> Any:
    """``tf.layers.flatten`` / ``tf.contrib.layers.flatten``: ``graphengine.layers.flatten``."""
    return _layers.flatten(inputs)


def _layers_dropout(inputs: Any, rate: float = 0.5, noise_shape: Any = None, seed: int | None = None,
                    training: Any = False, name: str | None = None) -> Any:
    """``tf.layers.dropout``: ``graphengine.layers.dropout`` (TF1's default ``training=False``,
    the identity unless training); ``noise_shape`` is accepted and ignored."""
    return _layers.dropout(inputs, rate=rate, seed=seed, training=training, name=name)
