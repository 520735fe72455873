"""String ops (TF1 ``tf.string``): join and number formatting, run on the host in every backend.

String tensors hold Python ``bytes`` in object arrays (fetches give ``bytes`` for a scalar, an
object array of ``bytes`` otherwise, as TF1). They can be constants, placeholders, moved
(identity, reshape, concat, slicing) and combined here; any numeric op given a string raises a
``DTypeError`` naming the op and the user's line. Plans that contain strings run op by op on
the host (``graphengine.runtime.hoststrings``); the compiled CPU step never sees them.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import dtypes as _dt
from ..errors import DTypeError
from ..graph import Tensor
from .registry import STRING_OPS, apply1, broadcast_shapes, defop
from .source import as_tensor


def _join_infer(s, d, a):
    for dt in d:
        if dt != _dt.string:
            raise DTypeError(f"strings.join takes string tensors, got {dt.name}; use tf.as_string first")
    return [(broadcast_shapes(*s), _dt.string)]


def _join_ref(a: dict, *xs: np.ndarray) -> np.ndarray:
    parts = np.broadcast_arrays(*[np.asarray(x, dtype=object) for x in xs])
    sep = a["separator"]
    out = np.empty(parts[0].shape, dtype=object)
    flat = [p.reshape(-1) for p in parts]
    for i in range(out.size):
        out.reshape(-1)[i] = sep.join(_as_bytes(p[i]) for p in flat)
    return out


def _as_bytes(v: Any) -> bytes:
    return v.encode("utf-8") if isinstance(v, str) else bytes(v)


defop("string_join", "movement", _join_infer, ref=_join_ref, differentiable=False,
      host_only=True, doc="Elementwise concatenation of string tensors with a separator.")
STRING_OPS.add("string_join")


def string_join(inputs: list, separator: str = "", name: str | None = None) -> Tensor:
    """Join string tensors elementwise, broadcasting (TF1 ``tf.strings.join`` / ``string_join``).

    >>> import graphengine as ge
    >>> from graphengine.ops.strings import string_join
    >>> ge.Session().run(string_join([ge.constant("a"), ge.constant(["x", "y"])], "-")).tolist()
    [b'a-x', b'a-y']
    """
    ts = [as_tensor(x) if isinstance(x, Tensor) else as_tensor(x, _dt.string) for x in inputs]
    if not ts:
        raise ValueError("strings.join needs at least one input")
    return apply1("string_join", ts, {"separator": _as_bytes(separator)}, name or "StringJoin")


def _as_string_infer(s, d, a):
    if d[0] == _dt.string:
        raise DTypeError("as_string takes a numeric or bool tensor, got a string tensor")
    return [(s[0], _dt.string)]


def _format(v: Any, a: dict) -> bytes:
    if isinstance(v, bool | np.bool_):
        text = "true" if v else "false"
    elif isinstance(v, float | np.floating):
        prec = a["precision"]
        if a["shortest"]:
            text = f"{v:g}" if prec < 0 else f"{v:.{prec}g}"
        else:
            text = f"{v:{'.' + str(prec) if prec >= 0 else ''}{'e' if a['scientific'] else 'f'}}"
    else:
        text = str(int(v))
    width = a["width"]
    if width > 0:
        text = text.rjust(width, a["fill"] or " ")
    return text.encode("ascii")


def _as_string_ref(a: dict, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    out = np.empty(x.shape, dtype=object)
    for i, v in enumerate(x.reshape(-1)):
        out.reshape(-1)[i] = _format(v, a)
    return out


defop("as_string", "movement", _as_string_infer, ref=_as_string_ref, differentiable=False,
      host_only=True, doc="Numbers formatted as strings (TF1 as_string).")


def as_string(input: Any, precision: int = -1, scientific: bool = False, shortest: bool = False,  # noqa: A002
              width: int = -1, fill: str = "", name: str | None = None) -> Tensor:
    """Format numbers (or bools) as strings, elementwise (TF1 ``tf.as_string``): floats as
    ``%f`` (6 digits unless ``precision``), ``%e`` with ``scientific``, ``%g`` with ``shortest``.

    >>> import graphengine as ge
    >>> from graphengine.ops.strings import as_string
    >>> ge.Session().run(as_string(ge.constant([1.5, 2.0]), precision=2)).tolist()
    [b'1.50', b'2.00']
    """
    return apply1("as_string", [as_tensor(input)],
                  {"precision": int(precision), "scientific": bool(scientific), "shortest": bool(shortest),
                   "width": int(width), "fill": str(fill)}, name or "AsString")
