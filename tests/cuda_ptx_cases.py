"""Compile every Numba-CUDA kernel to PTX for sm_90 (``numba.cuda.compile_ptx``): real type
inference and NVVM code generation, catching errors the Python-level simulator cannot (a float64
that leaks into a shared array, an unsupported intrinsic). Needs NVVM (the CUDA toolkit), not a
GPU or driver. Run by tests/test_cuda_sim.py in a subprocess with the simulator OFF.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
    pytest.skip("PTX compilation needs the real Numba-CUDA target, not the simulator",
                allow_module_level=True)

from numba import boolean, cuda, float32, float64, int32, int64  # noqa: E402
from numba.cuda.cudadrv.error import CudaSupportError  # noqa: E402

from graphengine.ops.elementwise import ELEMENTWISE  # noqa: E402
from kernels.cuda import conv, matmul, movement, nn, optim, reduce  # noqa: E402
from kernels.cuda.elementwise import FLAT, STRIDED, get_map_kernel, op_expr  # noqa: E402

CC = (9, 0)
F32, F64, I64 = float32[::1], float64[::1], int64[::1]


@pytest.fixture(scope="module", autouse=True)
def nvvm_available():
    def probe(a):
        a[0] = 1.0
    try:
        cuda.compile_ptx(probe, (F32,), cc=CC)
    except Exception as e:  # noqa: BLE001 - NvvmSupportError, missing libNVVM/libdevice, ...
        pytest.skip(f"NVVM is not usable here, cannot compile PTX: {type(e).__name__}: {e}")


def _ptx(kernel, sig):
    try:
        ptx, _ = cuda.compile_ptx(kernel.py_func, sig, cc=CC)
    except CudaSupportError as e:
        # Numba compiles some builtins (min/max on mixed types) as device functions for the
        # *current* device, which needs a driver even for compile_ptx
        pytest.skip(f"compiling this kernel to PTX needs a CUDA driver in this Numba version: "
                    f"{str(e).strip().splitlines()[0]}")
    assert ".target sm_90" in ptx and ".entry" in ptx


_ATTRS = {"leaky_relu": {"alpha": 0.2}, "leaky_relu_grad": {"alpha": 0.2}}


def _ew_types(op):
    arity, rule = ELEMENTWISE[op][0], ELEMENTWISE[op][1]
    if rule == "logical":
        return [boolean[::1]] * arity, boolean[::1]
    if rule == "where":
        return [boolean[::1], F32, F32], F32
    if rule == "cast":
        return [F32], int32[::1]
    return [F32] * arity, (boolean[::1] if rule == "bool" else F32)


@pytest.mark.parametrize("op", sorted(ELEMENTWISE))
def test_elementwise_kernel_compiles(op):
    ins, out = _ew_types(op)
    expr = op_expr(op, _ATTRS.get(op, {}))
    ndim = 2
    # the flat variant, and the strided (broadcasting) variant with a rank-2 index decomposition
    for pat in (FLAT, STRIDED):
        sig = [out, int64, float64, int64, int64]
        for t in ins:
            sig += [t, int64, int64]
        _ptx(get_map_kernel(expr, (pat,) * len(ins), ndim), tuple(sig))


@pytest.mark.parametrize("dt", [float32, float64])
@pytest.mark.parametrize("mode", [reduce.SUM, reduce.MAX, reduce.MIN])
def test_reduce_kernels_compile(mode, dt):
    arr = dt[::1]
    sig = (arr, arr, int64, int64, int64, float64)
    _ptx(reduce.block_reduce_kernel(mode, np.dtype(str(dt))), sig)
    _ptx(reduce.serial_reduce_kernel(mode), sig)


@pytest.mark.parametrize("mode", [reduce.ARGMAX, reduce.ARGMIN])
def test_arg_reduce_compiles(mode):
    _ptx(reduce.arg_reduce_kernel(mode), (F32, I64, int64, int64, int64))


@pytest.mark.parametrize("dt", [float32, float64])
def test_tiled_gemm_compiles(dt):
    arr = dt[::1]
    _ptx(matmul.gemm_kernel(np.dtype(str(dt))), (arr, arr, arr, int64, int64, int64, boolean, boolean))


@pytest.mark.parametrize("log", [False, True])
def test_softmax_compiles(log):
    _ptx(nn.softmax_kernel(np.dtype(np.float32), log), (F32, F32, int64, int64))
    _ptx(nn.softmax_serial_kernel(np.dtype(np.float32), log), (F32, F32, int64, int64))


@pytest.mark.parametrize("sparse,labels", [(True, I64), (True, int32[::1]), (False, F32)])
def test_fused_xent_compiles(sparse, labels):
    _ptx(nn.xent_kernel(np.dtype(np.float32), sparse), (F32, labels, F32, F32, int64, int64))
    _ptx(nn.xent_serial_kernel(np.dtype(np.float32), sparse), (F32, labels, F32, F32, int64, int64))


def test_movement_kernels_compile():
    _ptx(movement.column_copy_kernel(), (F32, F32, int64, int64, int64, int64, boolean))
    _ptx(movement.one_hot_kernel(), (I64, F32, int64, int64, float64, float64))


@pytest.mark.parametrize("dt", [float32, float64])
def test_conv_and_pool_kernels_compile(dt):
    arr, f = dt[::1], np.dtype(str(dt))
    _ptx(conv.im2col_kernel(f), (arr, arr) + (int64,) * 14)
    _ptx(conv.col2im_kernel(f), (arr, arr) + (int64,) * 14)
    for is_max in (True, False):
        _ptx(conv.pool_kernel(f, is_max), (arr, arr) + (int64,) * 12)
        _ptx(conv.pool_grad_kernel(f, is_max), (arr, arr, arr) + (int64,) * 12)


def test_float32_conv_kernels_stay_in_float32():
    # e.g. an int64 window count dividing a float32 sum would compute in float64 (slow on GPUs)
    f = np.dtype(np.float32)
    for kern, sig in [(conv.im2col_kernel(f), (F32, F32) + (int64,) * 14),
                      (conv.col2im_kernel(f), (F32, F32) + (int64,) * 14),
                      (conv.pool_kernel(f, True), (F32, F32) + (int64,) * 12),
                      (conv.pool_kernel(f, False), (F32, F32) + (int64,) * 12),
                      (conv.pool_grad_kernel(f, True), (F32, F32, F32) + (int64,) * 12),
                      (conv.pool_grad_kernel(f, False), (F32, F32, F32) + (int64,) * 12)]:
        ptx, _ = cuda.compile_ptx(kern.py_func, sig, cc=CC)
        assert "f64" not in ptx, f"float64 arithmetic in the float32 kernel {kern.py_func.__name__}"


S = float32[::1]
OPTIM_SIGS = {
    "sgd_kernel": (F32, S, F32, int64),
    "momentum_kernel": (F32, F32, S, F32, S, int64, boolean),
    "rms_prop_kernel": (F32, F32, F32, S, F32, int64, float64, float64, float64),
    "adam_kernel": (F32, F32, F32, S, S, F32, int64, float64, float64, float64),
    "adagrad_kernel": (F32, F32, S, F32, int64),
}


@pytest.mark.parametrize("name", sorted(OPTIM_SIGS))
def test_optimizer_kernels_compile(name):
    _ptx(getattr(optim, name), OPTIM_SIGS[name])


# ----- batch norm, gather / scatter-add (issue 13) ---------------------------------------------
def test_batch_norm_and_gather_kernels_compile():
    from kernels.cuda import batchnorm, gather
    f64 = float64
    for dt in (F32, F64):
        _ptx(batchnorm.stats_kernel(), (dt, dt, dt, dt, F64, int64, int64, int64, f64, f64))
        _ptx(batchnorm.grad_sums_kernel(), (dt, dt, dt, dt, dt, dt, dt, F64, dt, dt, int64, int64, int64, f64, f64))
        _ptx(batchnorm.apply_kernel(), (dt, dt, F64, dt, dt, int64, int64, int64))
        _ptx(batchnorm.grad_apply_kernel(), (dt, dt, dt, F64, dt, int64, int64, int64))
        for it in (int32[::1], I64):
            _ptx(gather.gather_kernel(), (dt, it, dt, int64, int64, int64, int64))
            _ptx(gather.scatter_add_kernel(), (dt, it, dt, int64, int64, int64, int64))
        _ptx(gather.zero_kernel(), (dt, int64))
