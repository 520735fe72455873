"""Collective ops across MPI ranks (``graphengine.distributed`` builds them): a fused allreduce,
allgather and broadcast. The references call mpi4py (imported only when one runs).

``allreduce_fused`` is Horovod's tensor fusion as one op: its inputs (after a small int64 array
of MPI handles, see ``graphengine.distributed``) are packed into one flat buffer, reduced by ONE
allreduce, and its outputs are the reduced tensors; the buffer is its last output, so the
compiled CPU step gets it from the pool. Collectives are ``stateful`` (never merged or folded:
every rank must run each one) and not differentiable.
"""
from __future__ import annotations

import numpy as np

from ..errors import DTypeError
from .registry import defop, same_dtype


def fusion_offsets(sizes: list[int]) -> list[int]:
    """Start of each tensor in the fused buffer (tensors back to back, in input order)."""
    out, off = [], 0
    for n in sizes:
        out.append(off)
        off += int(n)
    return out


def _allreduce_infer(s, d, a):
    if d[0].np != np.int64 or s[0] != (HANDLES_LEN,):
        raise DTypeError(f"allreduce_fused: input 0 must be the int64 MPI handle array of length "
                         f"{HANDLES_LEN}, got {d[0].name} {s[0]}")
    if len(s) < 2:
        raise DTypeError("allreduce_fused needs at least one tensor to reduce")
    dt = same_dtype(list(d[1:]), "allreduce_fused (one fused buffer per dtype)")
    if not (dt.is_floating or dt.is_integer):
        raise DTypeError(f"allreduce_fused: cannot reduce {dt.name} tensors")
    known = all(x is not None and None not in x for x in s[1:])
    total = int(sum(int(np.prod(x)) for x in s[1:])) if known else None
    return [(x, dt) for x in s[1:]] + [((total,), dt)]


def _allreduce_ref(a, handles, *xs):
    from ..distributed._mpi import comm, mpi
    MPI, c = mpi(), comm()
    dt = np.result_type(*xs)
    buf = np.empty(sum(x.size for x in xs), dt)
    scale = 1.0 / c.Get_size() if a["average"] else 1.0
    for off, x in zip(fusion_offsets([x.size for x in xs]), xs):
        buf[off:off + x.size] = np.ravel(x) * dt.type(scale) if a["average"] else np.ravel(x)
    c.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
    outs = tuple(buf[off:off + x.size].reshape(np.shape(x)).copy()
                 for off, x in zip(fusion_offsets([x.size for x in xs]), xs))
    return outs + (buf,)


# handles: [communicator, datatype, reduction op, MPI_IN_PLACE, communicator size]
HANDLES_LEN = 5
defop("allreduce_fused", "movement", _allreduce_infer, ref=_allreduce_ref, stateful=True,
      differentiable=False, num_outputs=-1,  # -1: as many as inputs (+ the buffer)
      doc="sum (or mean, attr average) of each input over every rank, through one fused buffer")


def _allgather_infer(s, d, a):
    x = s[0]
    if x is not None and len(x) == 0:
        raise DTypeError("allgather: cannot gather a scalar; reshape it to (1,) first")
    return [(None if x is None else (None,) + tuple(x[1:]), d[0])]


def _allgather_ref(a, x):
    from ..distributed._mpi import comm
    c = comm()
    x = np.ascontiguousarray(x)
    rows = c.allgather(int(x.shape[0]))
    out = np.empty((sum(rows),) + x.shape[1:], x.dtype)
    per_row = int(np.prod(x.shape[1:], dtype=np.int64))
    c.Allgatherv(x, [out, [r * per_row for r in rows]])
    return out


# host: the values go through the host (allgather's output size is known only at run time)
defop("allgather", "movement", _allgather_infer, ref=_allgather_ref, stateful=True, host_only=True,
      differentiable=False, doc="every rank's tensor concatenated along axis 0, in rank order")


def _broadcast_ref(a, *xs):
    from ..distributed._mpi import comm
    c = comm()
    outs = []
    for x in xs:
        buf = np.array(x, copy=True, order="C")
        c.Bcast(buf, root=a["root"])
        outs.append(buf)
    return tuple(outs)


defop("broadcast", "movement", lambda s, d, a: list(zip(s, d)), ref=_broadcast_ref, stateful=True,
      differentiable=False, host_only=True, num_outputs=-1,
      doc="rank `root`'s values of every input, on every rank")
