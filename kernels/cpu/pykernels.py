"""Python twins of the step's non-matmul kernels, for the interim step: the same bits, no compile.

A new plan's interim step (``graphengine.backends.cpu.background``) runs its body as Python;
each ``@njit`` kernel it calls costs 0.1-0.6 s to compile cold. The functions here compute
what those kernels compute, bit for bit, with NumPy (and libm's own ``exp``/``expf``/``log``
through ctypes, the functions Numba's ``math.exp``/``math.log`` call), so a cold first step
compiles none of them:

* the same operations in the same order (and one-hot fills): the kernels' loops have no fast-math flags, so
  every float operation is IEEE-rounded as written, and a vectorized NumPy expression with
  the same operands rounds the same way; reductions accumulate sequentially along the
  reduced axis (``np.add.accumulate``, or a loop over it), as the kernels' loops do;
* the same types: scalar arguments are taken as Numba types them (a Python float is
  float64, an int int64) and NumPy promotes NumPy scalars as Numba does, so a float32
  variable updated with float64 scalars computes in float64 in both.

``TWINS`` maps kernel names, as the generated step imports them, to these functions;
tests/test_pykernels.py compares each with its compiled kernel across dtypes, shapes and
NaN/inf inputs. ``available()`` is False when libm cannot be reached through ctypes.
"""
from __future__ import annotations

import ctypes
import ctypes.util

import numpy as np

from . import movement, nn, optim, reduce

_LIBM: dict = {}


def _load() -> bool:
    if _LIBM:
        return True
    name = ctypes.util.find_library("m")
    try:
        lib = ctypes.CDLL(name) if name else ctypes.CDLL(None)
        for fn, ct in (("expf", ctypes.c_float), ("exp", ctypes.c_double), ("log", ctypes.c_double)):
            f = getattr(lib, fn)
            f.restype, f.argtypes = ct, [ct]
            _LIBM[fn] = f
    except (OSError, AttributeError):
        _LIBM.clear()
        return False
    return True


def available() -> bool:
    return _load()


def _libm(fn: str, a: np.ndarray, dtype) -> np.ndarray:
    f = _LIBM[fn]
    return np.array([f(v) for v in a.reshape(-1).tolist()], dtype).reshape(a.shape)


def _exp(a: np.ndarray) -> np.ndarray:
    """``math.exp`` of each element as Numba computes it: libm's expf for float32, exp else."""
    return _libm("expf", a, np.float32) if a.dtype == np.float32 else _libm("exp", a.astype(np.float64), np.float64)


def _s(v):
    """A scalar argument as Numba types it (Python float: float64, int: int64)."""
    if isinstance(v, bool | np.bool_):
        return np.bool_(v)
    if isinstance(v, int):
        return np.int64(v)
    if isinstance(v, float):
        return np.float64(v)
    return v


# reductions ---------------------------------------------------------------------------------
def _seq_sum(start: np.ndarray, x: np.ndarray, axis: int) -> np.ndarray:
    """start + x[0] + x[1] + ... along ``axis`` (removed), left to right, each sum stored in
    start's dtype."""
    x = np.moveaxis(x, axis, -1)
    dt = np.result_type(start, x)
    if dt == start.dtype:
        seq = np.concatenate([start[..., None], x.astype(dt)], axis=-1)
        return np.add.accumulate(seq, axis=-1)[..., -1]
    out = start
    for j in range(x.shape[-1]):
        out = (out + x[..., j]).astype(start.dtype)
    return out


def sum3(x, out):
    with np.errstate(all="ignore"):
        out[...] = _seq_sum(np.zeros(out.shape, out.dtype), x, 1)


def max3(x, out, sign, init):
    a, r, b = x.shape
    with np.errstate(all="ignore"):
        cur = x[:, 0, :].astype(out.dtype) if r > 0 else np.full(out.shape, init).astype(out.dtype)
        for j in range(1, r):
            v = x[:, j, :]
            take = ((v > cur) if sign > 0 else (v < cur)) | (v != v)
            cur = np.where(take, v, cur).astype(out.dtype)
        out[...] = cur


def argmax3(x, out, sign):
    a, r, b = x.shape
    if r == 0:
        return reduce.argmax3(x, out, sign)   # reads past the end, as the kernel does
    with np.errstate(all="ignore"):
        best = x[:, 0, :].copy()
        bi = np.zeros((a, b), np.int64)
        for j in range(1, r):
            v = x[:, j, :]
            take = (best == best) & (((v > best) if sign > 0 else (v < best)) | (v != v))
            best = np.where(take, v, best)
            bi = np.where(take, j, bi)
        out[...] = bi


def mean_div(out, n):
    n = _s(n)
    with np.errstate(all="ignore"):
        out[...] = out / n if n > 0 else np.nan


def imean_div(out, n):
    n = _s(n)
    if n > 0:
        q = out // n
        out[...] = np.where((q * n != out) & (out < 0), q + 1, q)


def expand3(g, out, scale):
    with np.errstate(all="ignore"):
        out[...] = g[:, None, :] * _s(scale)


# optimizer updates and flat copies ------------------------------------------------------------
def sgd(var, grad, lr):
    with np.errstate(all="ignore"):
        var[...] = var - _s(lr) * grad


def momentum(var, accum, grad, lr, mu, nesterov):
    lr, mu = _s(lr), _s(mu)
    with np.errstate(all="ignore"):
        a = accum * mu + grad
        accum[...] = a
        if nesterov:
            var[...] = var - (lr * grad + lr * mu * a)
        else:
            var[...] = var - lr * a


def rmsprop(var, ms, mom, grad, lr, rho, c_rho, mu, eps):
    lr, rho, c_rho, mu, eps = map(_s, (lr, rho, c_rho, mu, eps))
    with np.errstate(all="ignore"):
        g = grad
        m = rho * ms + c_rho * g * g
        ms[...] = m
        d = mu * mom + lr * g / np.sqrt(m + eps)
        mom[...] = d
        var[...] = var - d


def centered_rmsprop(var, ms, mg, mom, grad, lr, c_rho, mu, eps):
    lr, c_rho, mu, eps = map(_s, (lr, c_rho, mu, eps))
    with np.errstate(all="ignore"):
        g = grad
        s = ms + (g * g - ms) * c_rho
        a = mg + (g - mg) * c_rho
        ms[...] = s
        mg[...] = a
        d = mu * mom + lr * g / np.sqrt(s - a * a + eps)
        mom[...] = d
        var[...] = var - d


def adam(var, m, v, grad, lr_t, b1, c1, b2, c2, eps):
    lr_t, b1, c1, b2, c2, eps = map(_s, (lr_t, b1, c1, b2, c2, eps))
    with np.errstate(all="ignore"):
        g = grad
        mi = b1 * m + c1 * g
        vi = b2 * v + c2 * g * g
        m[...] = mi
        v[...] = vi
        var[...] = var - lr_t * mi / (np.sqrt(vi) + eps)


def adagrad(var, accum, grad, lr):
    lr = _s(lr)
    with np.errstate(all="ignore"):
        g = grad
        a = accum + g * g
        accum[...] = a
        var[...] = var - lr * g / np.sqrt(a)


def copy_flat(dst, src):
    dst[...] = src


def add_flat(dst, src):
    with np.errstate(all="ignore"):
        dst[...] = dst + src


def scale_flat(dst, s):
    with np.errstate(all="ignore"):
        dst[...] = dst * _s(s)


def one_hot_flat(idx, depth, on, off, out):
    out[...] = _s(off)
    rows = np.flatnonzero((idx >= 0) & (idx < depth))
    out[rows, idx[rows]] = _s(on)


# softmax and the softmax cross-entropies ------------------------------------------------------
def _exp_rows(x, out):
    """``nn.exp_row`` for every row: (row max, float64 sum of the exponentials)."""
    m = x[:, 0].copy()
    for j in range(1, x.shape[1]):
        m = np.where(x[:, j] > m, x[:, j], m)
    e = _exp(x - m[:, None])
    out[...] = e
    s = np.zeros(x.shape[0])
    for j in range(x.shape[1]):
        s = s + out[:, j]
    return m, s


def _log(s: np.ndarray) -> np.ndarray:
    return _libm("log", s, np.float64)


def softmax_rows(x, out, log):
    if x.shape[0] == 0:
        return
    if x.shape[1] == 0:
        return nn.softmax_rows(x, out, log)   # reads past the end, as the kernel does
    with np.errstate(all="ignore"):
        m, s = _exp_rows(x, out)
        if log:
            ls = m + _log(s)
            out[...] = x - ls[:, None]
        else:
            inv = 1.0 / s
            out[...] = out * inv[:, None]


def sparse_xent_rows(x, labels, loss, back):
    n, c = x.shape
    if c == 0:
        return nn.sparse_xent_rows(x, labels, loss, back)
    bad = np.flatnonzero((labels < 0) | (labels >= c))
    k = int(bad[0]) if bad.size else n
    if k:
        with np.errstate(all="ignore"):
            xs, ys, bs = x[:k], labels[:k], back[:k]
            m, s = _exp_rows(xs, bs)
            inv = 1.0 / s
            bs[...] = bs * inv[:, None]
            rows = np.arange(k)
            bs[rows, ys] = bs[rows, ys] - np.float64(1.0)
            loss[:k] = _log(s) + m - xs[rows, ys]
    return k if bad.size else -1


def dense_xent_rows(x, labels, loss, back):
    n, c = x.shape
    if n == 0:
        return -1
    if c == 0:
        return nn.dense_xent_rows(x, labels, loss, back)
    with np.errstate(all="ignore"):
        m, s = _exp_rows(x, back)
        ls = _log(s) + m
        inv = 1.0 / s
        acc = np.zeros(n)
        for j in range(c):
            acc = acc + labels[:, j] * (ls - x[:, j])
        back[...] = back * inv[:, None] - labels
        loss[...] = acc
    return -1


def as_shape(a, shape):
    return a.reshape(-1)[:int(np.prod(shape))].reshape(shape)


TWINS = {f.__name__: f for f in (
    as_shape, sum3, max3, argmax3, mean_div, imean_div, expand3, sgd, momentum, rmsprop, centered_rmsprop,
    adam, adagrad, copy_flat, add_flat, scale_flat, one_hot_flat, softmax_rows, sparse_xent_rows,
    dense_xent_rows)}
# every twin stands for the compiled kernel of the same name in these modules
_KERNELS = {name: getattr(mod, name) for mod in (reduce, optim, nn, movement) for name in TWINS
            if hasattr(mod, name)}
assert set(_KERNELS) == set(TWINS)
