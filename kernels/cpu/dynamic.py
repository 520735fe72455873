"""CPU kernels of the run-time-shape, slicing and string ops (plain NumPy: they move data or
run on the host), with step emitters that decline, so plans holding them run op by op and
``plan_info`` says why. ``strided_slice`` has real step code (kernels.cpu.slicing)."""
from __future__ import annotations

from graphengine.ops.registry import OPS

from ..registry import Unsupported, register_kernel, register_step_emitter
from . import slicing  # noqa: F401  (strided_slice: kernels and step code)

# op -> why the compiled step declines it
WHY = {
    "shape": "tf.shape computes a shape at run time",
    "dynamic_reshape": "reshape to a shape tensor: the shape is known only at run time",
    "dynamic_fill": "fill/zeros/ones with a shape tensor: the shape is known only at run time",
    "random_shaped": "a random op with a shape tensor: the shape is known only at run time",
    "range": "tf.range with tensor limits: the length is known only at run time",
    "string_join": "the plan computes on strings (they run on the host)",
    "as_string": "the plan computes on strings (they run on the host)",
}


def _decline(why: str):
    def emit(gen, op) -> None:
        raise Unsupported(f"{why} ({op.describe()})")
    return emit


for _op, _why in WHY.items():
    if _op != "random_shaped":  # drawn by the runtime, like random
        register_kernel(_op, "cpu")(OPS[_op].ref)
    register_step_emitter(_op)(_decline(_why))
