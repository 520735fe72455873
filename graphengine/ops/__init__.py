"""Op families; importing this package registers every op.

collective: MPI collectives (built by graphengine.distributed); batchnorm, gather, summary: batch
norm, gather/embeddings, TensorBoard summaries; clip, host: clipping, where(condition)
coordinates; dynamic, slicing, strings: run-time shapes, indexing, tf.string; conv: convolution
and pooling.
"""
from . import (  # noqa: F401
    batchnorm,
    clip,
    collective,
    control,
    conv,
    dynamic,
    elementwise,
    gather,
    host,
    linalg,
    nn,
    reduce,
    registry,
    shape,
    slicing,
    source,
    state,
    strings,
    summary,
)
