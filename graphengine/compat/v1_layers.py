"""TF1 layer spellings on the core ops: ``tf.layers.dense``/``flatten``/``dropout`` and
``tf.contrib.layers.fully_connected``/``flatten``."""
from __future__ import annotations

from typing import Any

import graphengine as _ge

from .. import initializers as _init
from ..ops import nn as _nn_ops
from ..variables import unique_layer_name
from .unsupported import UnsupportedTF1Error


def _dense(inputs: Any, units: int, activation: Any = None, use_bias: bool = True,
          kernel_initializer: Any = None, bias_initializer: Any = None,
          kernel_regularizer: Any = None, bias_regularizer: Any = None, trainable: bool = True,
          name: str | None = None, reuse: Any = None) -> Any:
    """``tf.layers.dense``: ``activation(inputs @ kernel + bias)`` with variables ``<name>/kernel``
    and ``<name>/bias`` (default names dense, dense_1, ...; Glorot-uniform kernel, zero bias).

    >>> import graphengine.compat.v1 as tf
    >>> x = tf.placeholder(tf.float32, [None, 3])
    >>> tf.layers.dense(x, 4, activation=tf.nn.relu).shape
    (None, 4)
    """
    inputs = _ge.as_tensor(inputs)
    if inputs.shape is None or inputs.shape[-1] is None:
        raise ValueError(f"tf.layers.dense: the last dimension of {inputs.name} must be known, "
                         f"got shape {inputs.shape}")
    if inputs.ndim != 2:
        raise UnsupportedTF1Error(f"tf.layers.dense on rank-{inputs.ndim} inputs is not supported by "
                                  "graphengine.compat.v1; reshape to (batch, features) first")
    from .v1 import variable_scope  # the TF1 scope class lives in v1, which imports this module
    with variable_scope(name or unique_layer_name("dense"), reuse=reuse):
        kernel = _ge.get_variable("kernel", [inputs.shape[-1], units], dtype=inputs.dtype,
                                  initializer=kernel_initializer, regularizer=kernel_regularizer,
                                  trainable=trainable)
        out = _ge.matmul(inputs, kernel)
        if use_bias:
            bias = _ge.get_variable("bias", [units], dtype=inputs.dtype,
                                    initializer=bias_initializer or _init.Zeros(),
                                    regularizer=bias_regularizer, trainable=trainable)
            out = _nn_ops.bias_add(out, bias)
        return activation(out) if activation is not None else out


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
    """``tf.layers.flatten`` / ``tf.contrib.layers.flatten``: (batch, ...) -> (batch, prod(...))."""
    inputs = _ge.as_tensor(inputs)
    if inputs.shape is None or None in inputs.shape[1:]:
        raise ValueError(f"flatten needs known non-batch dimensions, got {inputs.shape}")
    n = 1
    for d in inputs.shape[1:]:
        n *= d
    return _ge.reshape(inputs, [-1, n])


def _layers_dropout(inputs: Any, rate: float = 0.5, noise_shape: Any = None, seed: int | None = None,
                    training: Any = False, name: str | None = None) -> Any:
    """``tf.layers.dropout``: note TF1's default ``training=False`` (identity unless training)."""
    return _nn_ops.dropout(inputs, rate=rate, training=training, seed=seed, name=name)
