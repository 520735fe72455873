"""Host ops (kind ``"host"``: TensorBoard summaries) split off the rest of a plan.

A plan that fetches summaries next to a training step should still run its numeric part as the
backend compiles it (one native step on the CPU, device kernels on the GPU). ``HostOpsBackend``
wraps a backend: when a program contains host ops that only feed other host ops or fetches, the
rest of the program is compiled by the wrapped backend with the host ops' inputs added as
fetches, and the host ops run afterwards, in order, on those values. Otherwise (no host ops, or
a numeric op reading a host op's output) the wrapped backend compiles the program unchanged:
every backend also has host kernels for these ops, so such plans run op by op, correctly.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..compiler import Program
from ..ops.registry import OPS
from .executor import rethrow


def _is_host(op: Any) -> bool:
    return OPS[op.type].kind == "host"


def split(program: Program) -> tuple[Program, list] | None:
    """(the program without its host ops, the host ops in run order), or None if not separable."""
    host = [op for op in program.ops if _is_host(op)]
    if not host:
        return None
    host_set = set(host)
    host_out = {t for op in host for t in op.outputs}
    rest = [op for op in program.ops if op not in host_set]
    for op in rest:
        if any(t in host_out for t in op.inputs) or any(c in host_set for c in op.control_inputs):
            return None
    need: list = []
    for t in [t for t in program.fetches if t not in host_out] + [t for op in host for t in op.inputs]:
        if t not in host_out and t not in need:
            need.append(t)
    n1 = sum(1 for op in program.ops[:program.n_phase1] if op not in host_set)
    inner = Program(ops=tuple(rest), fetches=tuple(need), targets=tuple(o for o in program.targets
                                                                       if o not in host_set),
                    feeds=program.feeds, n_phase1=n1)
    return inner, host


def _host_value(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return v
    for get in ("get", "copy_to_host"):  # CuPy / Numba device arrays
        if hasattr(v, get):
            return np.asarray(getattr(v, get)())
    return np.asarray(v)


class HostSplitExecutable:
    """The wrapped backend's executable for the numeric part, then the host ops on the host."""

    _INNER_INFO = ("lay", "fused", "_sigs", "why_not_compiled", "source")

    def __init__(self, program: Program, inner: Any, host_ops: list) -> None:
        self.program = program
        self.inner = inner
        self.host_ops = host_ops

    def __getattr__(self, name: str) -> Any:  # plan_info's view of the compiled part
        if name in HostSplitExecutable._INNER_INFO:
            return getattr(self.inner, name)
        raise AttributeError(name)

    def run(self, feeds: dict, state: Any, **kw: Any) -> dict:
        vals = dict(self.inner.run(feeds, state, **kw))
        for op in self.host_ops:
            ins = [_host_value(vals[t]) for t in op.inputs]
            try:
                outs = OPS[op.type].ref(op.attrs, *ins)
            except Exception as e:  # noqa: BLE001 - re-raised naming the op and the user's line
                rethrow(op, e)
            vals[op.outputs[0]] = outs
        return vals


class HostOpsBackend:
    """Any backend, with host ops run on the host after its (compiled) part of each plan."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name

    def __getattr__(self, name: str) -> Any:  # new_state, jit, arrays, ... of the wrapped backend
        return getattr(self.inner, name)

    def compile(self, program: Program, debug_numerics: bool) -> Any:
        parts = None if debug_numerics else split(program)
        if parts is None:
            return self.inner.compile(program, debug_numerics)
        inner, host = parts
        return HostSplitExecutable(program, self.inner.compile(inner, debug_numerics), host)
