"""CUDA kernels: Numba-CUDA kernels for every op (simulator-testable) on a thin array layer
(CuPy on a real GPU, Numba device arrays under the simulator). Importing this registers the
kernels of the ``"cuda"`` backend; it never imports CuPy (the backend does, lazily).

collective: MPI collectives (NCCL or through the host); host, prod: where(condition) on the
host, reduce_prod; dynamic: tf.shape, shape tensors, slicing, strings; batchnorm, gather: batch
norm, gather/scatter-add and summary host ops; conv: im2col/col2im + GEMM, pooling.
"""
from . import (  # noqa: F401
    batchnorm,
    collective,
    conv,
    dynamic,
    elementwise,
    gather,
    host,
    matmul,
    movement,
    nn,
    optim,
    prod,
    reduce,
)
