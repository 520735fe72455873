"""Fused optimizer updates: one Numba-CUDA kernel per optimizer, writing the variable and its
slots in place. Scalars that are tensors (learning rate, Adam's step, momentum) stay on the
device as 0-d arrays and are read inside the kernel, so a schedule never forces a host sync.
"""
from __future__ import annotations

import math
from typing import Any

from numba import cuda

from graphengine.ops.facts import adam_step_size
from kernels.registry import register_kernel

from . import device
from .elementwise import flat, launch_map


@cuda.jit
def sgd_kernel(var, lr, grad, n):
    i = cuda.grid(1)
    while i < n:
        var[i] -= lr[0] * grad[i]
        i += cuda.gridsize(1)


@cuda.jit
def momentum_kernel(var, accum, lr, grad, mom, n, nesterov):
    i = cuda.grid(1)
    while i < n:
        a = accum[i] * mom[0] + grad[i]
        accum[i] = a
        if nesterov:
            var[i] -= lr[0] * grad[i] + lr[0] * mom[0] * a
        else:
            var[i] -= lr[0] * a
        i += cuda.gridsize(1)


@cuda.jit
def rms_prop_kernel(var, ms, mom, lr, grad, n, rho, momentum, eps):
    i = cuda.grid(1)
    while i < n:
        g = grad[i]
        s = rho * ms[i] + (1 - rho) * g * g
        ms[i] = s
        m = momentum * mom[i] + lr[0] * g / math.sqrt(s + eps)
        mom[i] = m
        var[i] -= m
        i += cuda.gridsize(1)


@cuda.jit
def centered_rms_prop_kernel(var, ms, mg, mom, lr, grad, n, c_rho, momentum, eps):
    i = cuda.grid(1)
    while i < n:
        g = grad[i]
        s = ms[i] + (g * g - ms[i]) * c_rho
        a = mg[i] + (g - mg[i]) * c_rho
        ms[i] = s
        mg[i] = a
        m = momentum * mom[i] + lr[0] * g / math.sqrt(s - a * a + eps)
        mom[i] = m
        var[i] -= m
        i += cuda.gridsize(1)


adam_step_size_device = cuda.jit(device=True)(adam_step_size)


@cuda.jit
def adam_kernel(var, m, v, lr, t, grad, n, b1, b2, eps):
    i = cuda.grid(1)
    lr_t = adam_step_size_device(lr[0], t[0], b1, b2)
    while i < n:
        g = grad[i]
        mi = b1 * m[i] + (1 - b1) * g
        vi = b2 * v[i] + (1 - b2) * g * g
        m[i] = mi
        v[i] = vi
        var[i] -= lr_t * mi / (math.sqrt(vi) + eps)
        i += cuda.gridsize(1)


@cuda.jit
def adagrad_kernel(var, accum, lr, grad, n):
    i = cuda.grid(1)
    while i < n:
        g = grad[i]
        a = accum[i] + g * g
        accum[i] = a
        var[i] -= lr[0] * g / math.sqrt(a)
        i += cuda.gridsize(1)


def _go(kernel: Any, n: int, *args: Any) -> None:
    if n:
        device.current().launch(kernel, device.blocks_for(n), device.TPB, *args)


def _n(x: Any) -> int:
    return int(flat(x).shape[0]) if len(x.shape) else 1


@register_kernel("apply_gradient_descent", "cuda")
def apply_gradient_descent_cuda(attrs: dict, var: Any, lr: Any, grad: Any) -> tuple:
    _go(sgd_kernel, _n(var), flat(var), flat(lr), flat(grad), _n(var))
    return (var,)


@register_kernel("apply_momentum", "cuda")
def apply_momentum_cuda(attrs: dict, var: Any, accum: Any, lr: Any, grad: Any, mom: Any) -> tuple:
    _go(momentum_kernel, _n(var), flat(var), flat(accum), flat(lr), flat(grad), flat(mom), _n(var),
        bool(attrs["nesterov"]))
    return var, accum


@register_kernel("apply_rms_prop", "cuda")
def apply_rms_prop_cuda(attrs: dict, var: Any, ms: Any, mom: Any, lr: Any, grad: Any) -> tuple:
    _go(rms_prop_kernel, _n(var), flat(var), flat(ms), flat(mom), flat(lr), flat(grad), _n(var),
        float(attrs["rho"]), float(attrs["momentum"]), float(attrs["epsilon"]))
    return var, ms, mom


@register_kernel("apply_centered_rms_prop", "cuda")
def apply_centered_rms_prop_cuda(attrs: dict, var: Any, ms: Any, mg: Any, mom: Any, lr: Any,
                                 grad: Any) -> tuple:
    _go(centered_rms_prop_kernel, _n(var), flat(var), flat(ms), flat(mg), flat(mom), flat(lr),
        flat(grad), _n(var), 1.0 - float(attrs["rho"]), float(attrs["momentum"]), float(attrs["epsilon"]))
    return var, ms, mg, mom


@register_kernel("apply_adam", "cuda")
def apply_adam_cuda(attrs: dict, var: Any, m: Any, v: Any, lr: Any, t: Any, grad: Any) -> tuple:
    _go(adam_kernel, _n(var), flat(var), flat(m), flat(v), flat(lr), flat(t), flat(grad), _n(var),
        float(attrs["beta1"]), float(attrs["beta2"]), float(attrs["epsilon"]))
    return var, m, v


@register_kernel("apply_adagrad", "cuda")
def apply_adagrad_cuda(attrs: dict, var: Any, accum: Any, lr: Any, grad: Any) -> tuple:
    _go(adagrad_kernel, _n(var), flat(var), flat(accum), flat(lr), flat(grad), _n(var))
    return var, accum


@register_kernel("assign", "cuda")
def assign_cuda(attrs: dict, value: Any) -> tuple:
    return (value,)  # DeviceState.write copies it into the variable's own buffer


@register_kernel("assign_add", "cuda")
def assign_add_cuda(attrs: dict, var: Any, delta: Any) -> tuple:
    launch_map("x0 + x1", var, [var, delta])  # in place: each thread reads and writes index i
    return (var,)
