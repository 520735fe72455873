"""CPU backend: Numba kernels registered per op (importing this package registers them).

mpi: collectives (loads no MPI until one runs); batchnorm, gather, summary: batch norm,
gather/scatter-add, summaries; host, prod: where(condition) on the host, reduce_prod; dynamic:
tf.shape, shape tensors, slicing, strings; conv: convolution (im2col + BLAS) and pooling.
"""
from . import (  # noqa: F401
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
