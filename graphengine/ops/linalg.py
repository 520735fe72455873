"""Matrix multiplication."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DTypeError, ShapeError
from ..graph import Tensor
from .registry import apply1, defop, same_dtype
from .source import as_tensor


def _matmul_infer(s, d, a):
    dt = same_dtype(d, "matmul")
    if dt.is_bool:
        raise DTypeError("matmul of bool tensors; use ge.cast")
    sa, sb = s
    if sa is None or sb is None:
        return [(None, dt)]
    if len(sa) != 2 or len(sb) != 2:
        raise ShapeError(f"matmul needs rank-2 inputs, got ranks {len(sa)} and {len(sb)}")
    m, k1 = (sa[1], sa[0]) if a["transpose_a"] else sa
    k2, n = (sb[1], sb[0]) if a["transpose_b"] else sb
    if k1 is not None and k2 is not None and k1 != k2:
        raise ShapeError(f"matmul inner dimensions differ: {k1} vs {k2} "
                         f"(transpose_a={a['transpose_a']}, transpose_b={a['transpose_b']})")
    return [((m, n), dt)]


def _matmul_ref(a, x, y):
    return np.matmul(x.T if a["transpose_a"] else x, y.T if a["transpose_b"] else y)


def _g_matmul(op, g):
    A, B = op.inputs
    ta, tb = op.attrs["transpose_a"], op.attrs["transpose_b"]
    dC = g[0]
    if not ta and not tb:
        return [matmul(dC, B, transpose_b=True), matmul(A, dC, transpose_a=True)]
    if ta and not tb:
        return [matmul(B, dC, transpose_b=True), matmul(A, dC)]
    if not ta and tb:
        return [matmul(dC, B), matmul(dC, A, transpose_a=True)]
    return [matmul(B, dC, transpose_a=True, transpose_b=True),
            matmul(dC, A, transpose_a=True, transpose_b=True)]


defop("matmul", "matmul", _matmul_infer, ref=_matmul_ref, vjp=_g_matmul)


def matmul(a: Any, b: Any, transpose_a: bool = False, transpose_b: bool = False,
           name: str | None = None) -> Tensor:
    """Matrix product of rank-2 tensors, optionally transposing either input.

    >>> import graphengine as ge
    >>> ge.matmul(ge.ones((2, 3)), ge.ones((4, 3)), transpose_b=True).shape
    (2, 4)
    """
    a = as_tensor(a)
    b = as_tensor(b, a.dtype) if not isinstance(b, Tensor) else b
    return apply1("matmul", [a, b], {"transpose_a": bool(transpose_a),
                                     "transpose_b": bool(transpose_b)}, name)
