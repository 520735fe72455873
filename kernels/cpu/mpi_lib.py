"""Importing this initializes MPI (through mpi4py) and makes the MPI library's symbols visible to
Numba-compiled code, which calls ``MPI_Allreduce`` by name (``kernels.cpu.mpi``)."""
from __future__ import annotations

import re
import sys

import llvmlite.binding as llvm

from graphengine.distributed._mpi import mpi


def _library_path() -> str:
    """The MPI shared library mpi4py loaded (Linux: from the process's memory map)."""
    if sys.platform.startswith("linux"):
        with open("/proc/self/maps") as maps:
            for line in maps:
                m = re.search(r"(/\S*/lib(?:mpi|mpich|msmpi|impi)\.so[.\d]*)$", line.strip())
                if m:
                    return m.group(1)
    from numba_mpi.common import LIB  # elsewhere: numba-mpi's search (psutil, find_library)
    return LIB


mpi()
LIBRARY = _library_path()
llvm.load_library_permanently(LIBRARY)
