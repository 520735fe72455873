"""kernels.cpu.pykernels: every twin against its compiled kernel, bit for bit (signs of zeros and
NaN positions included; a NaN's own sign bit follows the operand order the machine code uses,
and no arithmetic or comparison can see it), in float32 and float64, with NaN/inf and empty
inputs."""
import numpy as np
import pytest
from bits import same

from kernels.cpu import nn, optim, pykernels, reduce

pytestmark = pytest.mark.skipif(not pykernels.available(), reason="libm not reachable through ctypes")
DT = [np.float32, np.float64]


def data(shape, dt, seed=0, special=True, scale=3.0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * scale).astype(dt)
    if special and x.size >= 8:
        f = x.reshape(-1)
        f[1], f[3], f[5], f[7] = np.nan, np.inf, -np.inf, -0.0
    return x


def both(name, make):
    """Run the compiled kernel and its twin on equal copies of ``make()``'s arguments; compare
    the return values and every array argument afterwards."""
    args_k, args_t = make(), make()
    with np.errstate(all="ignore"):
        rk = pykernels._KERNELS[name](*args_k)
        rt = pykernels.TWINS[name](*args_t)
    assert rk == rt
    for a, b in zip(args_k, args_t):
        if isinstance(a, np.ndarray):
            same(b, a)


@pytest.mark.parametrize("dt", DT)
@pytest.mark.parametrize("shape", [(3, 7, 5), (1, 40, 1), (4, 0, 2), (0, 3, 2), (2, 1, 9)])
@pytest.mark.parametrize("special", [False, True])
def test_reductions(dt, shape, special):
    a, r, b = shape
    both("sum3", lambda: (data(shape, dt, 1, special), np.empty((a, b), dt)))
    both("max3", lambda: (data(shape, dt, 2, special), np.empty((a, b), dt), 1, -np.inf))
    both("max3", lambda: (data(shape, dt, 3, special), np.empty((a, b), dt), -1, np.inf))
    if r:
        both("argmax3", lambda: (data(shape, dt, 4, special), np.empty((a, b), np.int64), 1))
        both("argmax3", lambda: (data(shape, dt, 5, special), np.empty((a, b), np.int32), -1))
    both("mean_div", lambda: (data((a * b,), dt, 6, special), r))
    both("expand3", lambda: (data((a, b), dt, 7, special), np.empty(shape, dt), 1.0 / max(r, 1)))
    both("expand3", lambda: (data((a, b), dt, 8, special), np.empty(shape, dt), dt(0.5)))


def test_argmax_ties_and_leading_nan():
    x = np.array([[[1.0], [3.0], [3.0], [np.nan], [5.0]], [[np.nan], [1.0], [2.0], [2.0], [0.0]]], np.float32)
    both("argmax3", lambda: (x.copy(), np.empty((2, 1), np.int64), 1))
    both("argmax3", lambda: (x.copy(), np.empty((2, 1), np.int64), -1))


@pytest.mark.parametrize("dt", [np.int32, np.int64])
def test_integer_reductions(dt):
    rng = np.random.default_rng(0)
    x = rng.integers(-50, 50, (3, 6, 4)).astype(dt)
    both("sum3", lambda: (x.copy(), np.empty((3, 4), dt)))
    both("max3", lambda: (x.copy(), np.empty((3, 4), dt), 1, np.iinfo(dt).min))
    m = rng.integers(-50, 50, 12).astype(dt)
    both("imean_div", lambda: (m.copy(), 7))
    both("imean_div", lambda: (np.arange(-5, 5).astype(dt), 0))


@pytest.mark.parametrize("dt", DT)
@pytest.mark.parametrize("n", [0, 1, 37, 1000])
def test_optimizer_updates(dt, n):
    T = dt
    v = lambda s: data((n,), dt, s, special=n >= 8, scale=1.0)  # noqa: E731
    pos = lambda s: np.abs(v(s))  # noqa: E731
    both("sgd", lambda: (v(1), v(2), T(0.1)))
    both("sgd", lambda: (v(1), v(2), 0.1))            # a Python float: float64 arithmetic
    both("momentum", lambda: (v(1), v(3), v(2), T(0.1), T(0.9), False))
    both("momentum", lambda: (v(1), v(3), v(2), T(0.1), 0.9, True))
    both("rmsprop", lambda: (v(1), pos(3), v(4), v(2), T(0.01), T(0.9), T(0.1), T(0.5), T(1e-7)))
    both("centered_rmsprop", lambda: (v(1), pos(3), v(5), v(4), v(2), T(0.01), T(0.1), T(0.5), T(1e-7)))
    both("adam", lambda: (v(1), v(3), pos(4), v(2), T(1e-3), T(0.9), T(0.1), T(0.999), T(0.001), T(1e-8)))
    both("adagrad", lambda: (v(1), pos(3) + 0.1, v(2), T(0.1)))
    both("copy_flat", lambda: (v(1), v(2)))
    both("add_flat", lambda: (v(1), v(2)))
    both("scale_flat", lambda: (v(1), T(0.5)))
    both("scale_flat", lambda: (v(1), 3))


@pytest.mark.parametrize("dt", DT)
@pytest.mark.parametrize("shape", [(5, 10), (1, 1), (0, 4), (64, 100), (3, 0)])
@pytest.mark.parametrize("special", [False, True])
def test_softmax_and_xent(dt, shape, special):
    n, c = shape
    rng = np.random.default_rng(1)
    for log in (False, True):
        both("softmax_rows", lambda: (data(shape, dt, 2, special), np.empty(shape, dt), log))
    labels = rng.dirichlet(np.ones(max(c, 1)), n)[:, :c].astype(dt)
    both("dense_xent_rows", lambda: (data(shape, dt, 3, special), labels.copy(), np.empty(n, dt), np.empty(shape, dt)))
    if c:
        idx = rng.integers(0, c, n).astype(np.int64)
        both("sparse_xent_rows", lambda: (data(shape, dt, 4, special), idx.copy(), np.empty(n, dt),
                                          np.empty(shape, dt)))
        if n > 2:   # a bad label: the rows before it are done, the kernel returns its row
            bad = idx.copy()
            bad[2] = c
            both("sparse_xent_rows", lambda: (data(shape, dt, 4, special), bad.copy(), np.zeros(n, dt),
                                              np.zeros(shape, dt)))


@pytest.mark.parametrize("dt", [np.float32, np.int32, np.bool_])
def test_one_hot(dt):
    idx = np.array([0, 3, -1, 4, 2, 9, 0], np.int64)
    both("one_hot_flat", lambda: (idx.copy(), 4, 1.5 if dt is np.float32 else 1, 0, np.full((7, 4), 7, dt)))
    both("one_hot_flat", lambda: (idx[:0].copy(), 4, 1, 0, np.empty((0, 4), dt)))
    both("one_hot_flat", lambda: (idx.astype(np.uint8) % 5, 4, -2.25, 0.5, np.empty((7, 4), np.float64)))


def test_large_logits_and_float64_scalars():
    x = np.array([[1e4, -1e4, 0.0], [88.0, 89.0, -104.0], [-np.inf, -np.inf, -np.inf]], np.float32)
    lab = np.array([[0.2, 0.3, 0.5]] * 3, np.float32)
    both("dense_xent_rows", lambda: (x.copy(), lab.copy(), np.empty(3, np.float32), np.empty((3, 3), np.float32)))
    both("softmax_rows", lambda: (x.copy(), np.empty((3, 3), np.float32), True))


def test_twins_stand_for_the_kernels_the_step_imports():
    assert pykernels._KERNELS["sum3"] is reduce.sum3 and pykernels._KERNELS["adam"] is optim.adam
    assert pykernels._KERNELS["dense_xent_rows"] is nn.dense_xent_rows


def test_twins_ignore_numpys_error_settings():
    """The compiled kernels give IEEE results (inf, NaN) whatever ``np.seterr`` says; so must the
    interim step's twins, or a user's ``np.seterr(all="raise")`` would fail only its first steps."""
    from kernels.cpu import pyblas
    x = np.array([[1e38, -1e38, 0.0]], np.float32)
    f = x.reshape(-1)
    T = pykernels.TWINS
    old = np.seterr(all="raise")
    try:
        T["dense_xent_rows"](x.copy(), np.full((1, 3), 1 / 3, np.float32), np.empty(1, np.float32),
                             np.empty((1, 3), np.float32))
        T["adam"](f.copy(), f.copy(), np.zeros(3, np.float32), f.copy(),
                  *map(np.float32, (1e-3, 0.9, 0.1, 0.999, 0.001, 0.0)))   # g * g overflows, 0 / 0
        T["mean_div"](f.copy(), 0)
        T["sum3"](x.reshape(1, 3, 1) * np.float32(1), np.empty((1, 1), np.float32))
        out = np.empty((1, 1), np.float32)
        pyblas.matmul_nn(x, x.T.copy(), out)   # overflows: inf, no exception
        assert np.isinf(out[0, 0])
    finally:
        np.seterr(**old)


@pytest.mark.parametrize("dt", [np.float32, np.float64, np.int64])
def test_as_shape_is_a_c_view_of_the_first_elements(dt):
    """The generated step's pool views (``movement.as_shape``, built without Numba's reshape
    helper) and the interim step's twin: the same values, a view of the same memory."""
    from kernels.cpu import movement
    src = np.arange(30).astype(dt)
    for a in (src, src.reshape(5, 6)):
        for shape in [(2, 3), (5,), (1, 4, 1), (0, 3), (30,), (2, 3, 5), (1,)]:
            k, t = movement.as_shape(a, shape), pykernels.as_shape(a, shape)
            assert k.shape == t.shape == shape and k.flags.c_contiguous and k.dtype == dt
            n = int(np.prod(shape))
            np.testing.assert_array_equal(k, src[:n].reshape(shape))
            np.testing.assert_array_equal(t, k)
            if n:
                assert np.shares_memory(k, src) and np.shares_memory(t, src)
    k = movement.as_shape(src, (3, 2))
    k[1, 1] = -7
    assert src[3] == -7   # a view: writes land in the source
