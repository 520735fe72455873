"""CUDA kernels: Numba-CUDA kernels for every op (simulator-testable) on a thin array layer
(CuPy on a real GPU, Numba device arrays under the simulator). Importing this registers the
kernels of the ``"cuda"`` backend; it never imports CuPy (the backend does, lazily)."""
from . import elementwise, matmul, movement, nn, optim, reduce  # noqa: F401  (register kernels)
from . import collective  # noqa: F401, E402  (MPI collectives: NCCL or through the host)
from . import host, prod  # noqa: F401, E402  (where(condition) on the host; reduce_prod)
from . import dynamic  # noqa: F401, E402  (tf.shape, shape tensors, slicing, strings)
from . import batchnorm, gather  # noqa: F401, E402  (batch norm; gather/scatter-add and summary host ops)
from . import conv  # noqa: F401, E402  (convolution: im2col/col2im + GEMM, pooling)
