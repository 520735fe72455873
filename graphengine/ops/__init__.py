"""Op families; importing this package registers every op."""
from . import control, elementwise, linalg, nn, reduce, registry, shape, source, state  # noqa: F401
