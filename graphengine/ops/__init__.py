"""Op families; importing this package registers every op.

collective: MPI collectives (built by graphengine.distributed); batchnorm, gather, summary: batch
norm, gather/embeddings, TensorBoard summaries; clip, host: clipping, where(condition)
coordinates; dynamic, slicing, strings: run-time shapes, indexing, tf.string; conv: convolution
and pooling.

Module-level imports run one way: registry < source < reduce < dynamic < shape < elementwise <
the rest. Where a lower module builds ops of a higher one (a gradient rule of ``reduce`` made of
elementwise ops, ``source`` handing run-time shapes to ``dynamic``) it imports them inside the
function: each such import closes a cycle.
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
