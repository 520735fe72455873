"""Elementwise kernels generated from the ops' scalar templates (shared with the CPU generator).

One generated Numba-CUDA kernel per (expression, input access patterns, rank). Each input is
read flat (``a[i]``, same shape as the output), as a scalar (``a[0]``), or through element
strides (broadcasting, transposes: stride 0 repeats a value). Shapes and strides are scalar
kernel arguments, so launching needs no host-to-device copy of metadata.
"""
from __future__ import annotations

import re
from functools import cache
from typing import Any

import numpy as np

from graphengine.ops.elementwise import ELEMENTWISE
from graphengine.ops.registry import OPS
from kernels.codegen import load_source, render
from kernels.registry import register_kernel

from . import device

FLAT, SCALAR, STRIDED = "f", "s", "x"


def kernel_source(expr: str, patterns: tuple[str, ...], ndim: int, cache: bool = True) -> str:
    """Source of a grid-stride map kernel ``out[i] = expr(x0, x1, ...)``."""
    nin = len(patterns)
    dims = [f"d{k}" for k in range(ndim)]
    params = ["out", "n", "alpha", *dims]
    for j in range(nin):
        params += [f"a{j}"] + [f"t{j}_{k}" for k in range(ndim)]
    body = []
    if STRIDED in patterns and ndim:
        body.append("r = i")
        for k in range(ndim - 1, 0, -1):
            body += [f"c{k} = r % d{k}", "r = r // " + f"d{k}"]
        body.append("c0 = r")
    for j, p in enumerate(patterns):
        if p == FLAT:
            body.append(f"x{j} = a{j}[i]")
        elif p == SCALAR:
            body.append(f"x{j} = a{j}[0]")
        else:
            off = " + ".join(f"c{k} * t{j}_{k}" for k in range(ndim)) or "0"
            body.append(f"x{j} = a{j}[{off}]")
    body.append(f"out[i] = {expr}")
    inner = "\n".join("        " + line for line in body)
    jit = "@cuda.jit(cache=True)" if cache and not device.SIMULATOR else "@cuda.jit"
    return (f"import math\n\nfrom numba import cuda\n\n\n{jit}\n"
            f"def kernel({', '.join(params)}):\n"
            "    i = cuda.grid(1)\n    step = cuda.gridsize(1)\n    while i < n:\n"
            f"{inner}\n        i += step\n")


@cache
def get_map_kernel(expr: str, patterns: tuple[str, ...], ndim: int) -> Any:
    return load_source("cuda_map", kernel_source(expr, patterns, ndim)).kernel


def contiguous_strides(shape: tuple) -> tuple:
    out, acc = [], 1
    for n in reversed(shape):
        out.append(acc)
        acc *= int(n)
    return tuple(reversed(out))


def broadcast_strides(shape: tuple, out_shape: tuple) -> tuple:
    """Element strides reading a contiguous ``shape`` array broadcast to ``out_shape``."""
    lead = len(out_shape) - len(shape)
    st = contiguous_strides(shape)
    return tuple(0 if k < lead or shape[k - lead] == 1 else st[k - lead]
                 for k in range(len(out_shape)))


def flat(x: Any) -> Any:
    return x.reshape((max(1, int(np.prod(x.shape, dtype=np.int64))),))


def launch_map(expr: str, out: Any, ins: list, strides: list | None = None, alpha: float = 0.0) -> Any:
    """Run ``out = expr(x0, x1, ...)`` elementwise; ``strides[j]`` overrides broadcasting of input j."""
    dev = device.current()
    shape = tuple(out.shape)
    n = int(np.prod(shape, dtype=np.int64))
    if n == 0:
        return out
    pats, args = [], []
    for j, x in enumerate(ins):
        st = strides[j] if strides is not None and strides[j] is not None else None
        size = int(np.prod(x.shape, dtype=np.int64))
        if st is None and tuple(x.shape) == shape:
            pats.append(FLAT)
            st = (0,) * len(shape)
        elif st is None and size == 1:
            pats.append(SCALAR)
            st = (0,) * len(shape)
        else:
            pats.append(STRIDED)
            st = st if st is not None else broadcast_strides(tuple(x.shape), shape)
        args += [flat(x), *st]
    kern = get_map_kernel(expr, tuple(pats), len(shape))
    dev.launch(kern, device.blocks_for(n), device.TPB, flat(out), n, float(alpha), *shape, *args)
    return out


def out_dtype(op_type: str, attrs: dict, xs: tuple) -> np.dtype:
    """The op's own dtype rule (one fact, shared with shape inference and the CPU kernels)."""
    from graphengine.dtypes import as_dtype
    ins = [as_dtype(np.dtype(x.dtype)) for x in xs]
    return OPS[op_type].infer([()] * len(xs), ins, attrs)[0][1].np


_ATTR_NAMES = {op: tuple(sorted(set(re.findall(r"\{([A-Za-z_]\w*)\}", row[2]))))
               for op, row in ELEMENTWISE.items()}


@cache
def _expr(op_type: str, attr_items: tuple) -> str:
    nin = ELEMENTWISE[op_type][0]
    return render(op_type, [f"x{j}" for j in range(nin)], dict(attr_items))


def op_expr(op_type: str, attrs: dict) -> str:
    return _expr(op_type, tuple((k, attrs[k]) for k in _ATTR_NAMES[op_type]))


def elementwise_cuda(op_type: str, attrs: dict, *xs: Any) -> Any:
    dev = device.current()
    shape = tuple(np.broadcast_shapes(*[tuple(x.shape) for x in xs]))
    out = dev.empty(shape, out_dtype(op_type, attrs, xs))
    return launch_map(op_expr(op_type, attrs), out, list(xs))


def fused_kernel(members: tuple, inputs: tuple) -> Any:
    """Kernel computing the last of ``members`` (elementwise ops in evaluation order, reading
    ``inputs`` and earlier members) in one launch: their templates rendered into one expression,
    the intermediates never written. Called with the values of ``inputs``."""
    names = {t: f"x{j}" for j, t in enumerate(inputs)}
    for m in members:
        names[m.outputs[0]] = render(m.type, [names[t] for t in m.inputs], m.attrs)
    expr = names[members[-1].outputs[0]]
    dtype = members[-1].outputs[0].dtype.np

    def kern(attrs: dict, *xs: Any) -> Any:
        shape = tuple(np.broadcast_shapes(*[tuple(x.shape) for x in xs]))
        return launch_map(expr, device.current().empty(shape, dtype), list(xs))
    kern.__name__ = "_".join(m.type for m in members) + "_cuda"
    return kern


def _register(op_type: str) -> None:
    @register_kernel(op_type, "cuda")
    def kern(attrs: dict, *xs: Any) -> Any:
        return elementwise_cuda(op_type, attrs, *xs)
    kern.__name__ = f"{op_type}_cuda"


for _op in ELEMENTWISE:
    _register(_op)
