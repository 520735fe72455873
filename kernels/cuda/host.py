"""Host-side ops on the GPU backend: the input comes down, NumPy computes, the result goes up.
``graphengine.backends.cuda.backend.has_host_inputs`` keeps such steps out of CUDA-graph capture."""
from __future__ import annotations

from typing import Any

import numpy as np

from graphengine.ops.host import where_indices_ref
from kernels.registry import register_kernel

from . import device


@register_kernel("where_indices", "cuda")
def where_indices_cuda(attrs: dict, x: Any) -> Any:
    dev = device.current()
    return dev.upload(where_indices_ref(attrs, np.asarray(dev.download(x))))
