"""Fused optimizer updates: one pass over each variable, written in place."""
from __future__ import annotations

import math

import numba
import numpy as np

from graphengine.ops.facts import adam_step_size

from ..registry import register_kernel, register_step_emitter

_NJ = dict(cache=True, nogil=True, error_model="numpy")


@numba.njit(**_NJ)
def sgd(var, grad, lr):
    for i in range(var.size):
        var[i] -= lr * grad[i]


@numba.njit(**_NJ)
def momentum(var, accum, grad, lr, mu, nesterov):
    for i in range(var.size):
        a = accum[i] * mu + grad[i]
        accum[i] = a
        if nesterov:
            var[i] -= lr * grad[i] + lr * mu * a
        else:
            var[i] -= lr * a


# Scalars arrive in the variable's dtype (float32 arithmetic for float32 variables): the
# callers precompute 1 - rho, 1 - beta and Adam's bias-corrected step size.


@numba.njit(**_NJ)
def rmsprop(var, ms, mom, grad, lr, rho, c_rho, mu, eps):
    for i in range(var.size):
        g = grad[i]
        m = rho * ms[i] + c_rho * g * g
        ms[i] = m
        d = mu * mom[i] + lr * g / math.sqrt(m + eps)
        mom[i] = d
        var[i] -= d


@numba.njit(**_NJ)
def centered_rmsprop(var, ms, mg, mom, grad, lr, c_rho, mu, eps):
    for i in range(var.size):
        g = grad[i]
        s = ms[i] + (g * g - ms[i]) * c_rho
        a = mg[i] + (g - mg[i]) * c_rho
        ms[i] = s
        mg[i] = a
        d = mu * mom[i] + lr * g / math.sqrt(s - a * a + eps)
        mom[i] = d
        var[i] -= d


@numba.njit(**_NJ)
def adam(var, m, v, grad, lr_t, b1, c1, b2, c2, eps):
    for i in range(var.size):
        g = grad[i]
        mi = b1 * m[i] + c1 * g
        vi = b2 * v[i] + c2 * g * g
        m[i] = mi
        v[i] = vi
        var[i] -= lr_t * mi / (math.sqrt(vi) + eps)


@numba.njit(**_NJ)
def adagrad(var, accum, grad, lr):
    for i in range(var.size):
        g = grad[i]
        a = accum[i] + g * g
        accum[i] = a
        var[i] -= lr * g / math.sqrt(a)


@numba.njit(**_NJ)
def copy_flat(dst, src):
    for i in range(dst.size):
        dst[i] = src[i]


@numba.njit(**_NJ)
def add_flat(dst, src):
    for i in range(dst.size):
        dst[i] += src[i]


def _flat(a: np.ndarray) -> np.ndarray:
    return a.reshape(-1)  # variables are C-contiguous: a view


def _grad(g: np.ndarray, like: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.broadcast_to(g, like.shape)).reshape(-1)


@register_kernel("apply_gradient_descent", "cpu")
def apply_gradient_descent_cpu(attrs, var, lr, grad):
    T = var.dtype.type
    sgd(_flat(var), _grad(grad, var), T(lr))
    return (var,)


@register_kernel("apply_momentum", "cpu")
def apply_momentum_cpu(attrs, var, accum, lr, grad, mu):
    T = var.dtype.type
    momentum(_flat(var), _flat(accum), _grad(grad, var), T(lr), T(mu), attrs["nesterov"])
    return var, accum


@register_kernel("apply_rms_prop", "cpu")
def apply_rms_prop_cpu(attrs, var, ms, mom, lr, grad):
    T, rho = var.dtype.type, attrs["rho"]
    rmsprop(_flat(var), _flat(ms), _flat(mom), _grad(grad, var), T(lr), T(rho), T(1.0 - rho),
            T(attrs["momentum"]), T(attrs["epsilon"]))
    return var, ms, mom


@register_kernel("apply_centered_rms_prop", "cpu")
def apply_centered_rms_prop_cpu(attrs, var, ms, mg, mom, lr, grad):
    T = var.dtype.type
    centered_rmsprop(_flat(var), _flat(ms), _flat(mg), _flat(mom), _grad(grad, var), T(lr),
                     T(1.0 - attrs["rho"]), T(attrs["momentum"]), T(attrs["epsilon"]))
    return var, ms, mg, mom


@register_step_emitter("apply_centered_rms_prop", imports=["from kernels.cpu.optim import centered_rmsprop"])
def emit_apply_centered_rms_prop(gen, op):
    ins = dict(zip(("var", "ms", "mg", "mom", "lr", "grad"), op.inputs))
    T = f"np.{ins['var'].dtype.np.name}"
    flat = ", ".join(f"{gen.v(ins[n])}.reshape(-1)" for n in ("var", "ms", "mg", "mom", "grad"))
    a = op.attrs
    gen.emit(f"centered_rmsprop({flat}, {T}({gen.scalar(ins['lr'])}), {T}({1.0 - a['rho']!r}), "
             f"{T}({a['momentum']!r}), {T}({a['epsilon']!r}))")


@register_kernel("apply_adam", "cpu")
def apply_adam_cpu(attrs, var, m, v, lr, t, grad):
    T, b1, b2 = var.dtype.type, attrs["beta1"], attrs["beta2"]
    adam(_flat(var), _flat(m), _flat(v), _grad(grad, var), T(adam_step_size(float(lr), float(t), b1, b2)),
         T(b1), T(1.0 - b1), T(b2), T(1.0 - b2), T(attrs["epsilon"]))
    return var, m, v


@register_kernel("apply_adagrad", "cpu")
def apply_adagrad_cpu(attrs, var, accum, lr, grad):
    T = var.dtype.type
    adagrad(_flat(var), _flat(accum), _grad(grad, var), T(lr))
    return var, accum


@register_kernel("assign", "cpu")
def assign_cpu(attrs, value):
    # a copy: NumPy's compiled copy loop, as the movement ops use (a Numba kernel here was the
    # one compile every initializer run paid, ~0.5 s cold, for the same bytes)
    return (np.array(value, order="C", copy=True),)


@register_kernel("assign_add", "cpu")
def assign_add_cpu(attrs, var, delta):
    add_flat(_flat(var), _grad(delta, var))
    return (var,)


@numba.njit(**_NJ)
def scale_flat(dst, s):
    for i in range(dst.size):
        dst[i] *= s
