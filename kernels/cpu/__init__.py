"""CPU backend: Numba kernels registered per op (importing this package registers them)."""
from . import elementwise, linalg, movement, nn, optim, reduce  # noqa: F401
from . import mpi  # noqa: F401, E402  (collectives; loads no MPI until one runs)
from . import batchnorm, gather, summary  # noqa: F401, E402  (batch norm, gather/scatter-add, summaries)
from . import host, prod  # noqa: F401, E402  (where(condition) on the host; reduce_prod)
from . import dynamic  # noqa: F401, E402  (tf.shape, shape tensors, slicing, strings)
from . import conv  # noqa: F401, E402  (convolution: im2col + BLAS, pooling)
