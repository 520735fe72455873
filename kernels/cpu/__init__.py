"""CPU backend: Numba kernels registered per op (importing this package registers them).

mpi: collectives (loads no MPI until one runs); batchnorm, gather, summary: batch norm,
gather/scatter-add, summaries; host, prod: where(condition) on the host, reduce_prod; dynamic:
tf.shape, shape tensors, slicing, strings; conv: convolution (im2col + BLAS) and pooling.

Importing it first lets loops use the full AVX-512 width where the host has it (``vectors``).
"""
from .vectors import configure as _wide_vectors

_wide_vectors()  # before anything here compiles: Numba reads the CPU features once

from . import (  # noqa: E402, F401
    batchnorm,
    conv,
    dynamic,
    elementwise,
    gather,
    host,
    linalg,
    movement,
    mpi,
    nn,
    optim,
    prod,
    reduce,
    summary,
)
