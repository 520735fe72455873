"""A faster and race-free Numba CUDA simulator for our tests: import after the simulator is
switched on (NUMBA_ENABLE_CUDASIM=1 before Numba loads), before any kernel launch.

The simulator runs a block's threads as Python threads and polls them from the launching thread.
With the default 5 ms GIL switch interval each poll can hold the GIL for 5 ms while the threads
wait; a 50 us interval makes the simulator suite ~4x faster (one 3-step MLP training: 4.6 s ->
0.64 s) and interleaves the threads far more finely, which shakes out missing syncthreads in our
kernels. It also exposes a race in the simulator itself: its ``cuda.shared.array`` looks the
block's array up, then allocates, unlocked, so two threads of a block can get two different
"shared" arrays. The replacement below is the same lookup under a lock.
"""
from __future__ import annotations

import sys
import threading
import traceback

import numpy as np
from numba import config

if not config.ENABLE_CUDASIM:
    raise RuntimeError("simpatch patches the CUDA simulator: set NUMBA_ENABLE_CUDASIM=1 before numba loads")

from numba.cuda.simulator import kernelapi  # noqa: E402

_lock = threading.Lock()
_original = kernelapi.FakeCUDAShared.array


def _locked_shared_array(self, shape, dtype):
    if shape == 0:  # dynamic shared memory: one buffer, no lookup
        return _original(self, shape, dtype)
    if isinstance(dtype, kernelapi.types.Type):
        dtype = kernelapi.numpy_support.as_dtype(dtype)
    caller = traceback.extract_stack(sys._getframe(1), limit=1)[0][0:2]  # the kernel's line
    with _lock:
        res = self._allocations.get(caller)
        if res is None:
            res = self._allocations[caller] = np.empty(shape, dtype)
    return res


kernelapi.FakeCUDAShared.array = _locked_shared_array
sys.setswitchinterval(5e-5)
