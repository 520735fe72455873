"""CPU kernels and step code of the collective ops (``graphengine.distributed``).

The fused allreduce calls ``MPI_Allreduce`` from Numba code, declared by its symbol name (not a
ctypes pointer, which Numba cannot cache), so a distributed step is one native function that
stays in Numba's disk cache: pack every gradient into one flat buffer (scaled by 1/size when
averaging), ONE in-place allreduce, and the outputs are views of that buffer that the fused
updates read. Importing this module imports neither mpi4py nor an MPI library: the kernels load
it (``kernels.cpu.mpi_lib``) when they first run, and the generated step imports it.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import types

from graphengine.ops.collective import fusion_offsets
from graphengine.ops.facts import alias_chain
from graphengine.ops.registry import OPS

from ..registry import register_kernel, register_step_emitter

_NJ = dict(cache=True, nogil=True, error_model="numpy")

# int MPI_Allreduce(const void *send, void *recv, int count, MPI_Datatype, MPI_Op, MPI_Comm).
# The handles travel as 64-bit integers: MPICH's are ints, Open MPI's pointers; on the 64-bit
# ABIs (x86-64, AArch64, Win64) an int parameter is the low half of its register or slot.
_MPI_Allreduce = types.ExternalFunction(
    "MPI_Allreduce", types.int32(types.intp, types.voidptr, types.int32, types.intp, types.intp, types.intp))
_CHUNK = 1 << 30  # elements per call: MPI counts are C ints


@numba.njit(**_NJ)
def allreduce_inplace(h, buf):
    """Sum ``buf`` over every rank in place; ``h`` = [comm, datatype, op, MPI_IN_PLACE, size].
    Import ``kernels.cpu.mpi_lib`` before the first call (MPI_Allreduce must resolve)."""
    start = 0
    while True:
        count = min(buf.size - start, _CHUNK)
        if _MPI_Allreduce(h[3], buf[start:].ctypes.data, count, h[1], h[2], h[0]) != 0:
            raise RuntimeError("MPI_Allreduce failed")
        start += count
        if start >= buf.size:
            break


@numba.njit(**_NJ)
def pack_scaled(buf, off, x, s):
    for i in range(x.size):
        buf[off + i] = x[i] * s


@register_kernel("allreduce_fused", "cpu")
def allreduce_fused_cpu(attrs, h, *xs):
    from . import mpi_lib  # noqa: F401  (MPI's symbols for the Numba code)
    dt = xs[0].dtype
    buf = np.empty(sum(x.size for x in xs), dt)
    s = dt.type(1.0 / h[4]) if attrs["average"] else dt.type(1)
    offs = fusion_offsets([x.size for x in xs])
    for off, x in zip(offs, xs):
        pack_scaled(buf, off, np.ascontiguousarray(x).reshape(-1), s)
    allreduce_inplace(h, buf)
    return tuple(buf[o:o + x.size].reshape(x.shape) for o, x in zip(offs, xs)) + (buf,)


# allgather and broadcast move arrays whose sizes other ranks decide, once per epoch or at
# start-up: mpi4py on the host, as the reference does
for _op in ("allgather", "broadcast"):
    register_kernel(_op, "cpu")(OPS[_op].ref)


def _fetched(gen, t) -> bool:
    """Whether ``t`` is fetched, itself or through a reshaping/identity view of it."""
    def source(f):
        return f.op.inputs[0] if OPS[f.op.type].view and f.op.inputs else None
    return any(u is t for f in gen.p.fetches for u in alias_chain(f, source))


@register_step_emitter("allreduce_fused", imports=[
    "import kernels.cpu.mpi_lib  # noqa: F401  (MPI's symbols for MPI_Allreduce)",
    "from kernels.cpu.mpi import allreduce_inplace, pack_scaled"])
def emit_allreduce_fused(gen, op) -> None:
    h, xs = op.inputs[0], op.inputs[1:]
    ys, buf = op.outputs[:-1], op.outputs[-1]
    gen.alloc(buf)
    B, H, k = gen.v(buf), gen.v(h), gen.idx(buf)
    T = f"np.{buf.dtype.np.name}"
    gen.emit(f"mpi_s{k} = {T}(1.0 / {H}[4])" if op.attrs["average"] else f"mpi_s{k} = {T}(1)")
    gen.emit(f"mpi_o{k} = 0")
    copies = []
    for j, (x, y) in enumerate(zip(xs, ys)):
        n = " * ".join(gen.dims(x))
        if _fetched(gen, y):  # fetches are read from whole pool buffers: give it its own
            gen.alloc(y)
            gen.emit(f"mpi_f{k}_{j} = mpi_o{k}")
            copies.append(f"copy_flat({gen.v(y)}.reshape(-1), {B}[mpi_f{k}_{j}:mpi_f{k}_{j} + {n}])")
        else:  # a view of the reduced buffer: no unpacking pass
            gen.emit(f"t{gen.idx(y)} = {B}[mpi_o{k}:mpi_o{k} + {n}].reshape(({', '.join(gen.dims(y))},))")
            gen.lay.view_of[y] = gen.base(buf)
        gen.emit(f"pack_scaled({B}, mpi_o{k}, {gen.v(x)}.reshape(-1), mpi_s{k})")
        gen.emit(f"mpi_o{k} += {n}")
    gen.emit(f"allreduce_inplace({H}, {B})")
    for line in copies:
        gen.emit(line)


def _runs_op_by_op(gen, op) -> None:
    from ..registry import Unsupported
    raise Unsupported(f"{op.type}: the output size depends on other ranks (or it runs once at "
                      "start-up): this plan runs op by op")


for _op in ("allgather", "broadcast"):
    register_step_emitter(_op)(_runs_op_by_op)
