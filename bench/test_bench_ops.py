"""pytest-benchmark: single op kernels at the shapes of the 784-512-512-10 B=128 step.

Run: ``pytest bench/test_bench_ops.py --benchmark-enable`` (not part of ``tests/``).
Each case builds the op with the public API (so the attrs are exactly what the graph would
carry) and times the registered kernel called directly, on the compiled CPU kernels and on the
NumPy reference backend.
"""
from __future__ import annotations

import numpy as np
import pytest

import graphengine as ge
from kernels.registry import get_kernel

B = 128
rng = np.random.default_rng(0)
f32 = lambda *s: rng.standard_normal(s).astype(np.float32)

# name -> (builder over placeholders, input arrays)
CASES = {
    "matmul_fwd": (lambda a, b: ge.matmul(a, b), [f32(B, 784), f32(784, 512)]),
    "matmul_dW": (lambda a, b: ge.matmul(a, b, transpose_a=True), [f32(B, 784), f32(B, 512)]),
    "matmul_dX": (lambda a, b: ge.matmul(a, b, transpose_b=True), [f32(B, 512), f32(784, 512)]),
    "bias_add": (lambda a, b: a + b, [f32(B, 512), f32(512)]),
    "relu": (lambda a: ge.nn.relu(a), [f32(B, 512)]),
    "relu_grad_mul": (lambda a, b: a * ge.cast(b > 0, ge.float32), [f32(B, 512), f32(B, 512)]),
    "reduce_sum_axis0": (lambda a: ge.reduce_sum(a, axis=0), [f32(B, 512)]),
    "sparse_softmax_xent": (
        lambda a, b: ge.nn.sparse_softmax_cross_entropy_with_logits(labels=b, logits=a),
        [f32(B, 10), rng.integers(0, 10, B).astype(np.int64)]),
}


def _op(name):
    build, arrays = CASES[name]
    g = ge.Graph()
    with g.as_default():
        phs = [ge.placeholder(ge.as_dtype(a.dtype), a.shape) for a in arrays]
        out = build(*phs)
    return out.op, arrays


@pytest.mark.parametrize("backend", ["cpu", "reference"])
@pytest.mark.parametrize("name", list(CASES))
def test_op_kernel(benchmark, name, backend):
    op, arrays = _op(name)
    kernel = get_kernel(op.type, backend)
    attrs = op.attrs
    kernel(attrs, *arrays)  # compile
    benchmark.group = f"op:{name}"
    benchmark(kernel, attrs, *arrays)
