"""The GPU backend: ``Session(device="gpu")``.

Variables live on the device (``DeviceState``); each step uploads the feeds, runs one kernel per
op on one stream (cuBLAS matmul, Numba-CUDA for the rest) and downloads only the fetches: the
host waits for the device once, at the end of the step.

``jit`` picks how a step is launched:
  None / "op"   one launch per op (always available)
  "graph"       capture the whole step as a CUDA graph, matmuls on the tiled Numba GEMM
  "segments"    capture the runs of ops between matmuls, cuBLAS matmuls launched between them
"""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from graphengine.compiler import Program
from graphengine.compiler.fuse import Fused, fuse
from graphengine.errors import GraphEngineError
from graphengine.graph import Operation, Tensor
from graphengine.ops.registry import OPS
from graphengine.runtime.executor import OpExecutor, run_source

INSTALL_HINT = 'pip install -e ".[gpu]"  (brings cupy-cuda13x and numba-cuda[cu13])'
JIT_MODES = (None, "op", "graph", "segments")


class CudaUnavailableError(GraphEngineError, RuntimeError):
    """The GPU backend was asked for, but CuPy, Numba-CUDA or a CUDA device is missing."""


def _simulator() -> bool:
    from numba import config
    return bool(config.ENABLE_CUDASIM) or os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"


def cupy_arrays() -> Any:
    """The CuPy array layer on device 0, or a CudaUnavailableError saying what is missing."""
    try:
        import cupy
    except ImportError as e:
        raise CudaUnavailableError(f"device='gpu' needs CuPy, which is not installed ({e}). "
                                   f"Install the GPU extra: {INSTALL_HINT}") from None
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # noqa: BLE001 - CUDARuntimeError without a driver, ImportError of libs
        raise CudaUnavailableError(f"device='gpu': CuPy is installed but no CUDA device is usable "
                                   f"({type(e).__name__}: {e}). Check the NVIDIA driver "
                                   "(`nvidia-smi`) and that the CuPy wheel matches the CUDA "
                                   f"version ({INSTALL_HINT}).") from None
    if n == 0:
        raise CudaUnavailableError("device='gpu': no CUDA device found (cudaGetDeviceCount = 0)")
    try:
        from numba import cuda
        if not cuda.is_available():
            raise CudaUnavailableError("device='gpu': Numba-CUDA cannot use the GPU "
                                       f"(numba.cuda.is_available() is False); {INSTALL_HINT}")
    except ImportError as e:
        raise CudaUnavailableError(f"device='gpu' needs Numba-CUDA ({e}); {INSTALL_HINT}") from None
    from kernels.cuda.device import CupyArrays
    return CupyArrays(0)


def numba_arrays() -> Any:
    if not _simulator():
        from numba import cuda
        if not cuda.is_available():
            raise CudaUnavailableError("Numba-CUDA finds no usable GPU; set NUMBA_ENABLE_CUDASIM=1 "
                                       "before importing numba to run on the CUDA simulator")
    from kernels.cuda.device import NumbaArrays
    return NumbaArrays()


class CudaBackend:
    """Backend for ``device="gpu"``. ``arrays``: "cupy" (default on a GPU), "numba" (default
    under the CUDA simulator; Numba device arrays and the tiled GEMM, no CuPy needed)."""

    name = "cuda"

    def __init__(self, jit: str | None = None, arrays: str | None = None) -> None:
        if jit not in JIT_MODES:
            raise ValueError(f"device='gpu' takes jit=None/'op' (one launch per op), 'graph' "
                             f"(whole step as one CUDA graph) or 'segments' (graphs between "
                             f"cuBLAS matmuls), got {jit!r}")
        kind = arrays or ("numba" if _simulator() else "cupy")
        self.arrays = cupy_arrays() if kind == "cupy" else numba_arrays()
        if jit in ("graph", "segments") and not self.arrays.captures:
            raise CudaUnavailableError(f"jit={jit!r} captures CUDA graphs, which needs CuPy on a "
                                       f"real GPU ({INSTALL_HINT})")
        self.jit = jit
        from kernels.registry import get_kernel, load_backend
        load_backend("cuda")
        self._get = lambda op: get_kernel(op, "cuda")

    def new_state(self) -> Any:
        from .state import DeviceState
        return DeviceState(self.arrays)

    def compile(self, program: Program, debug_numerics: bool) -> Any:
        exe = CudaExecutable(program, self._get, self.arrays, debug_numerics)
        if self.jit in ("graph", "segments") and not debug_numerics:
            from .capture import CapturedExecutable
            return CapturedExecutable(exe, whole_step=self.jit == "graph")
        return exe


class CudaExecutable(OpExecutor):
    """One kernel launch per op, all on the array layer's stream; the host syncs once per step.
    The loop and its update safety are OpExecutor's; the hooks put them on the device."""

    def __init__(self, program: Program, get_kernel: Callable[[str], Callable], arrays: Any,
                 debug_numerics: bool = False) -> None:
        self.program = program
        self.arrays = arrays
        self.debug_numerics = debug_numerics
        self.check_shapes = True
        self.steps: list[tuple[Operation, Callable | None, bool, tuple]] = []
        for op in fuse_maps(program).ops:
            if isinstance(op, Fused):  # one launch computes the root from the group's inputs
                from kernels.cuda.elementwise import fused_kernel
                kern, inputs, op = fused_kernel(op.members, op.inputs), op.inputs, op.root
            else:
                kern = None if OPS[op.type].runtime else get_kernel(op.type)
                inputs = op.inputs
            self.steps.append((op, kern, OPS[op.type].kind == "update", tuple(inputs)))
        self._consts: dict[Operation, Any] = {}
        self._plan_late()

    # -- pieces shared with the captured executable --------------------------------------
    def upload_feeds(self, feeds: dict) -> dict:
        """Host feeds uploaded; device feeds (already adopted) used in place."""
        return {t: self.arrays.upload(v) if isinstance(v, np.ndarray) else v for t, v in feeds.items()}

    def fetch(self, vals: dict, host: bool = True) -> dict:
        """Device values of the fetches -> host NumPy (one wait for the stream, at the end), or
        with ``host=False`` device copies (the step's buffers are reused or are variables)."""
        out = dict(vals)
        for t in self.program.fetches:
            r = self.program.resolve(t)
            v = vals[r]
            if host:
                out[r] = self.host(v)
            elif self.arrays.is_device(v):
                out[r] = self.arrays.copy(v)
            else:
                out[r] = self.arrays.upload(np.asarray(v))
        return out

    def run(self, feeds: dict[Tensor, Any], state: Any, host: bool = True) -> dict:
        """One step. ``feeds``: NumPy or device arrays. ``host=False``: fetches stay on the device."""
        from kernels.cuda import device
        feeds = self.arrays.adopt_feeds(feeds)
        with device.using(self.arrays):
            vals = self.run_steps(self.upload_feeds(feeds), state)
            out = self.fetch(vals, host)
        if not host:
            self.arrays.hand_over()
        return out

    # -- the array layer's hooks of OpExecutor's loop ---------------------------------------
    def host(self, v: Any) -> Any:
        if isinstance(v, np.ndarray) or not self.arrays.is_device(v):
            return np.asarray(v)
        return self.arrays.download(v)

    def snapshot(self, a: Any) -> Any:
        return self.arrays.copy(a)

    def restore(self, state: Any, var: Operation, old: Any) -> None:
        self.arrays.copy_into(state.vars[var], old)

    def source(self, op: Operation, ins: list, state: Any) -> tuple:
        t = op.type
        if t == "variable":
            return (state.read(op),)
        if t == "const":
            buf = self._consts.get(op)
            if buf is None:
                buf = self._consts[op] = self.arrays.upload(op.attrs["value"])
            return (buf,)
        # random streams are the session's NumPy generators, so a seeded graph draws the same
        # numbers on every device; the samples are uploaded (initializers, dropout masks)
        return tuple(self.arrays.upload(v) for v in run_source(op, ins, state))


def has_host_inputs(steps: list) -> bool:
    """Whether a step draws host random numbers (``OpDef.random``) or runs a host-side op
    (``OpDef.host_only``: e.g. an output shape known only at run time), which a CUDA graph
    would freeze."""
    return any(OPS[step[0].type].random or OPS[step[0].type].host_only for step in steps)


def _renders(op: Operation) -> bool:
    """A map op the GPU's fused kernel can take: an elementwise template (casts and integer math
    keep their own kernels, whose stores round each result to its dtype), no control inputs."""
    from kernels.cuda.elementwise import ELEMENTWISE
    return (op.type in ELEMENTWISE and op.type != "cast" and not op.control_inputs
            and op.outputs[0].dtype.is_floating)


def fuse_maps(program: Program) -> Program:
    """The compiler's fuse pass, restricted to what one map kernel runs: elementwise chains whose
    intermediates are read inside the chain alone (the bias add folds into its activation, a
    loss's arithmetic into one launch; relu's gradient reads the pre-activation, so training
    graphs keep that add materialized). No broadcast reads, no reductions."""
    return fuse(program, member=_renders, sinks=False, single_output=True)
