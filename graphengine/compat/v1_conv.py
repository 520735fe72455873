"""TF1 spellings of convolution and pooling for ``graphengine.compat.v1`` (``tf.nn.conv2d``,
``tf.nn.max_pool``, ``tf.layers.conv2d``, ...): TF1's argument names and orders on top of
``graphengine.ops.conv`` and ``graphengine.layers``.

>>> import graphengine.compat.v1 as tf
>>> x = tf.placeholder(tf.float32, [None, 28, 28, 1])
>>> w = tf.Variable(tf.truncated_normal([5, 5, 1, 32], stddev=0.1))
>>> h = tf.nn.relu(tf.nn.conv2d(x, w, strides=[1, 1, 1, 1], padding="SAME"))
>>> tf.nn.max_pool(h, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="SAME").shape
(None, 14, 14, 32)
"""
from __future__ import annotations

from typing import Any

from .. import layers as _layers
from ..graph import Tensor
from ..ops import conv as _conv


def _one(a: Any, b: Any, what: str, default: Any = None) -> Any:
    """TF1's pairs of spellings (``filter``/``filters``, ``value``/``input``): exactly one."""
    if a is not None and b is not None:
        raise ValueError(f"{what}: pass one of the two spellings, not both")
    return a if a is not None else b if b is not None else default


def conv2d(input: Any, filter: Any = None, strides: Any = None, padding: Any = None,  # noqa: A002
           use_cudnn_on_gpu: bool = True, data_format: str = "NHWC", dilations: Any = (1, 1, 1, 1),
           name: str | None = None, filters: Any = None) -> Any:
    """``tf.nn.conv2d(input, filter, strides=[1, sh, sw, 1], padding="SAME"|"VALID")``."""
    if strides is None or padding is None:
        raise TypeError("tf.nn.conv2d needs strides and padding")
    return _conv.conv2d(input, _one(filter, filters, "tf.nn.conv2d"), strides, padding, data_format,
                        dilations, name)


def conv2d_transpose(value: Any = None, filter: Any = None, output_shape: Any = None,  # noqa: A002
                     strides: Any = None, padding: str = "SAME", data_format: str = "NHWC",
                     name: str | None = None, input: Any = None, filters: Any = None,  # noqa: A002
                     dilations: Any = None) -> Any:
    """``tf.nn.conv2d_transpose(value, filter, output_shape, strides, padding)``; the filter is
    (kh, kw, output_channels, input_channels)."""
    if output_shape is None or strides is None:
        raise TypeError("tf.nn.conv2d_transpose needs output_shape and strides")
    return _conv.conv2d_transpose(_one(value, input, "tf.nn.conv2d_transpose"),
                                  _one(filter, filters, "tf.nn.conv2d_transpose"), _static(output_shape),
                                  strides, padding, data_format, dilations or 1, name)


def _static(shape: Any) -> list:
    """An output_shape as a list of ints (None where only the run time knows, e.g. the batch).

    Shapes are static here: a tensor must be a constant, or ``tf.stack`` of scalars whose
    non-batch entries are constants (``tf.stack([tf.shape(x)[0], 14, 14, 32])``, the DCGAN idiom).
    """
    if not isinstance(shape, Tensor):
        return [None if v is None else int(v) for v in shape]
    op = shape.op
    if op.type == "const":
        return [int(v) for v in op.attrs["value"]]
    if op.type == "concat" and all(t.op.type == "expand_dims" for t in op.inputs):
        parts = [t.op.inputs[0] for t in op.inputs]
        return [int(p.op.attrs["value"]) if p.op.type == "const" else None for p in parts]
    raise ValueError("conv2d_transpose: output_shape must be static here (a list, a constant, or tf.stack "
                     "of constants with the batch entry free)")


def conv2d_backprop_input(input_sizes: Any, filter: Any = None, out_backprop: Any = None,  # noqa: A002
                          strides: Any = None, padding: Any = None, use_cudnn_on_gpu: bool = True,
                          data_format: str = "NHWC", dilations: Any = (1, 1, 1, 1), name: str | None = None,
                          filters: Any = None) -> Any:
    """``tf.nn.conv2d_backprop_input``: conv2d's gradient with respect to an input of
    ``input_sizes``."""
    return _conv.conv2d_transpose(out_backprop, _one(filter, filters, "tf.nn.conv2d_backprop_input"),
                                  _static(input_sizes), strides, padding, data_format, dilations,
                                  name or "Conv2DBackpropInput")


def conv2d_backprop_filter(input: Any, filter_sizes: Any, out_backprop: Any, strides: Any,  # noqa: A002
                           padding: Any, use_cudnn_on_gpu: bool = True, data_format: str = "NHWC",
                           dilations: Any = (1, 1, 1, 1), name: str | None = None) -> Any:
    """``tf.nn.conv2d_backprop_filter``: ``graphengine.nn.conv2d_backprop_filter`` (TF1's
    argument order; ``filter_sizes`` may be a constant tensor)."""
    return _conv.conv2d_backprop_filter(input, _static(filter_sizes), out_backprop, strides, padding, data_format,
                                        dilations, name)


def _pool(fn: Any, tf_name: str) -> Any:
    def pool(value: Any = None, ksize: Any = None, strides: Any = None, padding: Any = None,
             data_format: str = "NHWC", name: str | None = None, input: Any = None) -> Any:  # noqa: A002
        if ksize is None or strides is None or padding is None:
            raise TypeError(f"tf.nn.{tf_name} needs ksize, strides and padding")
        return fn(_one(value, input, f"tf.nn.{tf_name}"), ksize, strides, padding, data_format, name)
    pool.__name__ = pool.__qualname__ = tf_name
    pool.__doc__ = f"``tf.nn.{tf_name}(value, ksize=[1, kh, kw, 1], strides=[1, sh, sw, 1], padding)``."
    return pool


max_pool = _pool(_conv.max_pool, "max_pool")
avg_pool = _pool(_conv.avg_pool, "avg_pool")

NN = {"conv2d": conv2d, "conv2d_transpose": conv2d_transpose, "conv2d_backprop_input": conv2d_backprop_input,
      "conv2d_backprop_filter": conv2d_backprop_filter, "max_pool": max_pool, "avg_pool": avg_pool}
LAYERS = {"conv2d": _layers.conv2d, "conv2d_transpose": _layers.conv2d_transpose,
          "max_pooling2d": _layers.max_pooling2d, "average_pooling2d": _layers.average_pooling2d}


def install(nn: Any, layers: Any) -> None:
    """Add these to compat.v1's ``tf.nn`` and ``tf.layers`` namespaces."""
    nn.__dict__.update(NN)
    layers.__dict__.update(LAYERS)
