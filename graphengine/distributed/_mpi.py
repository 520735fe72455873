"""mpi4py, imported on first use: the communicator, the MPI handles the compiled step passes to
``MPI_Allreduce``, and the hook that aborts the whole job when one rank raises.

Nothing here runs at ``import graphengine``: without mpi4py installed, only calling into
``graphengine.distributed`` raises ``MPIUnavailableError`` with the install command.
"""
from __future__ import annotations

import os
import sys
import time
from typing import Any

import numpy as np

from ..errors import GraphEngineError

ABORT_DRAIN_S = 0.3  # seconds the abort hook waits for the launcher to forward its output
INSTALL_HINT = 'pip install -e ".[mpi]" (mpi4py, mpich and numba-mpi from PyPI), then launch with mpiexec -n N'


class MPIUnavailableError(GraphEngineError, ImportError):
    """graphengine.distributed was used without mpi4py and an MPI library installed."""


class _World:
    comm: Any = None            # the communicator every collective runs on
    local: tuple | None = None  # (local rank, local size) on this machine


_world = _World()


def mpi() -> Any:
    """The ``mpi4py.MPI`` module (importing it initializes MPI), or a clear error."""
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise MPIUnavailableError(f"graphengine.distributed needs MPI: {INSTALL_HINT} "
                                  f"(import mpi4py failed: {e})") from None
    return MPI


# what launchers tell each process about the job's size (MPICH/Intel MPI's hydra, Open MPI)
_LAUNCHER_SIZE = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE")


def _check_launcher(MPI: Any) -> None:
    """A job started by another MPI's mpiexec makes every process a job of its own: N copies
    training alone, silently. Say so instead."""
    told = max((int(os.environ[k]) for k in _LAUNCHER_SIZE if os.environ.get(k, "").isdigit()), default=1)
    if told > 1 and MPI.COMM_WORLD.Get_size() == 1:
        raise MPIUnavailableError(
            f"this process was started as one of {told} ranks, but MPI sees a job of 1: the "
            f"mpiexec is not the one of the MPI library mpi4py uses ({MPI.Get_library_version().splitlines()[0]}); "
            f"run the mpiexec installed with it ({INSTALL_HINT})")


def init(comm: Any = None) -> None:
    MPI = mpi()
    if _world.comm is None or comm is not None:
        _check_launcher(MPI)
        _world.comm = MPI.COMM_WORLD if comm is None else comm
        # the ranks on this machine, found now: it is a collective, and every rank runs init
        node = _world.comm.Split_type(MPI.COMM_TYPE_SHARED)
        _world.local = (node.Get_rank(), node.Get_size())
        node.Free()
    _install_abort_hook()


def initialized() -> bool:
    return _world.comm is not None


def comm() -> Any:
    if _world.comm is None:
        init()
    return _world.comm


def local() -> tuple[int, int]:
    comm()
    return _world.local


def _handle(obj: Any) -> int:
    h = getattr(obj, "handle", None)  # mpi4py >= 4
    return int(h) if h is not None else int(mpi()._handleof(obj))


def handles(dtype: Any) -> np.ndarray:
    """[communicator, datatype, MPI_SUM, MPI_IN_PLACE, size] as int64, for ``MPI_Allreduce``
    called from compiled code (handles are ints in MPICH and pointers in Open MPI: both fit)."""
    MPI = mpi()
    c = comm()
    dt = MPI.Datatype.fromcode(np.dtype(dtype).char)
    return np.array([_handle(c), _handle(dt), _handle(MPI.SUM), int(MPI.IN_PLACE), c.Get_size()], np.int64)


def _install_abort_hook() -> None:
    """An uncaught exception on any rank prints its traceback, then MPI_Abort ends every rank
    (the others would otherwise wait forever in their next collective)."""
    if getattr(sys.excepthook, "_graphengine_abort", False):
        return
    previous = sys.excepthook

    def hook(exc_type, exc, tb):
        try:
            previous(exc_type, exc, tb)
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            c = _world.comm
            if c is not None and c.Get_size() > 1:
                sys.stderr.write(f"graphengine.distributed: rank {c.Get_rank()} raised "
                                 f"{exc_type.__name__}; aborting all {c.Get_size()} ranks\n")
                sys.stderr.flush()
                # MPI_Abort makes the launcher kill every rank at once, and what it has not yet
                # read from this rank's pipes is lost (seen: the traceback cut mid-way and this
                # line missing, under load); give its forwarder a moment to drain them
                time.sleep(ABORT_DRAIN_S)
                mpi().COMM_WORLD.Abort(1)

    hook._graphengine_abort = True
    sys.excepthook = hook


def writes_files() -> bool:
    """Whether this process writes checkpoints: rank 0 of a distributed job, or any process
    that never initialized graphengine.distributed."""
    return _world.comm is None or _world.comm.Get_rank() == 0
