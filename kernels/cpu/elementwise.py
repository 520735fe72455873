"""Elementwise kernels: one Numba ufunc per (op, attrs, dtypes), generated from the op's template.

Ufuncs broadcast and write into preallocated outputs (``out=``) natively. The generated source
goes through ``kernels.codegen.load_source`` so Numba's disk cache applies across processes.
"""
from __future__ import annotations

from collections.abc import Callable

import numba
import numpy as np

from graphengine.dtypes import DType
from graphengine.ops.registry import OPS

from ..codegen import load_source, numba_cache_ok, render
from ..registry import register_kernel

_UFUNCS: dict[tuple, tuple[Callable, np.dtype]] = {}


def attr_key(attrs: dict) -> tuple:
    out = []
    for k, v in sorted(attrs.items()):
        if isinstance(v, DType):
            out.append((k, v.name))
        elif isinstance(v, bool | int | float | str):
            out.append((k, v))
    return tuple(out)


def scalar_source(op_type: str, attrs: dict, arity: int) -> str:
    args = [f"x{i}" for i in range(arity)]
    return f"import math\n\n\ndef f({', '.join(args)}):\n    return {render(op_type, args, attrs)}\n"


def ufunc(op_type: str, attrs: dict, in_dtypes: tuple[np.dtype, ...]) -> tuple[Callable, np.dtype]:
    """The compiled ufunc for this op on these input dtypes, and its output dtype."""
    key = (op_type, attr_key(attrs), in_dtypes)
    hit = _UFUNCS.get(key)
    if hit is not None:
        return hit
    od = OPS[op_type]
    from graphengine.dtypes import as_dtype
    out_dt = od.infer([()] * len(in_dtypes), [as_dtype(d) for d in in_dtypes], attrs)[0][1].np
    mod = load_source("ew", scalar_source(op_type, attrs, len(in_dtypes)))
    sig = numba.from_dtype(out_dt)(*[numba.from_dtype(d) for d in in_dtypes])
    uf = numba.vectorize([sig], cache=numba_cache_ok(mod))(mod.f)
    _UFUNCS[key] = (uf, out_dt)
    return uf, out_dt


def _kernel(op_type: str) -> Callable:
    def kernel(attrs: dict, *ins: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        uf, out_dt = ufunc(op_type, attrs, tuple(np.asarray(x).dtype for x in ins))
        if out is None:
            out = np.empty(np.broadcast_shapes(*(np.shape(x) for x in ins)), out_dt)
        uf(*ins, out=out)
        return out
    kernel.__name__ = f"{op_type}_cpu"
    return kernel


for _name, _od in OPS.items():
    if _od.kind == "elementwise":
        register_kernel(_name, "cpu")(_kernel(_name))
