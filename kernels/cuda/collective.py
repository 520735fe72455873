"""Collective ops on the GPU backend. With CuPy arrays, the fused allreduce runs over NCCL on
the step's stream (``graphengine.distributed.NcclAllreducer``: one fusion buffer, one
``ncclAllReduce``, views out), so gradients stay on the device. Elsewhere (the CUDA simulator,
a CuPy without NCCL) and for allgather/broadcast, the values go through the host and mpi4py,
as the NumPy reference does."""
from __future__ import annotations

from typing import Any

import numpy as np

from graphengine.ops.registry import OPS
from kernels.registry import register_kernel

from . import device

_reducers: dict[int, Any] = {}  # per array layer: its NCCL communicator lives as long as it


def _nccl_reducer(arrays: Any) -> Any:
    if getattr(arrays, "name", "") != "cupy":
        return None
    r = _reducers.get(id(arrays))
    if r is None:
        try:
            from cupy.cuda import nccl  # noqa: F401
        except ImportError:
            return None
        from graphengine.distributed.nccl import NcclAllreducer
        r = _reducers[id(arrays)] = NcclAllreducer(xp=arrays.cp, stream=arrays.stream)
    return r


def _through_host(op: str, attrs: dict, *xs: Any) -> tuple:
    arrays = device.current()
    outs = OPS[op].ref(attrs, *[arrays.download(x) for x in xs])
    outs = outs if isinstance(outs, tuple) else (outs,)
    return tuple(arrays.upload(np.array(o, order="C")) for o in outs)  # keeps 0-d as 0-d


@register_kernel("allreduce_fused", "cuda")
def allreduce_fused_cuda(attrs: dict, handles: Any, *xs: Any) -> tuple:
    r = _nccl_reducer(device.current())
    if r is None:
        return _through_host("allreduce_fused", attrs, handles, *xs)
    outs = r.allreduce(xs, attrs["average"])
    return (*outs, r.buffer)


for _op in ("allgather", "broadcast"):
    register_kernel(_op, "cuda")(lambda attrs, *xs, _op=_op: _through_host(_op, attrs, *xs))
