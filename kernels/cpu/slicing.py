"""``strided_slice`` (tensor indexing) and its gradient on the CPU: NumPy basic indexing op by
op, and step emitters that write the gather (and the gradient's zero-fill plus scatter) as one
loop nest inside the compiled step. Bounds are resolved per run from the input's dims (Python's
slice rules: negative starts count from the end, out-of-range ones clip); index entries were
checked against the run-time shapes before the step runs."""
from __future__ import annotations

from graphengine.ops.registry import OPS

from ..registry import register_kernel, register_step_emitter

for _op in ("strided_slice", "strided_slice_grad"):  # np.array copies keep 0-d results 0-d
    register_kernel(_op, "cpu")(OPS[_op].ref)


def _start(e: tuple, n: str) -> str:
    """The first input index a slice entry reads, for an input dim of run-time size ``n``."""
    start, step = e[1], e[3] or 1
    if step > 0:
        if start is None:
            return "0"
        return f"min({start}, {n})" if start >= 0 else f"max({start} + {n}, 0)"
    if start is None:
        return f"({n} - 1)"
    return f"min({start}, {n} - 1)" if start >= 0 else f"max({start} + {n}, -1)"


def _source_index(gen, x, spec: tuple, ivars: list[str]) -> str:
    """``x[...]`` for the output element at loop indices ``ivars`` (output dims in order)."""
    if gen.rank(x) == 0:
        return f"{gen.v(x)}[0]"
    parts, k, j = [], 0, 0
    for e in spec:
        if e[0] == "new":
            j += 1
            continue
        n = f"{gen.v(x)}.shape[{k}]"
        if e[0] == "index":
            parts.append(str(e[1]) if e[1] >= 0 else f"{e[1]} + {n}")
        else:
            step = e[3] or 1
            parts.append(f"{_start(e, n)} + {step} * {ivars[j]}")
            j += 1
        k += 1
    return f"{gen.v(x)}[{', '.join(parts)}]"


def _at(gen, t, ivars: list[str]) -> str:
    return f"{gen.v(t)}[{', '.join(ivars) if ivars else '0'}]"


@register_step_emitter("strided_slice")
def emit_strided_slice(gen, op) -> None:
    x, out = op.inputs[0], op.outputs[0]
    gen.alloc(out)
    ivars, depth = gen.loops(out)
    gen.emit(f"{_at(gen, out, ivars)} = {_source_index(gen, x, op.attrs['spec'], ivars)}", depth)


@register_step_emitter("strided_slice_grad")
def emit_strided_slice_grad(gen, op) -> None:
    g, x = op.inputs
    out = op.outputs[0]
    gen.alloc(out)
    gen.emit(f"{gen.v(out)}.reshape(-1)[:] = 0")
    ivars, depth = gen.loops(g, "g")
    gen.emit(f"{_source_index(gen, out, op.attrs['spec'], ivars)} = {_at(gen, g, ivars)}", depth)
