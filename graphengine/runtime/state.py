"""Per-session state: variable buffers and random streams."""
from __future__ import annotations

import numpy as np

from ..errors import FailedPreconditionError
from ..graph import Operation


class State:
    def __init__(self) -> None:
        self.vars: dict[Operation, np.ndarray] = {}
        self.rngs: dict[Operation, np.random.Generator] = {}
        self.version = 0  # bumped when a variable buffer is replaced (not when written in place)

    def read(self, op: Operation) -> np.ndarray:
        try:
            return self.vars[op]
        except KeyError:
            raise FailedPreconditionError(
                f"Attempting to use uninitialized variable '{op.name}' (built at {op.site or '?'}); "
                "run ge.global_variables_initializer() (or the variable's initializer) first"
            ) from None

    def write(self, op: Operation, value: np.ndarray) -> None:
        cur = self.vars.get(op)
        if cur is value:
            return
        if cur is not None and cur.shape == value.shape and cur.dtype == value.dtype:
            np.copyto(cur, value)  # keep the buffer: compiled steps hold references to it
        else:
            self.vars[op] = np.array(value, dtype=op.attrs["dtype"].np, order="C", copy=True)
            self.version += 1

    def rng(self, op: Operation) -> np.random.Generator:
        g = self.rngs.get(op)
        if g is None:
            g = self.rngs[op] = np.random.default_rng(op.attrs.get("seed"))
        return g
