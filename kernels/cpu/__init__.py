"""CPU backend: Numba kernels registered per op (importing this package registers them)."""
from . import elementwise, linalg, movement, nn, optim, reduce  # noqa: F401
