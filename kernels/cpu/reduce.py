"""Reduction kernels over a canonical (outer, reduced, inner) view, plus their gradients."""
from __future__ import annotations

import numba
import numpy as np

from graphengine.ops.facts import unbroadcast_axes, view3
from graphengine.ops.reduce import reduce_identity

from ..registry import register_kernel

_NJ = dict(cache=True, nogil=True, error_model="numpy")


@numba.njit(**_NJ)
def sum3(x, out):  # x: (a, r, b) -> out: (a, b); accumulate in the input's precision order
    a, r, b = x.shape
    for i in range(a):
        for k in range(b):
            out[i, k] = 0
        for j in range(r):
            for k in range(b):
                out[i, k] += x[i, j, k]


@numba.njit(**_NJ)
def max3(x, out, sign, init):  # sign=1: max, sign=-1: min; init: the value of an empty reduction
    a, r, b = x.shape
    for i in range(a):
        for k in range(b):
            out[i, k] = x[i, 0, k] if r > 0 else init
        for j in range(1, r):
            for k in range(b):
                v = x[i, j, k]
                if (v > out[i, k]) if sign > 0 else (v < out[i, k]):
                    out[i, k] = v
                elif v != v:  # NaN propagates as in NumPy
                    out[i, k] = v


@numba.njit(**_NJ)
def argmax3(x, out, sign):
    a, r, b = x.shape
    for i in range(a):
        for k in range(b):
            best = x[i, 0, k]
            bi = 0
            for j in range(1, r):
                if best != best:  # the first NaN wins, as in NumPy
                    break
                v = x[i, j, k]
                if ((v > best) if sign > 0 else (v < best)) or v != v:
                    best = v
                    bi = j
            out[i, k] = bi


@numba.njit(**_NJ)
def mean_div(out, n):  # float mean: sum / n in place; an empty reduction is NaN (NumPy, TF)
    for i in range(out.size):
        out[i] = out[i] / n if n > 0 else np.nan


@numba.njit(**_NJ)
def imean_div(out, n):  # integer mean: truncate toward zero (TF1), exactly; empty gives 0
    if n > 0:
        for i in range(out.size):
            s = out[i]
            q = s // n
            if q * n != s and s < 0:
                q += 1
            out[i] = q


@numba.njit(**_NJ)
def expand3(g, out, scale):  # g: (a, b) -> out: (a, r, b), times scale
    a, r, b = out.shape
    for i in range(a):
        for j in range(r):
            for k in range(b):
                out[i, j, k] = g[i, k] * scale


def _view3(x: np.ndarray, axes: tuple) -> tuple[np.ndarray, tuple]:
    """A contiguous (a, r, b) view of x for reducing ``axes`` (transposing if they are split)."""
    c = view3(x.shape, axes)
    if c is None:
        rest = tuple(i for i in range(x.ndim) if i not in axes)
        x = np.ascontiguousarray(np.transpose(x, rest + axes))
        axes = tuple(range(len(rest), x.ndim))
        c = view3(x.shape, axes)
    return np.ascontiguousarray(x).reshape(c), c


def _axes(attrs: dict, x: np.ndarray) -> tuple:
    return tuple(range(x.ndim)) if attrs["axis"] is None else tuple(attrs["axis"])


def _out_shape(x: np.ndarray, axes: tuple, keepdims: bool) -> tuple:
    if keepdims:
        return tuple(1 if i in axes else n for i, n in enumerate(x.shape))
    return tuple(n for i, n in enumerate(x.shape) if i not in axes)


def _reduce(kind: str):
    def kernel(attrs, x):
        axes = _axes(attrs, x)
        v, (a, r, b) = _view3(x, axes)
        out = np.empty((a, b), x.dtype)
        if kind == "sum" or kind == "mean":
            sum3(v, out)
            if kind == "mean":
                (mean_div if out.dtype.kind == "f" else imean_div)(out.reshape(-1), r)
        else:
            max3(v, out, 1 if kind == "max" else -1, reduce_identity(f"reduce_{kind}", x.dtype))
        return out.reshape(_out_shape(x, axes, attrs["keepdims"]))
    return kernel


for _k in ("sum", "mean", "max", "min"):
    register_kernel(f"reduce_{_k}", "cpu")(_reduce(_k))


def _arg(sign: int):
    def kernel(attrs, x):
        ax = attrs["axis"]
        v, (a, r, b) = _view3(x, (ax,))
        out = np.empty((a, b), attrs["output_type"].np)
        argmax3(v, out, sign)
        return out.reshape(_out_shape(x, (ax,), False))
    return kernel


register_kernel("argmax", "cpu")(_arg(1))
register_kernel("argmin", "cpu")(_arg(-1))


@register_kernel("expand_like", "cpu")
def expand_like_cpu(attrs, g, x):
    axes = _axes(attrs, x)
    c = view3(x.shape, axes)
    if c is None:  # split axes (rare): NumPy's broadcasting copy
        keep = tuple(1 if i in axes else n for i, n in enumerate(x.shape))
        out = np.empty(x.shape, g.dtype)
        out[...] = np.reshape(g, keep)
        if attrs["mean"]:
            out /= max(1, int(np.prod([x.shape[i] for i in axes])))
        return out
    a, r, b = c
    out = np.empty((a, r, b), g.dtype)
    expand3(np.ascontiguousarray(g).reshape(a, b), out, 1.0 / max(r, 1) if attrs["mean"] else 1.0)
    return out.reshape(x.shape)


def sum_to(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Reverse broadcasting with the sum kernel, one contiguous run of axes at a time."""
    if g.shape == tuple(shape):
        return g
    axes = unbroadcast_axes(g.shape, shape)
    runs: list[list[int]] = []
    for ax in axes:
        if runs and runs[-1][-1] == ax - 1:
            runs[-1].append(ax)
        else:
            runs.append([ax])
    cur = g
    for run in reversed(runs):  # from the right so earlier axis numbers stay valid
        cur = _reduce("sum")({"axis": tuple(run), "keepdims": True}, cur)
    return cur.reshape(shape)


@register_kernel("sum_to_like", "cpu")
def sum_to_like_cpu(attrs, g, x):
    return sum_to(g, x.shape)
