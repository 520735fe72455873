"""The NumPy reference backend: every op's ``ref`` from its OpDef. The executable spec."""
from __future__ import annotations

from graphengine.ops.registry import OPS

from .registry import kernel_exempt, register_kernel

for _name, _od in OPS.items():
    if _od.ref is not None and not kernel_exempt(_name):
        register_kernel(_name, "reference")(_od.ref)
