"""Summary ops on the CPU: host code (protobuf encoding), the same functions as the reference.

Compiled steps never contain them: ``graphengine.runtime.hostops`` runs them after the step.
These kernels serve op-by-op plans.
"""
from __future__ import annotations

from graphengine.ops.registry import OPS

from ..registry import register_kernel

for _name in [name for name, od in OPS.items() if od.kind == "host"]:
    register_kernel(_name, "cpu")(OPS[_name].ref)
