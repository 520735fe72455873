"""register_kernel(op, backend); get_kernel raises naming the op and backend when one is missing."""
from __future__ import annotations

import importlib
from collections.abc import Callable

from graphengine.errors import KernelNotFoundError
from graphengine.ops.registry import OPS


class Unsupported(Exception):
    """This program cannot be compiled into one step; the backend runs it op by op (a step
    emitter raises it for an op it cannot write into the step)."""


_KERNELS: dict[tuple[str, str], Callable] = {}
# backend name -> module that registers its kernels when imported
BACKEND_MODULES = {"reference": "kernels.reference", "cpu": "kernels.cpu", "cuda": "kernels.cuda"}
_loaded: set[str] = set()



def register_kernel(op: str, backend: str) -> Callable[[Callable], Callable]:
    if op not in OPS:
        raise KeyError(f"register_kernel: no op named {op!r}")

    def deco(fn: Callable) -> Callable:
        _KERNELS[(op, backend)] = fn
        return fn
    return deco


_STEP_EMITTERS: dict[str, tuple[Callable, tuple[str, ...]]] = {}


def register_step_emitter(op: str, imports: tuple[str, ...] | list[str] = ()) -> Callable[[Callable], Callable]:
    """Register ``fn(gen, op)`` that writes ``op``'s code into the generated CPU step.

    ``gen`` is the step generator (``graphengine.backends.cpu.stepgen.Gen``): ``gen.alloc(t)`` declares a
    pooled output, ``gen.v(t)`` names a tensor's array, ``gen.dims(t)`` its run-time dims,
    ``gen.emit(line)`` appends a line of the step body, ``gen.emit_checked(call)`` emits a call
    that returns a negative number on success and an error index otherwise.
    ``imports`` are the module-level import lines the emitted code needs, e.g.
    ``"from kernels.cpu.conv import conv2d_nhwc"``; they become part of the step's source.
    Emitters sit beside the CPU kernel they call; the generator's built-in ``op_<name>``
    methods are used for ops that register none.
    """
    if op not in OPS:
        raise KeyError(f"register_step_emitter: no op named {op!r}")

    def deco(fn: Callable) -> Callable:
        _STEP_EMITTERS[op] = (fn, tuple(imports))
        return fn
    return deco


def get_step_emitter(op: str) -> tuple[Callable, tuple[str, ...]] | None:
    load_backend("cpu")
    return _STEP_EMITTERS.get(op)


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
    """Whether the runtime computes ``op`` itself (``OpDef.runtime``), needing no kernel."""
    return OPS[op].runtime


def missing_kernels(backend: str) -> list[str]:
    load_backend(backend)
    return sorted(o for o in OPS if not kernel_exempt(o) and (o, backend) not in _KERNELS)
