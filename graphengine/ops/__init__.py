"""Op families; importing this package registers every op."""
from . import control, elementwise, linalg, nn, reduce, registry, shape, source, state  # noqa: F401
from . import collective  # noqa: F401, E402  (MPI collectives, built by graphengine.distributed)
from . import batchnorm, gather, summary  # noqa: F401, E402  (batch norm, gather/embeddings, TensorBoard summaries)
from . import clip, host  # noqa: F401, E402  (where(condition) coordinates; clipping)
from . import dynamic, slicing, strings  # noqa: F401, E402  (run-time shapes, indexing, tf.string)
from . import conv  # noqa: F401, E402  (convolution and pooling)
