"""Bit-for-bit comparison of arrays that two code paths computed (the interim step's Python
twins against the compiled kernels and loops)."""
import numpy as np


def same(a, b) -> None:
    """Equal dtype, shape and values, NaN where NaN and the sign of every zero; not a NaN's own
    sign bit, which follows the operand order of the machine code and which no arithmetic or
    comparison can see."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, b.dtype, a.shape, b.shape)
    if a.dtype.kind in "fc":
        num = ~np.isnan(a)
        assert np.array_equal(a, b, equal_nan=True), "values differ"
        assert np.array_equal(np.signbit(a[num]), np.signbit(b[num])), "signs of zeros differ"
    else:
        assert np.array_equal(a, b)
