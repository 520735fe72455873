"""DeviceState: variable values live on the GPU; ``read`` gives device arrays, ``write`` takes
host or device arrays and copies into the variable's own buffer (kept across steps, so a
captured CUDA graph that points at it stays valid)."""
from __future__ import annotations

from typing import Any

import numpy as np

from graphengine.graph import Operation
from graphengine.runtime.state import State
from kernels.cuda import device


class DeviceState(State):
    def __init__(self, arrays: Any) -> None:
        super().__init__()
        self.arrays = arrays

    def write(self, op: Operation, value: Any) -> None:
        cur = self.vars.get(op)
        if cur is value:
            return
        dt = op.attrs["dtype"].np
        if not self.arrays.is_device(value):
            value = np.asarray(value, dtype=dt)
        shape = tuple(value.shape)
        with device.using(self.arrays):
            if cur is not None and tuple(cur.shape) == shape and np.dtype(cur.dtype) == dt:
                self.arrays.copy_into(cur, value)
                return
            buf = self.arrays.empty(shape, dt)
            self.arrays.copy_into(buf, value)  # never adopt the caller's buffer (constants, feeds)
        self.vars[op] = buf
        self.version += 1

    def host_value(self, op: Operation) -> np.ndarray:
        """A host copy of a variable (what ``Session.get_value`` should return)."""
        with device.using(self.arrays):
            return self.arrays.download(self.read(op))
