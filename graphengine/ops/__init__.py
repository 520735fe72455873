"""Op families; importing this package registers every op."""
from . import control, elementwise, linalg, nn, reduce, registry, shape, source, state  # noqa: F401
from . import collective  # noqa: F401, E402  (MPI collectives, built by graphengine.distributed)
