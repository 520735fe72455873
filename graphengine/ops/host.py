"""Ops that run on the host in every backend because their output shape depends on the values:
``where(condition)`` (the coordinates of the true entries). A plan that contains one runs op by
op (the compiled CPU step and CUDA-graph capture decline it); its output's first dimension is
known only at run time.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import dtypes as _dt
from ..graph import Tensor
from .elementwise import _ew
from .registry import apply1, defop
from .source import as_tensor


def _where_indices_infer(s, d, a):
    return [(None if s[0] is None else (None, len(s[0])), _dt.int64)]


def where_indices_ref(a: dict, x: np.ndarray) -> np.ndarray:
    """(number of true/nonzero entries, rank) int64 coordinates, in row-major order (TF1)."""
    return np.argwhere(np.asarray(x)).astype(np.int64)


defop("where_indices", "movement", _where_indices_infer, ref=where_indices_ref, differentiable=False,
      host_only=True,
      doc="Coordinates of the true (nonzero) entries: shape (n, rank), int64, n known at run time.")


def where(condition: Any, x: Any = None, y: Any = None, name: str | None = None) -> Tensor:
    """``where(c, x, y)``: elementwise ``x if c else y`` (broadcasting); ``where(c)``: the int64
    coordinates of c's true entries, one row each (TF1).

    >>> import graphengine as ge
    >>> ge.where(ge.constant([[True, False], [False, True]])).eval(session=ge.Session()).tolist()
    [[0, 0], [1, 1]]
    """
    if x is None and y is None:
        c = condition if isinstance(condition, Tensor) else as_tensor(condition)
        return apply1("where_indices", [c], {}, name or "Where")
    if x is None or y is None:
        raise ValueError("where: pass both x and y, or neither (for the coordinates of condition)")
    return _ew("where", condition, x, y, name=name)
