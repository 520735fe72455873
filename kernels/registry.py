"""register_kernel(op, backend); get_kernel raises naming the op and backend when one is missing."""
from __future__ import annotations

import importlib
from collections.abc import Callable

from graphengine.errors import KernelNotFoundError
from graphengine.ops.registry import OPS

_KERNELS: dict[tuple[str, str], Callable] = {}
# backend name -> module that registers its kernels when imported
BACKEND_MODULES = {"reference": "kernels.reference", "cpu": "kernels.cpu", "cuda": "kernels.cuda"}
_loaded: set[str] = set()

# The runtime itself executes these (feeds, constants, variable state, random streams, grouping).
RUNTIME_OPS = frozenset({"placeholder", "const", "variable", "random", "random_uniform_like", "group"})


def register_kernel(op: str, backend: str) -> Callable[[Callable], Callable]:
    if op not in OPS:
        raise KeyError(f"register_kernel: no op named {op!r}")

    def deco(fn: Callable) -> Callable:
        _KERNELS[(op, backend)] = fn
        return fn
    return deco


def load_backend(backend: str) -> None:
    if backend in _loaded:
        return
    mod = BACKEND_MODULES.get(backend)
    if mod is None:
        raise KernelNotFoundError(f"unknown backend {backend!r}; known: {sorted(BACKEND_MODULES)}")
    importlib.import_module(mod)
    _loaded.add(backend)


def get_kernel(op: str, backend: str) -> Callable:
    load_backend(backend)
    try:
        return _KERNELS[(op, backend)]
    except KeyError:
        raise KernelNotFoundError(f"op {op!r} has no kernel on backend {backend!r}") from None


def kernel_exempt(op: str) -> bool:
    return op in RUNTIME_OPS


def missing_kernels(backend: str) -> list[str]:
    load_backend(backend)
    return sorted(o for o in OPS if not kernel_exempt(o) and (o, backend) not in _KERNELS)
