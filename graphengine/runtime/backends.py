"""Backends turn a compiled Program into something that runs a step on a State."""
from __future__ import annotations

from typing import Any, Protocol

from ..compiler import Program
from .executor import OpExecutor

DEVICE_ALIASES = {"cpu": "cpu", "reference": "reference", "numpy": "reference",
                  "gpu": "cuda", "cuda": "cuda", "cuda:0": "cuda"}


class Executable(Protocol):
    program: Program

    def run(self, feeds: dict, state: Any) -> dict: ...


class Backend(Protocol):
    name: str

    def compile(self, program: Program, debug_numerics: bool) -> Executable: ...


class KernelBackend:
    """Runs a Program op by op on the kernels registered for ``kernel_set``."""

    def __init__(self, kernel_set: str) -> None:
        from kernels.registry import get_kernel, load_backend
        load_backend(kernel_set)
        self.name = kernel_set
        self._get = lambda op: get_kernel(op, kernel_set)

    def compile(self, program: Program, debug_numerics: bool) -> Executable:
        return OpExecutor(program, self._get, debug_numerics)


def make_backend(device: str, jit: str | None) -> Backend:
    """The backend for ``device``/``jit``; host ops (summaries) run beside it (runtime/hostops)."""
    from .hostops import HostOpsBackend
    from .hoststrings import StringsOnHost
    return HostOpsBackend(StringsOnHost(_make_backend(device, jit)))


def _make_backend(device: str, jit: str | None) -> Backend:
    dev = DEVICE_ALIASES.get(str(device).lower())
    if dev is None:
        raise ValueError(f"unknown device {device!r}; use 'cpu', 'gpu' (or 'cuda', 'cuda:0') "
                         "or 'reference' (the NumPy spec executor)")
    if dev == "reference":
        return KernelBackend("reference")
    if dev == "cpu":
        from kernels.cpu.blas import load, thread_setter
        load()  # before Numba binds np.dot: SciPy's BLAS without all of scipy.linalg (or MKL), threads that sleep
        from .threads import POLICY
        POLICY.use_setter(thread_setter())  # MKL's thread count, where the GEMMs run on it
        from kernels.cpu.jitstart import install
        install()  # cached steps and kernels load without initialising Numba's compiler
    if dev == "cuda":
        from graphengine.backends.cuda.backend import CudaBackend  # raises a clear error without a GPU
        return CudaBackend(jit=jit)
    if jit in (None, "step"):
        try:
            from graphengine.backends.cpu.step import StepBackend
        except ImportError:
            if jit == "step":
                raise
        else:
            return StepBackend()
    if jit not in (None, "op", "step"):
        raise ValueError(f"jit must be 'step' (one compiled function per step) or 'op' "
                         f"(one kernel call per op), got {jit!r}")
    return KernelBackend("cpu")
