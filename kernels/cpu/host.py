"""Host-side ops on the CPU backend (output shapes that depend on the values): plain NumPy, and
a step emitter that declines, so plans containing them run op by op."""
from __future__ import annotations

from graphengine.ops.host import where_indices_ref

from ..registry import Unsupported, register_kernel, register_step_emitter

register_kernel("where_indices", "cpu")(where_indices_ref)


@register_step_emitter("where_indices")
def emit_where_indices(gen, op) -> None:
    raise Unsupported("where(condition): its output shape is known only at run time")
