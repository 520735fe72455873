"""Matrix multiplication."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DTypeError, ShapeError
from ..graph import Tensor
from .elementwise import _unbroadcast
from .registry import apply1, broadcast_shapes, defop, same_dtype
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
    """Matrix product, optionally transposing either input (the last two axes). Inputs of
    rank >= 3 multiply matrix by matrix over the leading (batch) axes, which broadcast (TF's
    batched matmul); a rank-2 operand is shared by every batch entry.

    >>> import graphengine as ge
    >>> ge.matmul(ge.ones((2, 3)), ge.ones((4, 3)), transpose_b=True).shape
    (2, 4)
    >>> ge.matmul(ge.ones((5, 2, 3)), ge.ones((3, 4))).shape
    (5, 2, 4)
    """
    a = as_tensor(a)
    b = as_tensor(b, a.dtype) if not isinstance(b, Tensor) else b
    attrs = {"transpose_a": bool(transpose_a), "transpose_b": bool(transpose_b)}
    if (a.ndim or 0) >= 3 or (b.ndim or 0) >= 3:
        return apply1("batch_matmul", [a, b], attrs, name)
    return apply1("matmul", [a, b], attrs, name)


# ----- batched matmul: (..., m, k) @ (..., k, n), batch axes broadcast ------------------------

def _bmm_infer(s, d, a):
    dt = same_dtype(d, "matmul")
    if dt.is_bool:
        raise DTypeError("matmul of bool tensors; use ge.cast")
    sa, sb = s
    if sa is None or sb is None:
        return [(None, dt)]
    if len(sa) < 2 or len(sb) < 2:
        raise ShapeError(f"batched matmul needs inputs of rank >= 2, got ranks {len(sa)} and {len(sb)}")
    m, k1 = (sa[-1], sa[-2]) if a["transpose_a"] else (sa[-2], sa[-1])
    k2, n = (sb[-1], sb[-2]) if a["transpose_b"] else (sb[-2], sb[-1])
    if k1 is not None and k2 is not None and k1 != k2:
        raise ShapeError(f"matmul inner dimensions differ: {k1} vs {k2} "
                         f"(transpose_a={a['transpose_a']}, transpose_b={a['transpose_b']})")
    batch = broadcast_shapes(sa[:-2], sb[:-2])
    return [(None if batch is None else batch + (m, n), dt)]


def _swap(x: np.ndarray) -> np.ndarray:
    return np.swapaxes(x, -1, -2)


def _bmm_ref(a, x, y):
    return np.matmul(_swap(x) if a["transpose_a"] else x, _swap(y) if a["transpose_b"] else y)


def _g_bmm(op, g):
    A, B = op.inputs
    ta, tb = op.attrs["transpose_a"], op.attrs["transpose_b"]
    dC = g[0]

    def mm(x, y, tx=False, ty=False):
        return apply1("batch_matmul", [x, y], {"transpose_a": tx, "transpose_b": ty})
    if not ta and not tb:
        da, db = mm(dC, B, ty=True), mm(A, dC, tx=True)
    elif ta and not tb:
        da, db = mm(B, dC, ty=True), mm(A, dC)
    elif not ta and tb:
        da, db = mm(dC, B), mm(dC, A, tx=True)
    else:
        da, db = mm(B, dC, True, True), mm(dC, A, True, True)
    return [_unbroadcast(da, A), _unbroadcast(db, B)]  # summed over broadcast batch axes


defop("batch_matmul", "matmul", _bmm_infer, ref=_bmm_ref, vjp=_g_bmm)
