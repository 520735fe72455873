"""Kernels for graphengine ops, registered per (op, backend). Backends load lazily by name."""
from .registry import get_kernel, kernel_exempt, missing_kernels, register_kernel

__all__ = ["get_kernel", "kernel_exempt", "missing_kernels", "register_kernel"]
