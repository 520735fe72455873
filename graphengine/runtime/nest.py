"""Flatten and rebuild nested fetch structures (lists, tuples, namedtuples, dicts)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any


def flatten(struct: Any, is_leaf: Callable[[Any], bool]) -> list:
    out: list = []

    def go(s: Any) -> None:
        if is_leaf(s):
            out.append(s)
        elif isinstance(s, dict):
            for k in s:
                go(s[k])
        elif isinstance(s, list | tuple):
            for x in s:
                go(x)
        else:
            out.append(s)
    go(struct)
    return out


def pack(struct: Any, values: list, is_leaf: Callable[[Any], bool]) -> Any:
    it = iter(values)

    def go(s: Any) -> Any:
        if is_leaf(s):
            return next(it)
        if isinstance(s, dict):
            return type(s)((k, go(s[k])) for k in s) if type(s) is not dict else {k: go(s[k]) for k in s}
        if isinstance(s, tuple) and hasattr(s, "_fields"):
            return type(s)(*[go(x) for x in s])
        if isinstance(s, list | tuple):
            return type(s)(go(x) for x in s)
        return next(it)
    return go(struct)
