"""Data-parallel training on MPI, with Horovod's names: one extra import for TF1-style code.

Launch N copies of the same script with ``mpiexec -n N python train.py``; each rank trains on
its shard of the data and ``DistributedOptimizer`` averages the gradients of all ranks before
every update, so all ranks keep identical variables::

    import graphengine.compat.v1 as tf
    import graphengine.distributed as hvd

    hvd.init()
    opt = hvd.DistributedOptimizer(tf.train.AdamOptimizer(1e-3 * hvd.size()))
    train_op = opt.minimize(loss)
    bcast = hvd.broadcast_global_variables(0)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(bcast)                       # every rank starts from rank 0's values
        for xb, yb in ge.datasets.batches(x, y, 64, seed=epoch, shard=(hvd.rank(), hvd.size())):
            sess.run(train_op, {x_ph: xb, y_ph: yb})

On the CPU the gradients of all variables go through ONE fused allreduce inside the compiled
step (``allreduce_fused``: pack, one ``MPI_Allreduce``, then the fused updates read the reduced
buffer). Without mpi4py installed, ``import graphengine.distributed`` still works and every
call raises ``MPIUnavailableError`` naming the install command; without ``mpiexec`` a script
runs as a single rank (``size() == 1``).
"""
from __future__ import annotations

from typing import Any

from .. import dtypes as _dt
from ..errors import DTypeError, GradientError
from ..graph import Operation, Tensor, get_default_graph
from ..ops import source
from ..ops.control import group
from ..ops.registry import apply
from . import _mpi
from ._mpi import INSTALL_HINT, MPIUnavailableError
from .nccl import NcclAllreducer

Average = "average"
Sum = "sum"


def init(comm: Any = None) -> None:
    """Initialize MPI (idempotent) and install the hook that ends every rank with MPI_Abort
    when one raises an uncaught exception. ``comm``: an mpi4py communicator (default: world)."""
    _mpi.init(comm)


def is_initialized() -> bool:
    return _mpi.initialized()


def rank() -> int:
    """This process's rank, 0 .. size()-1."""
    return _mpi.comm().Get_rank()


def size() -> int:
    """How many ranks take part (1 when not launched by mpiexec)."""
    return _mpi.comm().Get_size()


def local_rank() -> int:
    """This process's rank among the ranks on its machine (pick a GPU with it)."""
    return _mpi.local()[0]


def local_size() -> int:
    return _mpi.local()[1]


def grouped_allreduce(tensors: list[Any], average: bool = True, name: str | None = None) -> list[Tensor]:
    """The sums (or means) over all ranks of ``tensors``, through one fused allreduce per dtype."""
    ts = [source.as_tensor(t) for t in tensors]
    by_dtype: dict[_dt.DType, list[int]] = {}
    for i, t in enumerate(ts):
        if average and not t.dtype.is_floating:
            raise DTypeError(f"allreduce(average=True) of {t.name} ({t.dtype.name}): averaging needs "
                             "floating-point tensors; use average=False (a sum) for integers")
        by_dtype.setdefault(t.dtype, []).append(i)
    out: list[Any] = [None] * len(ts)
    for dt, idx in by_dtype.items():
        handles = source.constant(_mpi.handles(dt.np), _dt.int64, name="mpi_handles")
        op = apply("allreduce_fused", [handles] + [ts[i] for i in idx], {"average": bool(average)},
                   name or "allreduce")
        for i, y in zip(idx, op.outputs):
            out[i] = y
    return out


def allreduce(tensor: Any, average: bool = True, name: str | None = None, op: str | None = None,
              **_horovod: Any) -> Tensor:
    """A graph op: ``tensor``'s mean (``average=True``, or ``op=Average``) or sum (``op=Sum``)
    over all ranks, the same on every rank. Horovod's ``device_dense``, ``compression``, ...
    are accepted and ignored."""
    if op is not None:
        average = op == Average
    return grouped_allreduce([tensor], average, name)[0]


def allgather(tensor: Any, name: str | None = None) -> Tensor:
    """A graph op: every rank's ``tensor`` concatenated along axis 0 in rank order (ranks may
    differ in that dimension); a scalar becomes one row per rank. For metrics: plans that
    contain it run op by op."""
    from ..ops.shape import reshape
    t = source.as_tensor(tensor)
    _mpi.comm()
    if t.shape == ():
        t = reshape(t, (1,))
    return apply("allgather", [t], {}, name or "allgather").outputs[0]


def broadcast(tensor: Any, root_rank: int = 0, name: str | None = None) -> Tensor:
    """A graph op: rank ``root_rank``'s value of ``tensor``, on every rank."""
    _check_root(root_rank)
    return apply("broadcast", [source.as_tensor(tensor)], {"root": root_rank}, name or "broadcast").outputs[0]


def broadcast_variables(variables: list[Any], root_rank: int = 0) -> Operation:
    """An op that sets every variable to rank ``root_rank``'s value (run it after the
    initializer, or after restoring a checkpoint on the root rank only)."""
    from ..variables import assign
    _check_root(root_rank)
    variables = list(variables)
    if not variables:
        return group(name="broadcast_variables")
    op = apply("broadcast", [v.value() for v in variables], {"root": root_rank}, "broadcast_variables")
    return group(*[assign(v, y) for v, y in zip(variables, op.outputs)], name="broadcast_variables")


def broadcast_global_variables(root_rank: int = 0) -> Operation:
    """``broadcast_variables`` of all global variables (optimizer slots included), as Horovod's."""
    from ..variables import global_variables
    return broadcast_variables(global_variables(get_default_graph()), root_rank)


def _check_root(root_rank: int) -> None:
    n = size()
    if not 0 <= int(root_rank) < n:
        raise ValueError(f"root_rank {root_rank} is not a rank of this job (size {n})")


def _reduced(g: Any) -> bool:
    return isinstance(g, Tensor) and g.op.type == "allreduce_fused"


class DistributedOptimizer:
    """Wraps any optimizer so that gradients are averaged (or summed, ``op=Sum``) over all ranks
    before its update: ``compute_gradients`` returns the reduced gradients, ``apply_gradients``
    reduces any that are not reduced yet, ``minimize`` does both. With one rank it adds nothing.
    Everything else (``get_slot``, ``variables``, ...) is the wrapped optimizer's.

    Horovod's other arguments (``device_dense``, ``compression``, ...) are accepted and ignored.
    """

    def __init__(self, optimizer: Any, name: str | None = None, op: str = Average, **_horovod: Any) -> None:
        if op not in (Average, Sum):
            raise ValueError(f"DistributedOptimizer: op must be hvd.Average or hvd.Sum, got {op!r}")
        self._optimizer = optimizer
        self._average = op == Average
        self._name = name
        _mpi.comm()

    def __getattr__(self, attr: str) -> Any:
        if attr == "_optimizer":  # not set yet (copy, pickle): no recursion
            raise AttributeError(attr)
        return getattr(self._optimizer, attr)

    def _reduce(self, grads_and_vars: list) -> list:
        gv = [(g, v) for g, v in grads_and_vars]
        todo = [i for i, (g, _) in enumerate(gv) if g is not None and not _reduced(g)]
        if size() == 1 or not todo:
            return gv
        reduced = grouped_allreduce([gv[i][0] for i in todo], self._average,
                                    f"{self._name or 'Distributed'}_allreduce")
        for i, r in zip(todo, reduced):
            gv[i] = (r, gv[i][1])
        return gv

    def compute_gradients(self, loss: Any, var_list: list | None = None, **kw: Any) -> list[tuple]:
        return self._reduce(self._optimizer.compute_gradients(loss, var_list, **kw))

    def apply_gradients(self, grads_and_vars: Any, global_step: Any = None, name: str | None = None) -> Operation:
        return self._optimizer.apply_gradients(self._reduce(list(grads_and_vars)), global_step, name)

    def minimize(self, loss: Any, global_step: Any = None, var_list: list | None = None,
                 name: str | None = None, **_: Any) -> Operation:
        gv = self._optimizer.compute_gradients(loss, var_list)
        if all(g is None for g, _ in gv):
            from ..train.optimizers import _no_gradient_message
            raise GradientError(_no_gradient_message([v for _, v in gv], source.as_tensor(loss)))
        return self.apply_gradients(gv, global_step, name)


__all__ = ["INSTALL_HINT", "Average", "DistributedOptimizer", "MPIUnavailableError", "NcclAllreducer", "Sum",
           "allgather", "allreduce", "broadcast", "broadcast_global_variables", "broadcast_variables",
           "grouped_allreduce", "init", "is_initialized", "local_rank", "local_size", "rank", "size"]
