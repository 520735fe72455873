"""String tensors stay on the host: a plan that holds one runs op by op.

Strings are Python ``bytes`` in object arrays, which neither the generated CPU step (Numba) nor
device buffers can hold. ``StringsOnHost`` wraps a backend: plans without strings compile as
before; a plan that feeds, builds or fetches a string runs on the op-by-op executor of the same
backend (the CPU kernels, or on the GPU one launch per op with strings kept on the host), and
``plan_info`` names the string tensor that made it so.
"""
from __future__ import annotations

from typing import Any

from ..compiler import Program
from .executor import OpExecutor


def first_string(program: Program) -> Any:
    """The first string tensor the plan feeds or computes, or None."""
    for t in program.feeds:
        if t.dtype.name == "string":
            return t
    for op in program.ops:
        for t in getattr(op, "outputs", ()):
            if t.dtype.name == "string":
                return t
    return None


class StringsOnHost:
    """A backend whose plans with string tensors run op by op (see the module docstring)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name

    def __getattr__(self, name: str) -> Any:  # new_state, jit, arrays, ... of the wrapped backend
        return getattr(self.inner, name)

    def compile(self, program: Program, debug_numerics: bool) -> Any:
        t = first_string(program)
        kind = type(self.inner).__name__
        if t is None or kind not in ("StepBackend", "CudaBackend"):
            return self.inner.compile(program, debug_numerics)
        why = (f"the plan holds a string tensor ({t.name}, built at {t.op.site or '?'}): strings "
               "run on the host, op by op")
        if kind == "CudaBackend":  # one launch per op (no CUDA-graph capture)
            from graphengine.backends.cuda.backend import CudaExecutable
            exe = CudaExecutable(program, self.inner._get, self.inner.arrays, debug_numerics)
        else:
            from kernels.registry import get_kernel
            exe = OpExecutor(program, lambda op: get_kernel(op, "cpu"), debug_numerics)
        exe.why_not_compiled = why
        return exe
