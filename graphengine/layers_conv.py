"""Convolution and pooling layers with TF1's ``tf.layers`` semantics.

Each layer makes its variables under a variable scope named as TF1 names it (``conv2d``,
``conv2d_1``, ... unique within the enclosing variable scope; ``name=`` overrides), so
checkpoints and ``get_variable(reuse=True)`` see ``conv2d/kernel`` and ``conv2d/bias``. Defaults
are TF1's: Glorot-uniform kernel, zero bias, ``padding="valid"``, ``channels_last``.

>>> import graphengine as ge
>>> x = ge.placeholder(ge.float32, (None, 28, 28, 1))
>>> h = ge.layers.conv2d(x, 32, 5, padding="same", activation=ge.nn.relu)
>>> ge.layers.max_pooling2d(h, 2, 2).shape, [v.name for v in ge.trainable_variables()][-2:]
((None, 14, 14, 32), ['conv2d/kernel:0', 'conv2d/bias:0'])
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import ShapeError
from .graph import Tensor, name_scope
from .ops import conv as _conv
from .ops.elementwise import add
from .ops.nn import bias_add
from .ops.shape import reshape
from .ops.source import as_tensor
from .variables import Zeros, get_variable, unique_layer_name, variable_scope

_FORMATS = {"channels_last": "NHWC", "channels_first": "NCHW"}


def _fmt(data_format: str) -> str:
    try:
        return _FORMATS[data_format]
    except KeyError:
        raise ValueError(f"data_format must be 'channels_last' or 'channels_first', got {data_format!r}") from None


def _channels(x: Tensor, fmt: str, layer: str) -> int:
    if x.shape is None or len(x.shape) != 4:
        raise ShapeError(f"{layer}: inputs must be rank 4, got shape {x.shape}")
    c = x.shape[3] if fmt == "NHWC" else x.shape[1]
    if c is None:
        raise ShapeError(f"{layer}: the channel dimension of the inputs must be known, got shape {x.shape}")
    return c


def _bias(y: Tensor, units: int, fmt: str, initializer: Any, regularizer: Any, trainable: bool) -> Tensor:
    b = get_variable("bias", [units], dtype=y.dtype, initializer=initializer or Zeros(),
                     regularizer=regularizer, trainable=trainable)
    if fmt == "NHWC":
        return bias_add(y, b)
    return add(y, reshape(b, (units, 1, 1)), name="BiasAdd")


def _spatial_len(n: int | None, k: int, s: int, d: int, padding: str) -> int | None:
    """Keras' ``deconv_output_length``: the input length a conv2d_transpose layer restores."""
    if n is None:
        return None
    ek = (k - 1) * d + 1
    return n * s if padding == "SAME" else n * s + max(ek - s, 0)


def _conv_layer(kind: str, inputs: Any, filters: int, kernel_size: Any, strides: Any, padding: str,
                data_format: str, dilation_rate: Any, activation: Callable | None, use_bias: bool,
                kernel_initializer: Any, bias_initializer: Any, kernel_regularizer: Any,
                bias_regularizer: Any, trainable: bool, name: str | None, reuse: Any) -> Tensor:
    x = as_tensor(inputs)
    fmt = _fmt(data_format)
    c = _channels(x, fmt, f"layers.{kind}")
    kh, kw = _conv.spatial_pair(kernel_size, "kernel_size")
    strides, dil = _conv.spatial_pair(strides, "strides"), _conv.spatial_pair(dilation_rate, "dilation_rate")
    pad = _conv._padding(padding)
    shape = [kh, kw, c, filters] if kind == "conv2d" else [kh, kw, filters, c]
    with variable_scope(name or unique_layer_name(kind), reuse=reuse):
        kernel = get_variable("kernel", shape, dtype=x.dtype, initializer=kernel_initializer,
                              regularizer=kernel_regularizer, trainable=trainable)
        if kind == "conv2d":
            y = _conv.conv2d(x, kernel, strides, pad, fmt, dil, name="Conv2D")
        else:
            hw = (x.shape[1:3] if fmt == "NHWC" else x.shape[2:4])
            out_hw = [_spatial_len(n, k, s, d, pad) for n, k, s, d in zip(hw, (kh, kw), strides, dil)]
            out = [x.shape[0], *out_hw, filters] if fmt == "NHWC" else [x.shape[0], filters, *out_hw]
            y = _conv.conv2d_transpose(x, kernel, out, strides, pad, fmt, dil, name="conv2d_transpose")
        if use_bias:
            y = _bias(y, filters, fmt, bias_initializer, bias_regularizer, trainable)
        return activation(y) if activation is not None else y


def conv2d(inputs: Any, filters: int, kernel_size: Any, strides: Any = (1, 1), padding: str = "valid",
           data_format: str = "channels_last", dilation_rate: Any = (1, 1), activation: Callable | None = None,
           use_bias: bool = True, kernel_initializer: Any = None, bias_initializer: Any = None,
           kernel_regularizer: Any = None, bias_regularizer: Any = None, trainable: bool = True,
           name: str | None = None, reuse: Any = None, **_: Any) -> Tensor:
    """``tf.layers.conv2d``: ``activation(conv2d(inputs, kernel) + bias)``; the kernel is
    (kh, kw, in_channels, filters). Unsupported TF1 keywords (constraints, activity regularizers)
    are accepted and ignored."""
    return _conv_layer("conv2d", inputs, filters, kernel_size, strides, padding, data_format, dilation_rate,
                       activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                       bias_regularizer, trainable, name, reuse)


def conv2d_transpose(inputs: Any, filters: int, kernel_size: Any, strides: Any = (1, 1), padding: str = "valid",
                     data_format: str = "channels_last", activation: Callable | None = None,
                     use_bias: bool = True, kernel_initializer: Any = None, bias_initializer: Any = None,
                     kernel_regularizer: Any = None, bias_regularizer: Any = None, trainable: bool = True,
                     name: str | None = None, reuse: Any = None, dilation_rate: Any = (1, 1),
                     **_: Any) -> Tensor:
    """``tf.layers.conv2d_transpose``: the kernel is (kh, kw, filters, in_channels); the output's
    spatial size is in * stride (``same``) or in * stride + max(kernel - stride, 0) (``valid``)."""
    return _conv_layer("conv2d_transpose", inputs, filters, kernel_size, strides, padding, data_format,
                       dilation_rate, activation, use_bias, kernel_initializer, bias_initializer,
                       kernel_regularizer, bias_regularizer, trainable, name, reuse)


def _pool_layer(kind: str, layer: str, inputs: Any, pool_size: Any, strides: Any, padding: str,
                data_format: str, name: str | None) -> Tensor:
    fmt = _fmt(data_format)
    with name_scope(name or unique_layer_name(layer)):
        fn = _conv.max_pool if kind == "max" else _conv.avg_pool
        return fn(inputs, _conv.spatial_pair(pool_size, "pool_size"), _conv.spatial_pair(strides, "strides"),
                  padding, fmt, name="MaxPool" if kind == "max" else "AvgPool")


def max_pooling2d(inputs: Any, pool_size: Any, strides: Any, padding: str = "valid",
                  data_format: str = "channels_last", name: str | None = None) -> Tensor:
    """``tf.layers.max_pooling2d``."""
    return _pool_layer("max", "max_pooling2d", inputs, pool_size, strides, padding, data_format, name)


def average_pooling2d(inputs: Any, pool_size: Any, strides: Any, padding: str = "valid",
                      data_format: str = "channels_last", name: str | None = None) -> Tensor:
    """``tf.layers.average_pooling2d``: SAME windows average only the entries inside the input."""
    return _pool_layer("avg", "average_pooling2d", inputs, pool_size, strides, padding, data_format, name)


__all__ = ["average_pooling2d", "conv2d", "conv2d_transpose", "max_pooling2d"]
