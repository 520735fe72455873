"""Grouping ops: ``group`` and ``no_op`` run their control inputs and produce nothing."""
from __future__ import annotations

from typing import Any

from ..graph import Operation, Tensor
from .registry import apply


def _flatten_ops(inputs: Any, out: list[Operation]) -> list[Operation]:
    for x in inputs:
        if isinstance(x, list | tuple):
            _flatten_ops(x, out)
        elif isinstance(x, Operation):
            out.append(x)
        elif isinstance(x, Tensor) or hasattr(x, "op"):
            out.append(x.op)
        else:
            raise TypeError(f"group: expected ops or tensors, got {type(x).__name__}")
    return out


def group(*inputs: Any, name: str | None = None) -> Operation:
    """One op that runs all of ``inputs`` (ops or tensors, possibly nested in lists) when run."""
    return apply("group", [], {}, name or "group_deps", control_inputs=_flatten_ops(inputs, []))


def no_op(name: str | None = None) -> Operation:
    return apply("group", [], {}, name or "NoOp")
