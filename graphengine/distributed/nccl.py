"""Fused allreduce of device-resident gradients over NCCL (CuPy's ``cupy.cuda.nccl``): what the
CUDA backend's ``allreduce_fused`` kernel uses when the arrays live on GPUs, so gradients never
travel through the host. The packing, averaging and unpacking are plain array-module code
(``xp`` = CuPy, or NumPy in tests without a GPU); only ``_nccl_sum`` needs a device.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import _mpi


class NcclAllreducer:
    """One fusion buffer, one NCCL allreduce per call, views of the buffer out.

    Args:
        xp: the array module of the tensors (default: CuPy).
        reduce_sum: ``f(flat)`` that sums the flat buffer over all ranks in place (default:
            ``ncclAllReduce`` on ``stream``, the communicator built on first use from a unique
            id that rank 0 sends to the others over MPI).
        size: the number of ranks (default: the MPI communicator's).
        stream: the CUDA stream the gradients were computed on (default: CuPy's current one).

    >>> import numpy as np
    >>> r = NcclAllreducer(xp=np, reduce_sum=lambda buf: buf.__imul__(2), size=2)  # 2 equal ranks
    >>> [a.tolist() for a in r.allreduce([np.ones((2, 2)), np.arange(3.0)])]
    [[[1.0, 1.0], [1.0, 1.0]], [0.0, 1.0, 2.0]]
    """

    def __init__(self, xp: Any = None, reduce_sum: Callable[[Any], Any] | None = None,
                 size: int | None = None, stream: Any = None) -> None:
        if xp is None:
            import cupy as xp
        self.xp = xp
        self.size = _mpi.comm().Get_size() if size is None else int(size)
        self._reduce = reduce_sum or self._nccl_sum
        self._stream = stream
        self._comm: Any = None
        self.buffer: Any = None  # the last call's fusion buffer

    @staticmethod
    def layout(shapes: Sequence[tuple]) -> tuple[list[int], int]:
        """Offsets of each tensor in the fusion buffer (back to back, in order) and its length."""
        from ..ops.collective import fusion_offsets
        sizes = [int(np.prod(s, dtype=np.int64)) for s in shapes]
        return fusion_offsets(sizes), sum(sizes)

    def pack(self, arrays: Sequence[Any], scale: float = 1.0) -> Any:
        """One flat buffer holding ``scale * a`` for every array (scaling here saves a pass)."""
        dtypes = {np.dtype(a.dtype) for a in arrays}
        if len(dtypes) != 1:
            raise TypeError(f"one fusion buffer holds one dtype, got {sorted(map(str, dtypes))}")
        dt = dtypes.pop()
        offs, total = self.layout([tuple(a.shape) for a in arrays])
        buf = self.xp.empty(total, dt)
        for o, a in zip(offs, arrays):
            n = int(np.prod(a.shape, dtype=np.int64))
            self.xp.multiply(a.reshape(-1), dt.type(scale), out=buf[o:o + n])
        return buf

    def unpack(self, buf: Any, shapes: Sequence[tuple]) -> list[Any]:
        """Views of ``buf`` with the original shapes (no copy)."""
        offs, _ = self.layout(shapes)
        return [buf[o:o + int(np.prod(s, dtype=np.int64))].reshape(s) for o, s in zip(offs, shapes)]

    def allreduce(self, arrays: Sequence[Any], average: bool = True) -> list[Any]:
        shapes = [tuple(a.shape) for a in arrays]
        buf = self.pack(arrays, 1.0 / self.size if average else 1.0)
        self._reduce(buf)
        self.buffer = buf
        return self.unpack(buf, shapes)

    # -- the device part ----------------------------------------------------------------------
    def _communicator(self) -> Any:
        if self._comm is None:
            from cupy.cuda import nccl
            c = _mpi.comm()
            uid = c.bcast(nccl.get_unique_id() if c.Get_rank() == 0 else None, root=0)
            self._comm = nccl.NcclCommunicator(c.Get_size(), uid, c.Get_rank())
        return self._comm

    def _nccl_sum(self, buf: Any) -> None:
        from cupy.cuda import nccl
        kinds = {np.dtype(np.float32): nccl.NCCL_FLOAT32, np.dtype(np.float64): nccl.NCCL_FLOAT64,
                 np.dtype(np.float16): nccl.NCCL_FLOAT16, np.dtype(np.int32): nccl.NCCL_INT32,
                 np.dtype(np.int64): nccl.NCCL_INT64}
        stream = self._stream if self._stream is not None else self.xp.cuda.get_current_stream()
        self._communicator().allReduce(buf.data.ptr, buf.data.ptr, buf.size, kinds[np.dtype(buf.dtype)],
                                       nccl.NCCL_SUM, stream.ptr)
