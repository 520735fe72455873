"""The per-op executor: runs a Program op by op, each op one kernel call."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import GraphEngineError, NumericsError, ShapeError
from ..graph import Operation, Tensor, shape_str
from ..ops.registry import OPS
from ..ops.source import sample
from .state import State


def run_source(op: Operation, ins: list, state: State) -> tuple:
    """Ops the runtime executes itself, the same on every backend (host side)."""
    t = op.type
    if t == "const":
        return (op.attrs["value"],)
    if t == "variable":
        return (state.read(op),)
    if t == "random":
        return (sample(op.attrs, state.rng(op), op.attrs["shape"]),)
    if t == "random_shaped":  # a random op whose shape is a tensor (known at run time)
        from ..ops.dynamic import host_ints
        return (sample(op.attrs, state.rng(op), host_ints(ins[0])),)
    if t == "random_uniform_like":
        return (state.rng(op).random(ins[0].shape).astype(op.attrs["dtype"].np),)
    if t == "group":
        return ()
    raise GraphEngineError(f"{op.describe()} has no value: it was not fed")


def summarize(a: np.ndarray) -> str:
    a = np.asarray(a)
    if a.dtype.kind != "f" or a.size == 0:
        return f"shape={a.shape} dtype={a.dtype}"
    fin = np.isfinite(a)
    lo = float(a[fin].min()) if fin.any() else float("nan")
    hi = float(a[fin].max()) if fin.any() else float("nan")
    return (f"shape={a.shape} dtype={a.dtype} min={lo:.4g} max={hi:.4g} "
            f"non-finite={int(a.size - fin.sum())}")


def check_numerics(op: Operation, ins: list, outs: tuple) -> None:
    for i, o in enumerate(outs):
        if isinstance(o, np.ndarray) and o.dtype.kind == "f" and not np.isfinite(o).all():
            inputs = "\n".join(f"  input {j} {t.name}: {summarize(v)}"
                               for j, (t, v) in enumerate(zip(op.inputs, ins)))
            raise NumericsError(f"{op.describe()} produced NaN/Inf in output {i} "
                                f"({summarize(o)})\n{inputs}")


def rethrow(op: Operation, e: Exception) -> None:
    if isinstance(e, GraphEngineError) and op.name in str(e):
        raise e
    msg = f"{op.describe()}: {type(e).__name__}: {e}"
    if isinstance(e, GraphEngineError):
        raise type(e)(msg) from e
    raise GraphEngineError(msg) from e


class OpExecutor:
    """Interprets a Program with one kernel per op (``jit="op"``)."""

    def __init__(self, program, get_kernel: Callable[[str], Callable], debug_numerics: bool = False,
                 check_shapes: bool = True) -> None:
        self.program = program
        self.debug_numerics = debug_numerics
        self.check_shapes = check_shapes
        self.steps: list[tuple[Operation, Callable | None]] = []
        for op in program.ops:
            kern = None
            if not OPS[op.type].runtime:
                kern = get_kernel(op.type)
            self.steps.append((op, kern))
        self._pure_late = self._late_plan()

    def _late_plan(self) -> bool:
        """True when the ops after the first update only apply updates whose inputs exist
        before any update runs: then checking their shapes up front is enough to keep a
        failed run from writing anything. Otherwise the run snapshots what it overwrites."""
        late = self.steps[self.program.n_phase1:]
        made = {t for op, _ in late for t in op.outputs}
        return all(OPS[op.type].kind in ("update", "control") and not any(t in made for t in op.inputs)
                   for op, _ in late)

    def run(self, feeds: dict[Tensor, np.ndarray], state: State) -> dict[Tensor, Any]:
        saved: dict[Operation, np.ndarray] = {}
        try:
            return self._run(dict(feeds), state, saved)
        except Exception:
            for var, old in saved.items():  # a failed run leaves the variables as they were
                cur = state.vars.get(var)
                if cur is not None and cur.shape == old.shape:
                    cur[...] = old
                else:
                    state.vars[var] = old
                    state.version += 1
            raise

    def _run(self, vals: dict, state: State, saved: dict) -> dict[Tensor, Any]:
        n1 = self.program.n_phase1
        snapshot = False
        for k, (op, kern) in enumerate(self.steps):
            if k == n1:  # updates start here: make sure a failure cannot leave half of them done
                snapshot = not self._pure_late
                if not snapshot and self.check_shapes:
                    for late, _ in self.steps[k:]:
                        if OPS[late.type].kind == "update":
                            try:
                                self._check(late, [vals[t] for t in late.inputs])
                            except Exception as e:  # noqa: BLE001
                                rethrow(late, e)
            if op.outputs and all(t in vals for t in op.outputs):
                continue  # fed
            ins = [vals[t] for t in op.inputs]
            if snapshot and OPS[op.type].kind == "update":
                for var in op.attrs["targets"]:
                    if var not in saved and var in state.vars:
                        saved[var] = state.vars[var].copy()
            try:
                if kern is None:
                    outs = run_source(op, ins, state)
                else:
                    if self.check_shapes:
                        self._check(op, ins)
                    outs = kern(op.attrs, *ins)
                    if not isinstance(outs, tuple):
                        outs = (outs,)
                if self.debug_numerics:
                    check_numerics(op, ins, outs)
            except Exception as e:  # noqa: BLE001 - re-raised with the op's name and line
                rethrow(op, e)
            if OPS[op.type].kind == "update":
                targets = op.attrs["targets"]
                for var, new in zip(targets, outs):
                    state.write(var, new)
                outs = tuple(state.vars[v] for v in targets[:len(op.outputs)])
            for t, v in zip(op.outputs, outs):
                vals.setdefault(t, v)  # a fed output (one of two, say) keeps the fed value
        return vals

    @staticmethod
    def _check(op: Operation, ins: list) -> None:
        od = OPS[op.type]
        if not op.inputs:
            return
        try:
            specs = od.infer([tuple(np.shape(v)) for v in ins], [t.dtype for t in op.inputs], op.attrs)
        except ShapeError as e:
            shapes = ", ".join(f"{t.name} {shape_str(np.shape(v))}" for t, v in zip(op.inputs, ins))
            raise ShapeError(f"{op.describe()}: {e} [run-time inputs: {shapes}]") from None
        del specs
