"""``TensorShape`` and ``Dimension``: what ``Tensor.get_shape()`` returns (TF1's classes).

A ``TensorShape`` *is* a tuple of ints and Nones (it compares, hashes, iterates and unpacks as
one), with TF1's methods on top: ``as_list()``, ``ndims``, ``is_fully_defined()``,
``num_elements()``. Indexing gives a ``Dimension`` (an int with TF1's ``.value``) for a known
dimension and None for an unknown one; slicing gives a ``TensorShape``.

>>> import graphengine as ge
>>> s = ge.placeholder(ge.float32, (None, 3)).get_shape()
>>> s.as_list(), s == (None, 3), s[1].value, s[1] * 2
([None, 3], True, 3, 6)
"""
from __future__ import annotations

from typing import Any


class Dimension(int):
    """A known dimension: an ``int`` with TF1's ``.value``."""

    @property
    def value(self) -> int:
        return int(self)


class TensorShape(tuple):
    """A static shape: a tuple of ints (known dims) and Nones (unknown dims)."""

    def __new__(cls, dims: Any = ()) -> TensorShape:
        if dims is None:
            raise ValueError("TensorShape(None): the rank is unknown; graphengine shapes have a known rank")
        return super().__new__(cls, (None if d is None else int(d) for d in dims))

    def __getitem__(self, key: Any) -> Any:
        v = tuple.__getitem__(self, key)
        if isinstance(key, slice):
            return TensorShape(v)
        return None if v is None else Dimension(v)

    def as_list(self) -> list:
        return list(tuple.__iter__(self))

    @property
    def ndims(self) -> int:
        return len(self)

    rank = ndims

    @property
    def dims(self) -> list:
        return [self[i] for i in range(len(self))]

    def is_fully_defined(self) -> bool:
        return None not in tuple(self)

    def num_elements(self) -> int | None:
        if not self.is_fully_defined():
            return None
        n = 1
        for d in tuple.__iter__(self):
            n *= d
        return n

    def __repr__(self) -> str:
        return repr(tuple(self))
