"""TF1's everyday surface beyond the math: ``tf.string`` and ``tf.strings``, ``tf.is_tensor``,
``tf.device``, ``tf.shape``/``tf.rank``/``tf.range``, indexing (``tf.slice``,
``tf.strided_slice``, ``tf.unstack``, ``tf.newaxis``), ``tf.TensorShape``, the ``tf.arg_max``
aliases, ``tf.compat.v1`` and (from ``tf1_app``) ``tf.app.run`` / ``tf.flags``:
``graphengine.compat.v1`` calls ``install`` with its namespace.

>>> import graphengine.compat.v1 as tf
>>> x = tf.placeholder(tf.float32, [None, 3])
>>> with tf.Session() as sess:
...     sess.run(tf.shape(x)[0], {x: [[1, 2, 3]] * 4}), sess.run(tf.constant("Hello, TensorFlow!"))
(np.int32(4), b'Hello, TensorFlow!')
"""
from __future__ import annotations

import sys
from typing import Any

import graphengine as _ge

from .. import dtypes as _dt
from ..graph import get_default_graph
from ..ops import dynamic as _dyn
from ..ops import slicing as _sl
from ..ops import strings as _str
from ..tensorshape import Dimension, TensorShape
from .tf1_app import install as install_app  # tf.app.run, tf.flags


def is_tensor(x: Any) -> bool:
    """Whether ``x`` is a graph tensor or a variable (TF1 ``tf.is_tensor``)."""
    return isinstance(x, _ge.Tensor | _ge.Variable)


def device(device_name_or_function: Any) -> Any:
    """``with tf.device("/gpu:0"):`` (or a function op -> device string): recorded on the ops
    built inside (``op.device``) and otherwise ignored; one device (the session's) runs every op,
    as TensorFlow places ops on a machine with a single device."""
    return get_default_graph().device(device_name_or_function)


def shape(input: Any, name: str | None = None, out_type: Any = _dt.int32) -> Any:  # noqa: A002
    """``tf.shape``: the run-time shape as an int32 vector (a constant when fully known)."""
    return _dyn.shape(input, out_type, name)


def rank(input: Any, name: str | None = None) -> Any:  # noqa: A002
    """``tf.rank``: the number of dimensions (graphengine ranks are static: a constant)."""
    x = _ge.as_tensor(input)
    if x.ndim is None:
        raise ValueError(f"tf.rank: {x.name} has an unknown rank")
    return _ge.constant(x.ndim, _dt.int32, name=name or "Rank")


def range(start: Any, limit: Any = None, delta: Any = 1, dtype: Any = None, name: str = "range") -> Any:  # noqa: A001
    """``tf.range``: ``range(n)`` or ``range(start, limit, delta)``."""
    return _dyn.range_(start, limit, delta, dtype, name)


def string_join(inputs: list, separator: str = "", name: str | None = None) -> Any:
    """``tf.string_join`` / ``tf.strings.join``."""
    return _str.string_join(inputs, separator, name)


def install(ns: dict) -> None:
    """Add these names to ``graphengine.compat.v1``'s globals and sub-namespaces."""
    ns.update(
        string=_dt.string, is_tensor=is_tensor, device=device, shape=shape, rank=rank, range=range,
        slice=_sl.slice_, strided_slice=_sl.strided_slice, unstack=_sl.unstack, newaxis=None,
        TensorShape=TensorShape, Dimension=Dimension, arg_max=ns["argmax"], arg_min=ns["argmin"],
        string_join=string_join, as_string=_str.as_string,
    )
    ns["strings"] = ns["_Namespace"]("strings", "TF1 ``tf.strings``.", join=string_join,
                                     as_string=_str.as_string)
    ns["compat"] = ns["_Namespace"]("compat", "``tf.compat``: ``tf.compat.v1`` is this module.",
                                    v1=sys.modules[ns["__name__"]])
    ns["math"].__dict__.update(argmax=ns["argmax"], argmin=ns["argmin"])
    install_app(ns)


__all__ = ["device", "install", "is_tensor", "rank", "range", "shape", "string_join"]
