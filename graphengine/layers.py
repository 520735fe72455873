"""``ge.layers``: TF1's ``tf.layers`` functions in the core (variables named as TF1 names them).

Each layer makes its variables under a variable scope named as TF1 names it (``dense``,
``dense_1``, ... unique within the enclosing variable scope; ``name=`` overrides), with TF1's
defaults: Glorot-uniform kernel, zero bias.

>>> import graphengine as ge
>>> x = ge.placeholder(ge.float32, (None, 8, 8, 1))
>>> ge.layers.conv2d(x, 4, 3, padding="same").shape
(None, 8, 8, 4)
>>> h = ge.layers.dense(ge.layers.flatten(x), 10, activation=ge.nn.relu)
>>> h.shape, [v.name for v in ge.trainable_variables()][-2:]
((None, 10), ['dense/kernel:0', 'dense/bias:0'])
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import ShapeError
from .graph import Tensor
from .layers_bn import MOVING_AVERAGE_VARIABLES, UPDATE_OPS, batch_normalization
from .layers_conv import average_pooling2d, conv2d, conv2d_transpose, max_pooling2d
from .ops import nn as _nn
from .ops.linalg import matmul
from .ops.shape import reshape
from .ops.source import as_tensor
from .variables import Zeros, get_variable, unique_layer_name, variable_scope


def dense(inputs: Any, units: int, activation: Callable | None = None, use_bias: bool = True,
          kernel_initializer: Any = None, bias_initializer: Any = None,
          kernel_regularizer: Any = None, bias_regularizer: Any = None, trainable: bool = True,
          name: str | None = None, reuse: Any = None) -> Tensor:
    """``activation(inputs @ kernel + bias)`` with variables ``<name>/kernel`` (in, units) and
    ``<name>/bias`` (units,) (TF1 ``tf.layers.dense``; default names dense, dense_1, ...;
    Glorot-uniform kernel, zero bias). Inputs are (batch, features).

    >>> import graphengine as ge
    >>> x = ge.placeholder(ge.float32, [None, 3])
    >>> ge.layers.dense(x, 4, activation=ge.nn.relu).shape
    (None, 4)
    """
    inputs = as_tensor(inputs)
    if inputs.shape is None or inputs.shape[-1] is None:
        raise ShapeError(f"layers.dense: the last dimension of {inputs.name} must be known, "
                         f"got shape {inputs.shape}")
    if inputs.ndim != 2:
        raise ShapeError(f"layers.dense: inputs must be rank 2 (batch, features), got rank {inputs.ndim}; "
                         "reshape (or layers.flatten) first")
    with variable_scope(name or unique_layer_name("dense"), reuse=reuse):
        kernel = get_variable("kernel", [inputs.shape[-1], units], dtype=inputs.dtype,
                              initializer=kernel_initializer, regularizer=kernel_regularizer,
                              trainable=trainable)
        out = matmul(inputs, kernel)
        if use_bias:
            bias = get_variable("bias", [units], dtype=inputs.dtype, initializer=bias_initializer or Zeros(),
                                regularizer=bias_regularizer, trainable=trainable)
            out = _nn.bias_add(out, bias)
        return activation(out) if activation is not None else out


def flatten(inputs: Any, name: str | None = None) -> Tensor:
    """(batch, d1, d2, ...) -> (batch, d1 * d2 * ...) (TF1 ``tf.layers.flatten``); the non-batch
    dimensions must be known.

    >>> import graphengine as ge
    >>> ge.layers.flatten(ge.placeholder(ge.float32, (None, 4, 4, 2))).shape
    (None, 32)
    """
    inputs = as_tensor(inputs)
    if inputs.shape is None or None in inputs.shape[1:]:
        raise ShapeError(f"flatten needs known non-batch dimensions, got {inputs.shape}")
    n = 1
    for d in inputs.shape[1:]:
        n *= d
    return reshape(inputs, [-1, n], name=name)


def dropout(inputs: Any, rate: Any = 0.5, seed: int | None = None, training: Any = False,
            name: str | None = None) -> Tensor:
    """``nn.dropout`` with TF1 ``tf.layers.dropout``'s default ``training=False`` (the identity
    unless training; ``training`` may be a bool tensor).

    >>> import graphengine as ge
    >>> x = ge.constant([1.0, 2.0])
    >>> ge.layers.dropout(x, 0.5) is x
    True
    """
    return _nn.dropout(inputs, rate=rate, training=training, seed=seed, name=name)

__all__ = ["MOVING_AVERAGE_VARIABLES", "UPDATE_OPS", "average_pooling2d", "batch_normalization", "conv2d",
           "conv2d_transpose", "dense", "dropout", "flatten", "max_pooling2d"]
