"""Softmax, log-softmax and the fused softmax cross-entropies (loss + backprop in one pass)."""
from __future__ import annotations

import math

import numba
import numpy as np

from ..registry import register_kernel

_NJ = dict(cache=True, nogil=True, error_model="numpy")


@numba.njit(**_NJ)
def exp_row(x, i, out):
    """out[i, :] = exp(x[i, :] - max); returns (max, sum of the exponentials)."""
    c = x.shape[1]
    m = x[i, 0]
    for j in range(1, c):
        if x[i, j] > m:
            m = x[i, j]
    s = 0.0
    for j in range(c):
        e = math.exp(x[i, j] - m)
        out[i, j] = e
        s += e
    return m, s


@numba.njit(**_NJ)
def softmax_rows(x, out, log):
    n, c = x.shape
    for i in range(n):
        m, s = exp_row(x, i, out)
        if log:
            ls = m + math.log(s)
            for j in range(c):
                out[i, j] = x[i, j] - ls
        else:
            inv = 1.0 / s
            for j in range(c):
                out[i, j] *= inv


@numba.njit(**_NJ)
def sparse_xent_rows(x, labels, loss, back):
    """loss_i = logsumexp(x_i) - x_i[y_i]; back_i = softmax(x_i) - onehot(y_i). Returns bad label or -1."""
    n, c = x.shape
    for i in range(n):
        y = labels[i]
        if y < 0 or y >= c:
            return i
        m, s = exp_row(x, i, back)
        inv = 1.0 / s
        for j in range(c):
            back[i, j] *= inv
        back[i, y] -= 1.0
        loss[i] = math.log(s) + m - x[i, y]
    return -1


@numba.njit(**_NJ)
def dense_xent_rows(x, labels, loss, back):
    """loss_i = -sum_j labels_ij log softmax(x_i)_j; back_i = softmax(x_i) - labels_i."""
    n, c = x.shape
    for i in range(n):
        m, s = exp_row(x, i, back)
        ls = math.log(s) + m
        inv = 1.0 / s
        acc = 0.0
        for j in range(c):
            acc += labels[i, j] * (ls - x[i, j])
            back[i, j] = back[i, j] * inv - labels[i, j]
        loss[i] = acc
    return -1


def _rows(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x).reshape(-1, x.shape[-1]) if x.ndim != 2 else np.ascontiguousarray(x)


def _softmax(log: bool):
    def kernel(attrs, x):
        out = np.empty(x.shape, x.dtype)
        if x.size:
            softmax_rows(_rows(x), out.reshape(-1, x.shape[-1]), log)
        return out
    return kernel


register_kernel("softmax", "cpu")(_softmax(False))
register_kernel("log_softmax", "cpu")(_softmax(True))


@register_kernel("sparse_softmax_xent", "cpu")
def sparse_softmax_xent_cpu(attrs, x, labels):
    loss = np.empty(x.shape[0], x.dtype)
    back = np.empty(x.shape, x.dtype)
    bad = sparse_xent_rows(np.ascontiguousarray(x), np.ascontiguousarray(labels), loss, back)
    if bad >= 0:
        raise ValueError(f"label {labels[bad]} (row {bad}) is outside [0, {x.shape[1]})")
    return loss, back


@register_kernel("softmax_xent", "cpu")
def softmax_xent_cpu(attrs, x, labels):
    loss = np.empty(x.shape[0], x.dtype)
    back = np.empty(x.shape, x.dtype)
    dense_xent_rows(np.ascontiguousarray(x), np.ascontiguousarray(labels), loss, back)
    return loss, back
