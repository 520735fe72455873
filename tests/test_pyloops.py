"""kernels.cpu.pyloops: NumPy twins of generated one-op loops against the compiled loops, bit
for bit (signs of zeros and NaN positions included), in the forms the generator writes: flat
maps, nests with broadcast reads, reductions over leading, trailing and all axes, a loop that
writes one element, float32 and float64, NaN/inf and empty inputs. (tests/test_step_opdb.py
runs the twins of every op-database loop through the interim step.)"""
import numpy as np
import pytest
from bits import same

from kernels.codegen import load_source
from kernels.cpu import pyloops
from kernels.cpu.outline import LOOP_HEADER, LOOP_NJIT

HEAD = LOOP_HEADER.replace("{note}", "test") + LOOP_NJIT + "\n"

FLAT_RELU_GRAD = """def loop(a0, a1, a2):
    f0 = a0.reshape(-1)
    f1 = a1.reshape(-1)
    f2 = a2.reshape(-1)
    for q in range(a2.size):
        e0 = {T}(f1[q] if f0[q] > {T}(0) else {T}(0))
        f2[q] = e0
"""
FLAT_RELU = """def loop(a0, a1):
    f0 = a0.reshape(-1)
    f1 = a1.reshape(-1)
    for q in range(a1.size):
        e0 = {T}((f0[q] if (f0[q] > {T}(0) or f0[q] != f0[q]) else {T}(0)))
        f1[q] = e0
"""
FLAT_SCALE = """def loop(a0, a1, a2):
    f0 = a0.reshape(-1)
    f1 = a1.reshape(-1)
    r0 = {T}(a2[0])
    for q in range(a1.size):
        e0 = {T}((f0[q] * r0) - 1.5 * f0[q] / (f0[q] + 2))
        f1[q] = e0
"""
NEST_BCAST = """def loop(a0, a1, a2):
    for i0 in range(a0.shape[0]):
        for i1 in range(a0.shape[1]):
            e0 = {T}(((a1[(i0 if a1.shape[0] != 1 else 0), 0]) * a2[i0, i1]) + a2[0, i1])
            a0[i0, i1] = e0
"""
NEST_ROW = """def loop(a0, a1, a2):
    for i0 in range(a0.shape[0]):
        for i1 in range(a0.shape[1]):
            e0 = {T}((a1[i0, i1] + a2[i1]))
            a0[i0, i1] = e0
"""
COLSUM = """def loop(S, a0, a1):
    for _once in range(1):
        r0 = np.zeros((1, a0.shape[1],), {T})
        for i0 in range(a0.shape[0]):
            for i1 in range(a0.shape[1]):
                r0[0, i1] += a0[i0, i1]
        r1 = r0.reshape(-1)
        r2 = a1.reshape(-1)
        for j in range(r1.size):
            r2[j] = r1[j]
"""
ROWMEAN = """def loop(S, a0, a1):
    for _once in range(1):
        r0 = np.zeros((a0.shape[0], 1,), {T})
        for i0 in range(a0.shape[0]):
            for i1 in range(a0.shape[1]):
                r0[i0, 0] += a0[i0, i1]
        r1 = r0.reshape(-1)
        r2 = a1.reshape(-1)
        for j in range(r1.size):
            r2[j] = r1[j] / (a0.shape[1])
"""
WHOLE = """def loop(S, a0, a1):
    for _once in range(1):
        r0 = np.zeros((1, a0.shape[1],), {T})
        for i0 in range(a0.shape[0]):
            for i1 in range(a0.shape[1]):
                r0[0, i1] += a0[i0, i1] * a0[i0, i1]
        r1 = r0.reshape(-1)
        r2 = a1.reshape(-1)
        r3 = 0.0
        for j in range(r1.size):
            r3 += r1[j]
        r2[0] = r3 / (a0.shape[0] * a0.shape[1])
"""
MIDDLE = """def loop(a0, S, a1):
    r0 = a0.reshape((1, a1.shape[1], 1,))
    a0.reshape(-1)[:] = 0
    for i0 in range(a1.shape[0]):
        for i1 in range(a1.shape[1]):
            for i2 in range(a1.shape[2]):
                r0[0, i1, 0] += a1[i0, i1, i2]
"""
TRANSPOSE = """def loop(a0, a1):
    for i0 in range(a0.shape[0]):
        for i1 in range(a0.shape[1]):
            a0[i0, i1] = a1[i1, i0]
"""
CONCAT = """def loop(a0, a1, a2):
    for c1_0 in range(a0.shape[0]):
        for c1_1 in range(a0.shape[1]):
            a1[a2.shape[0] + c1_0, c1_1] = a0[c1_0, c1_1]
"""
SLICE = """def loop(a0, a1, a2):
    for i0 in range(a0.shape[0]):
        for i1 in range(a0.shape[1]):
            a0[i0, i1] = a1[a2.shape[0] + i0, 0 + i1]
"""
MAXRED = """def loop(a0, S, a1):
    r0 = a0.reshape((1, a1.shape[1], 1,))
    a0.reshape(-1)[:] = (-math.inf)
    for i0 in range(a1.shape[0]):
        for i1 in range(a1.shape[1]):
            for i2 in range(a1.shape[2]):
                if a1[i0, i1, i2] > r0[0, i1, 0] or a1[i0, i1, i2] != a1[i0, i1, i2]:
                    r0[0, i1, 0] = a1[i0, i1, i2]
"""
EXPAND = """def loop(S, a0, a1):
    for _once in range(1):
        r0 = a0.reshape((1, a1.shape[1],))
        r1 = {T}(1.0 / max(a1.shape[0], 1))
        for i0 in range(a1.shape[0]):
            for i1 in range(a1.shape[1]):
                e0 = {T}(r0[0, i1] * r1)
                a1[i0, i1] = e0
"""
SCALAR_STORE = """def loop(a0, a1, a2):
    r0 = {T}(a0[0])
    for q in range(a1.size):
        e0 = {T}((a2[0] + r0))
        a1[0] = e0
"""
SELECT = """def loop(a0, a1, a2, a3):
    f0 = a0.reshape(-1)
    f1 = a1.reshape(-1)
    f2 = a2.reshape(-1)
    f3 = a3.reshape(-1)
    for q in range(a3.size):
        e0 = {T}((1 if f1[q] > 0 else (-1 if f1[q] < 0 else (f1[q] if f1[q] != f1[q] else 0))) + abs(f2[q]))
        f3[q] = e0 if (not f0[q]) and f1[q] <= f2[q] else math.sqrt(f2[q])
"""


def vals(shape, dt, seed):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 4).astype(dt)
    f = x.reshape(-1)
    for k, v in zip(range(1, f.size, 3), [np.nan, np.inf, -np.inf, -0.0, 0.0, 1e-40, -1e30]):
        f[k] = v
    return x


def check(body, dt, args):
    src = HEAD + body.replace("{T}", f"np.{np.dtype(dt).name}")
    tw = pyloops.twin(src)
    assert tw is not None, pyloops.translate(src)
    loop = load_source("oploop", src).loop
    a = [x.copy() for x in args]
    b = [x.copy() for x in args]
    with np.errstate(all="ignore"):
        loop(*a)
        tw(*b)
    for x, y in zip(a, b):
        same(y, x)


S = np.zeros((1, 1), np.int64)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(7, 5), (1, 9), (0, 3), (4, 0), (33, 17)])
def test_twins_match_compiled_loops(dt, shape):
    n, m = shape
    x, y, z = vals(shape, dt, 1), vals(shape, dt, 2), vals(shape, dt, 3)
    out = np.full(shape, 7, dt)
    check(FLAT_RELU_GRAD, dt, [x, y, out])
    check(FLAT_RELU, dt, [x, out])
    check(FLAT_SCALE, dt, [x, out, np.array([0.3], dt)])
    check(NEST_BCAST, dt, [out, vals((n, 1), dt, 4), x])
    check(NEST_BCAST, dt, [out, vals((1, 1), dt, 4), x])   # a dim broadcast at run time
    check(NEST_ROW, dt, [out, x, vals((m,), dt, 5)])
    check(COLSUM, dt, [S, x, np.full(m, 7, dt)])
    check(ROWMEAN, dt, [S, x, np.full(n, 7, dt)])
    check(WHOLE, dt, [S, x, np.full(1, 7, dt)])
    check(EXPAND, dt, [S, vals((m,), dt, 6), out])
    check(MIDDLE, dt, [np.full(m, 7, dt), S, vals((n, m, 3), dt, 7)])
    check(TRANSPOSE, dt, [np.full((m, n), 7, dt), x])
    check(MAXRED, dt, [np.full(m, 7, dt), S, vals((n, m, 3), dt, 9)])
    minred = MAXRED.replace(">", "<").replace("(-math.inf)", "math.inf")
    check(minred, dt, [np.full(m, 7, dt), S, vals((n, m, 2), dt, 9)])
    check(CONCAT, dt, [x, np.full((n + 3, m), 7, dt), np.empty((3, 1), dt)])
    check(SLICE, dt, [out, vals((n + 2, m + 1), dt, 8), np.empty((2,), dt)])
    check(SCALAR_STORE, dt, [np.array([1.25], dt), np.full(1, 7, dt), np.array([2.5], dt)])
    check(SELECT, dt, [x > 0, y, z, out])


def test_long_reduction_accumulates_in_loop_order():
    """A float32 sum whose value depends on the order of additions: pairwise (NumPy's sum)
    and sequential differ here; the twin must give the sequential one."""
    x = np.array([1e8] + [1.0] * 1000 + [-1e8], np.float32).reshape(-1, 1)
    check(COLSUM, np.float32, [S, x, np.zeros(1, np.float32)])
    assert np.float32(x.sum()) != 0.0   # pairwise keeps the ones
    out = np.zeros(1, np.float32)
    pyloops.twin(HEAD + COLSUM.replace("{T}", "np.float32"))(S, x, out)
    assert out[0] == 0.0   # sequentially, every 1.0 is lost against 1e8


def test_mixed_precision_accumulator_rounds_every_step():
    body = COLSUM.replace("r0[0, i1] += a0[i0, i1]", "r0[0, i1] += np.float64(a0[i0, i1]) * 1.1")
    x = vals((50, 3), np.float32, 9)
    check(body, np.float32, [S, x, np.zeros(3, np.float32)])


@pytest.mark.parametrize("call", ["math.exp(f0[q])", "vexp(f0[q])", "f0[q] ** 2", "math.log(f0[q])"])
def test_what_it_cannot_mirror_keeps_the_compiled_loop(call):
    src = HEAD + f"""def loop(a0, a1):
    f0 = a0.reshape(-1)
    f1 = a1.reshape(-1)
    for q in range(a1.size):
        f1[q] = {call}
"""
    assert pyloops.twin(src) is None
    with pytest.raises(pyloops.Untranslatable):
        pyloops.translate(src)
