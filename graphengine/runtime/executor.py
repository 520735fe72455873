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
    """The op-by-op executor loop, written once: ``jit="op"`` on the CPU, the reference backend
    and (through the hooks below) the GPU backend run a Program with one kernel call per op.

    Update safety: a whole step that fails leaves the variables as they were. When every op
    from the first update on only applies updates whose inputs exist before the first one runs,
    the updates' shapes are checked before any of them runs; otherwise each update's targets
    are snapshotted before it overwrites them and put back when a later op fails.

    Array layers other than NumPy subclass it and override the hooks: ``source`` (the ops the
    runtime computes, ``OpDef.runtime``), ``snapshot``/``restore`` (copy a variable's array,
    put it back) and ``host`` (an array as NumPy, for ``debug_numerics``). ``steps`` holds
    ``(op, kernel or None, is an update, the inputs the kernel reads)``; a kernel that reads
    other inputs than its op's (a fused one) is not shape-checked.
    """

    def __init__(self, program, get_kernel: Callable[[str], Callable], debug_numerics: bool = False,
                 check_shapes: bool = True) -> None:
        self.program = program
        self.debug_numerics = debug_numerics
        self.check_shapes = check_shapes
        self.steps: list[tuple[Operation, Callable | None, bool, tuple]] = [
            (op, None if OPS[op.type].runtime else get_kernel(op.type), OPS[op.type].kind == "update",
             op.inputs) for op in program.ops]
        self._plan_late()

    def _plan_late(self) -> None:
        """Where the updates start in ``steps`` (``_late``), and whether the ops from there on
        only apply updates whose inputs exist before any update runs (``_pure_late``): then
        checking their shapes up front is enough to keep a failed run from writing anything.
        Otherwise the run snapshots what it overwrites."""
        late_ops = set(self.program.ops[self.program.n_phase1:])
        self._late = next((i for i, st in enumerate(self.steps) if st[0] in late_ops), len(self.steps))
        late = self.steps[self._late:]
        made = {t for st in late for t in st[0].outputs}
        self._pure_late = all(OPS[st[0].type].kind in ("update", "control")
                              and not any(t in made for t in st[3]) for st in late)

    # -- the array layer's hooks (NumPy here) ----------------------------------------------
    def source(self, op: Operation, ins: list, state: Any) -> tuple:
        return run_source(op, ins, state)

    def snapshot(self, a: Any) -> Any:
        return a.copy()

    def restore(self, state: Any, var: Operation, old: Any) -> None:
        cur = state.vars.get(var)
        if cur is not None and cur.shape == old.shape:
            cur[...] = old
        else:
            state.vars[var] = old
            state.version += 1

    def host(self, v: Any) -> Any:
        return v

    # -- the loop --------------------------------------------------------------------------
    def run(self, feeds: dict[Tensor, Any], state: State) -> dict[Tensor, Any]:
        return self.run_steps(dict(feeds), state)

    def run_steps(self, vals: dict, state: Any, steps: list | None = None) -> dict:
        """Run ``steps`` (default: the whole step, with update safety; a part of it, such as a
        segment the GPU backend captures, runs without)."""
        if steps is not None:
            return self._run_steps(vals, state, steps, None)
        saved: dict = {}
        try:
            return self._run_steps(vals, state, self.steps, saved)
        except Exception:
            for var, old in saved.items():  # a failed run leaves the variables as they were
                self.restore(state, var, old)
            raise

    def _run_steps(self, vals: dict, state: Any, steps: list, saved: dict | None) -> dict:
        for k, (op, kern, update, inputs) in enumerate(steps):
            if saved is not None and k == self._late and self._pure_late and self.check_shapes:
                # updates start here: make sure a failure cannot leave half of them done
                for late_op, _, late_update, late_inputs in steps[k:]:
                    if late_update and late_inputs is late_op.inputs:
                        try:
                            self._check(late_op, [vals[t] for t in late_inputs])
                        except Exception as e:  # noqa: BLE001
                            rethrow(late_op, e)
            if op.outputs and all(t in vals for t in op.outputs):
                continue  # fed
            ins = [vals[t] for t in inputs]
            if saved is not None and update and not self._pure_late:
                for var in op.attrs["targets"]:
                    if var not in saved and var in state.vars:
                        saved[var] = self.snapshot(state.vars[var])
            try:
                if kern is None:
                    outs = self.source(op, ins, state)
                else:
                    if self.check_shapes and inputs is op.inputs:
                        self._check(op, ins)
                    outs = kern(op.attrs, *ins)
                    if not isinstance(outs, tuple):
                        outs = (outs,)
                if self.debug_numerics:  # on a device: a host sync per op (debug only)
                    check_numerics(op, [self.host(v) for v in ins], tuple(self.host(o) for o in outs))
            except Exception as e:  # noqa: BLE001 - re-raised with the op's name and line
                rethrow(op, e)
            if update:
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
