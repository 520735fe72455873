"""The thin array layer under the CUDA kernels: allocate, upload, download, launch, GEMM.

Two implementations share one interface, so every kernel and the backend are written once:

* ``CupyArrays``: CuPy arrays (memory pool, cuBLAS matmul, stream capture); Numba-CUDA kernels
  get them through ``__cuda_array_interface__`` and launch on CuPy's stream (wrapped with
  ``cuda.external_stream``), so the whole step is ordered on one stream with no host sync.
* ``NumbaArrays``: Numba device arrays and the tiled GEMM kernel. It needs nothing but Numba, so
  it runs under the CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``), which is how CI tests the GPU
  path end to end. Under the simulator its stream also emulates CUDA-graph capture
  (``SimStream``): launches are recorded instead of run, a graph replays them, and what real
  capture forbids (host syncs, pageable host copies, cuBLAS) raises. That is how CI tests the
  captured-step modes (``jit="graph"`` / ``"segments"``) without a GPU.

Kernels find the active layer with ``current()``; the backend sets it around each step.
"""
from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
from numba import config as _nb_config
from numba import cuda

SIMULATOR = bool(_nb_config.ENABLE_CUDASIM)
# The simulator runs every thread as a Python thread: small blocks keep tests fast. Real devices
# get the usual 256-thread blocks. Both are compile-time constants of the kernels.
TPB = 8 if SIMULATOR else 256
TILE = 4 if SIMULATOR else 16          # GEMM block edge (TILE*TILE threads per block)
GEMM_RB = 2 if SIMULATOR else 4        # GEMM outputs per thread along each axis (register block)
MAX_BLOCKS = 64 if SIMULATOR else 8192  # kernels use grid-stride loops beyond this


def host_contiguous(x: Any, dtype: Any = None) -> np.ndarray:
    """C-contiguous host array, keeping 0-d arrays 0-d (np.ascontiguousarray makes them 1-d)."""
    x = np.asarray(x, dtype=dtype)
    return x if x.flags.c_contiguous else np.array(x, order="C")


def blocks_for(n: int, tpb: int = TPB) -> int:
    return max(1, min(MAX_BLOCKS, (int(n) + tpb - 1) // tpb))


class StreamCaptureError(RuntimeError):
    """An operation that CUDA stream capture does not allow was issued while capturing."""


class SimGraph:
    """A captured step under the simulator: the recorded launches and copies, replayed in order."""

    def __init__(self, items: list) -> None:
        self.items = items

    def launch(self, stream: Any = None) -> None:
        for item in self.items:
            item()


class SimStream:
    """CUDA-graph capture semantics for the simulator (the parts graphengine relies on).

    Between ``begin_capture`` and ``end_capture`` device work is recorded, not run, with its
    arguments bound (buffers by reference, scalars by value), as a CUDA graph binds them; host
    work runs once, at capture time, and is absent from the replays; what real capture rejects
    raises ``StreamCaptureError``. A captured step that is right here is right on a GPU for
    everything but the driver itself.
    """

    def __init__(self) -> None:
        self.recording: list | None = None
        self.ptr = 0

    def begin_capture(self, mode: Any = None) -> None:
        if self.recording is not None:
            raise StreamCaptureError("the stream is already capturing")
        self.recording = []

    def end_capture(self) -> SimGraph:
        if self.recording is None:
            raise StreamCaptureError("end_capture without begin_capture")
        items, self.recording = self.recording, None
        return SimGraph(items)

    def is_capturing(self) -> bool:
        return self.recording is not None

    def forbid(self, what: str) -> None:
        if self.recording is not None:
            self.recording = None  # a real capture is invalidated by the illegal call
            raise StreamCaptureError(f"{what} while the stream is capturing a CUDA graph")

    def synchronize(self) -> None:
        self.forbid("stream synchronization")
        cuda.synchronize()


class NumbaArrays:
    """Numba device arrays on the default stream; matmul by the tiled Numba-CUDA GEMM.
    Under the simulator, ``stream`` emulates CUDA-graph capture (see ``SimStream``)."""

    name = "numba"
    captures = SIMULATOR

    def __init__(self) -> None:
        self.stream = SimStream()
        self.use_own_gemm = False   # as CupyArrays: inside a whole-step capture
        self.held: list | None = None  # buffers allocated while capturing (see capture.py)

    def empty(self, shape: tuple, dtype: Any) -> Any:
        out = cuda.device_array(tuple(shape), dtype=np.dtype(dtype))
        if self.held is not None:
            self.held.append(out)
        return out

    def upload(self, host: np.ndarray) -> Any:
        if host.dtype == object:  # tf.string values (bytes) stay on the host
            return host
        self.stream.forbid("a host-to-device upload from pageable memory")
        return cuda.to_device(host_contiguous(host))

    def download(self, dev: Any) -> np.ndarray:
        self.stream.forbid("a device-to-host download (a host sync)")
        return np.asarray(dev.copy_to_host())

    def copy_into(self, dst: Any, src: Any) -> None:
        if isinstance(src, np.ndarray):
            self.stream.forbid("a host-to-device copy from pageable memory")
            dst.copy_to_device(host_contiguous(src, dst.dtype))
        elif self.stream.recording is not None:
            self.stream.recording.append(lambda: dst.copy_to_device(src))
        else:
            dst.copy_to_device(src)

    def is_device(self, x: Any) -> bool:
        return cuda.is_cuda_array(x) if not SIMULATOR else hasattr(x, "copy_to_host")

    def copy(self, x: Any) -> Any:
        """A new device array with ``x``'s contents (a fetch handed to the caller)."""
        out = self.empty(tuple(x.shape), x.dtype)
        self.copy_into(out, x)
        return out

    def adopt_feeds(self, feeds: dict) -> dict:
        """Device feeds as this layer's arrays (zero-copy); everything runs on the default
        stream here, so the caller's earlier work is already ordered before the step."""
        if SIMULATOR:
            return feeds
        return {t: v if isinstance(v, np.ndarray) else cuda.as_cuda_array(v) for t, v in feeds.items()}

    def hand_over(self) -> None:
        """Make device fetches safe to use on the caller's stream (the default stream: nothing to do)."""

    def launch(self, kernel: Any, blocks: Any, threads: Any, *args: Any) -> None:
        for a in args:  # Numba would copy a host array in and back out, synchronously, per launch
            if isinstance(a, np.ndarray) and a.ndim:
                raise TypeError(f"host array {a.dtype}{a.shape} passed to CUDA kernel {kernel}: "
                                "kernels take device arrays and scalars only")
        if self.stream.recording is not None:
            self.stream.recording.append(lambda: kernel[blocks, threads](*args))
        else:
            kernel[blocks, threads](*args)

    def matmul(self, a: Any, b: Any, ta: bool, tb: bool, out: Any) -> Any:
        if self.stream.recording is not None and not self.use_own_gemm:
            # as CuPy 14: its cuBLAS calls cannot be captured
            self.stream.forbid("a cuBLAS matmul (NotImplementedError in CuPy)")
        from .matmul import gemm_numba
        return gemm_numba(self, a, b, ta, tb, out)

    def synchronize(self) -> None:
        self.stream.synchronize()

    @contextlib.contextmanager
    def activate(self) -> Iterator[None]:
        yield


class CupyArrays:
    """CuPy arrays on one non-blocking stream; cuBLAS matmul; Numba kernels on the same stream."""

    name = "cupy"
    captures = True

    def __init__(self, device_id: int = 0) -> None:
        import cupy  # imported here only: the CPU path never needs CuPy
        self.cp = cupy
        self.device = cupy.cuda.Device(device_id)
        with self.device:
            self.stream = cupy.cuda.Stream(non_blocking=True)
        self.nb_stream = cuda.external_stream(self.stream.ptr)
        # Small grids are normal here (bias vectors, short rows): skip Numba's per-launch
        # occupancy check and warning, host time spent on every launch.
        _nb_config.CUDA_LOW_OCCUPANCY_WARNINGS = 0
        self.use_own_gemm = False  # set inside a captured step: cuBLAS cannot be captured
        # Buffers allocated while capturing. A captured graph keeps writing to them on every
        # replay, so the recording owns them: freed, CuPy's pool would hand them to other arrays.
        self.held: list | None = None

    def empty(self, shape: tuple, dtype: Any) -> Any:
        out = self.cp.empty(tuple(shape), dtype=np.dtype(dtype))
        if self.held is not None:
            self.held.append(out)
        return out

    def upload(self, host: np.ndarray) -> Any:
        if host.dtype == object:  # tf.string values (bytes) stay on the host
            return host
        out = self.cp.empty(host.shape, dtype=host.dtype)
        out.set(host_contiguous(host), stream=self.stream)
        return out

    def download(self, dev: Any) -> np.ndarray:
        return dev.get(stream=self.stream)

    def copy_into(self, dst: Any, src: Any) -> None:
        if isinstance(src, np.ndarray):
            dst.set(host_contiguous(src, dst.dtype), stream=self.stream)
        else:
            with self.stream:
                self.cp.copyto(dst, self.cp.asarray(src).reshape(dst.shape))

    def is_device(self, x: Any) -> bool:
        return hasattr(x, "__cuda_array_interface__")

    def copy(self, x: Any) -> Any:
        """A new device array with ``x``'s contents (a fetch handed to the caller)."""
        with self.stream:
            return x.copy()

    def adopt_feeds(self, feeds: dict) -> dict:
        """Device feeds (CuPy arrays, or anything with ``__cuda_array_interface__`` or DLPack,
        e.g. PyTorch CUDA tensors) as CuPy arrays without copying; the step's stream waits
        (on the device, not the host) for the work queued so far on the caller's current stream,
        which produced them. Call outside ``activate()``."""
        dev = [t for t, v in feeds.items() if not isinstance(v, np.ndarray)]
        if not dev:
            return feeds
        cp = self.cp
        self.stream.wait_event(cp.cuda.get_current_stream().record())
        out = dict(feeds)
        for t in dev:
            v = feeds[t]
            out[t] = v if isinstance(v, cp.ndarray) else (
                cp.asarray(v) if hasattr(v, "__cuda_array_interface__") else cp.from_dlpack(v))
        return out

    def hand_over(self) -> None:
        """Device fetches were written on this layer's stream: make the caller's current stream
        wait for them (on the device) before it uses them. Call outside ``activate()``."""
        self.cp.cuda.get_current_stream().wait_event(self.stream.record())

    def launch(self, kernel: Any, blocks: Any, threads: Any, *args: Any) -> None:
        # sync=False: everything runs on self.stream, so Numba need not wait for the producer's
        # stream (the CUDA Array Interface default would synchronize the host on every launch).
        conv = [cuda.as_cuda_array(a, sync=False) if hasattr(a, "__cuda_array_interface__") else a
                for a in args]
        kernel[blocks, threads, self.nb_stream](*conv)

    def matmul(self, a: Any, b: Any, ta: bool, tb: bool, out: Any) -> Any:
        if self.use_own_gemm:
            from .matmul import gemm_numba
            return gemm_numba(self, a, b, ta, tb, out)
        with self.stream:
            return self.cp.matmul(a.T if ta else a, b.T if tb else b, out=out)

    def synchronize(self) -> None:
        self.stream.synchronize()

    @contextlib.contextmanager
    def activate(self) -> Iterator[None]:
        with self.device, self.stream:
            yield


_local = threading.local()


def current() -> Any:
    arrays = getattr(_local, "arrays", None)
    if arrays is None:
        raise RuntimeError("no CUDA array layer is active: CUDA kernels run inside a "
                           "CudaBackend step (or `with device.using(arrays):` in tests)")
    return arrays


@contextlib.contextmanager
def using(arrays: Any) -> Iterator[Any]:
    prev = getattr(_local, "arrays", None)
    _local.arrays = arrays
    try:
        with arrays.activate():
            yield arrays
    finally:
        _local.arrays = prev
