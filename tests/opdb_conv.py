"""Op-database entries for convolution and pooling (imported by opdb.py into OP_DB).

The references loop over kernel taps / window positions with the padding written out again from
TF's documentation (out = ceil(in / s) for SAME, pad the smaller half before), independent of
graphengine.ops.conv's strided-view references. Shapes are tiny: the CUDA simulator runs
every sample. Values for max pooling are a shuffled grid (no ties within 0.1), so central
differences never flip a window's maximum; ties and NaN get forward-only samples.
"""
from __future__ import annotations

import numpy as np
from opdb import OpInfo, Sample, _rng, randn

import graphengine as ge
from graphengine.ops import conv as _conv


def _pair(v, data_format="NHWC"):
    if isinstance(v, int):
        return v, v
    v = list(v)
    if len(v) == 4:
        return (v[1], v[2]) if data_format == "NHWC" else (v[2], v[3])
    return (v[0], v[0]) if len(v) == 1 else (v[0], v[1])


def _geom(size, k, s, d, padding):
    """(out, pad before) as TF documents it."""
    ek = (k - 1) * d + 1
    if padding == "VALID":
        return (size - ek) // s + 1 if size >= ek else 0, 0
    out = -(-size // s)
    return out, max(0, (out - 1) * s + ek - size) // 2


def _nhwc(x, fmt):
    return x if fmt == "NHWC" else x.transpose(0, 2, 3, 1)


def _back(y, fmt):
    return y if fmt == "NHWC" else y.transpose(0, 3, 1, 2)


def _np_conv2d(x, w, strides=1, padding="VALID", dilations=1, data_format="NHWC"):
    x = _nhwc(x, data_format)
    n, h, wd, _ = x.shape
    kh, kw, _, co = w.shape
    (sh, sw), (dh, dw) = _pair(strides, data_format), _pair(dilations, data_format)
    oh, ph = _geom(h, kh, sh, dh, padding)
    ow, pw = _geom(wd, kw, sw, dw, padding)
    y = np.zeros((n, oh, ow, co))
    for i in range(oh):
        for j in range(ow):
            for a in range(kh):
                for b in range(kw):
                    ih, iw = i * sh - ph + a * dh, j * sw - pw + b * dw
                    if 0 <= ih < h and 0 <= iw < wd:
                        y[:, i, j] += x[:, ih, iw] @ w[a, b]
    return _back(y, data_format)


def _np_conv2d_transpose(v, w, output_shape, strides=1, padding="SAME", data_format="NHWC"):
    """The adjoint of _np_conv2d in its input: every output entry of the forward conv scattered
    back through the filter taps."""
    v = _nhwc(v, data_format)
    shape = list(output_shape) if data_format == "NHWC" else [output_shape[i] for i in (0, 2, 3, 1)]
    n, h, wd, c = v.shape[0], shape[1], shape[2], shape[3]
    kh, kw = w.shape[:2]
    sh, sw = _pair(strides, data_format)
    oh, ph = _geom(h, kh, sh, 1, padding)
    ow, pw = _geom(wd, kw, sw, 1, padding)
    assert (oh, ow) == v.shape[1:3]
    x = np.zeros((n, h, wd, c))
    for i in range(oh):
        for j in range(ow):
            for a in range(kh):
                for b in range(kw):
                    ih, iw = i * sh - ph + a, j * sw - pw + b
                    if 0 <= ih < h and 0 <= iw < wd:
                        x[:, ih, iw] += v[:, i, j] @ w[a, b].T
    return _back(x, data_format)


def _np_filter_grad(x, dy, filter_hw, strides=1, padding="VALID", dilations=1):
    n, h, wd, c = x.shape
    kh, kw = filter_hw
    (sh, sw), (dh, dw) = _pair(strides), _pair(dilations)
    _, ph = _geom(h, kh, sh, dh, padding)
    _, pw = _geom(wd, kw, sw, dw, padding)
    g = np.zeros((kh, kw, c, dy.shape[3]))
    for i in range(dy.shape[1]):
        for j in range(dy.shape[2]):
            for a in range(kh):
                for b in range(kw):
                    ih, iw = i * sh - ph + a * dh, j * sw - pw + b * dw
                    if 0 <= ih < h and 0 <= iw < wd:
                        g[a, b] += x[:, ih, iw].T @ dy[:, i, j]
    return g


def _windows(x, ksize, strides, padding):
    """Yield (oh, ow, the window's (ih, iw) positions inside x) for every pooling window."""
    _, h, wd, _ = x.shape
    (kh, kw), (sh, sw) = _pair(ksize), _pair(strides)
    oh, ph = _geom(h, kh, sh, 1, padding)
    ow, pw = _geom(wd, kw, sw, 1, padding)
    for i in range(oh):
        for j in range(ow):
            yield i, j, [(i * sh - ph + a, j * sw - pw + b) for a in range(kh) for b in range(kw)
                         if 0 <= i * sh - ph + a < h and 0 <= j * sw - pw + b < wd]


def _np_pool(kind):
    def ref(x, ksize, strides, padding="VALID", data_format="NHWC"):
        x = _nhwc(x, data_format)
        (kh, kw), (sh, sw) = _pair(ksize, data_format), _pair(strides, data_format)
        oh = _geom(x.shape[1], kh, sh, 1, padding)[0]
        ow = _geom(x.shape[2], kw, sw, 1, padding)[0]
        y = np.zeros((x.shape[0], oh, ow, x.shape[3]))
        for i, j, pos in _windows(x, (kh, kw), (sh, sw), padding):
            vals = np.stack([x[:, a, b] for a, b in pos])   # entries inside x only
            y[:, i, j] = vals.max(0) if kind == "max" else vals.sum(0) / len(pos)
        return _back(y, data_format)
    return ref


def _np_max_pool_grad(x, g, ksize, strides, padding="VALID"):
    dx = np.zeros_like(x)
    for i, j, pos in _windows(x, ksize, strides, padding):
        vals = np.stack([x[:, a, b] for a, b in pos])       # (window, N, C)
        first = np.argmax(vals, axis=0)                       # first maximum (first NaN if any)
        for nn in range(x.shape[0]):
            for c in range(x.shape[3]):
                a, b = pos[first[nn, c]]
                dx[nn, a, b, c] += g[nn, i, j, c]
    return dx


def _np_avg_pool_grad(g, input_hw, ksize, strides, padding="VALID"):
    x = np.zeros((g.shape[0], *input_hw, g.shape[3]))
    for i, j, pos in _windows(x, ksize, strides, padding):
        for a, b in pos:
            x[:, a, b] += g[:, i, j] / len(pos)
    return x


def _shuffled(rng, shape):
    """Distinct values 0.1 apart, shuffled: no two entries of a window tie."""
    n = int(np.prod(shape))
    return (rng.permutation(n).astype(np.float64) * 0.1 - 0.05 * n).reshape(shape)


def _nan_inf(rng, shape):
    x = randn(rng, shape)
    flat = x.reshape(-1)
    flat[::7] = np.nan
    flat[3::11] = np.inf
    flat[5::13] = -np.inf
    return x


def _conv_samples():
    rng = _rng("conv2d")
    c = lambda xs, ws, name, grad=True, **kw: Sample((randn(rng, xs), randn(rng, ws)), kw, name, grad=grad)  # noqa: E731
    return [
        c((2, 5, 5, 2), (3, 3, 2, 3), "valid", padding="VALID"),
        c((2, 6, 5, 2), (3, 3, 2, 3), "same_stride2", strides=2, padding="SAME"),
        c((1, 6, 6, 2), (2, 3, 2, 2), "same_dilation2_even_kernel", padding="SAME", dilations=2),
        c((2, 7, 5, 1), (3, 2, 1, 2), "valid_strides21_4vector", strides=[1, 2, 1, 1], padding="VALID"),
        c((2, 2, 5, 5), (3, 3, 2, 3), "nchw_same_stride2", strides=[1, 1, 2, 2], padding="SAME",
          data_format="NCHW"),
        c((2, 3, 3, 4), (1, 1, 4, 3), "1x1_gemm", padding="VALID"),
        c((2, 5, 4, 4), (3, 3, 4, 2), "same_wide_rows", padding="SAME"),   # KW * C > NARROW: row-wise im2col
        c((2, 4, 4, 2), (2, 2, 2, 2), "valid_dilation2_stride2", strides=2, padding="VALID", dilations=2),
        c((0, 5, 5, 2), (3, 3, 2, 3), "empty_batch", padding="SAME"),
        Sample((_nan_inf(rng, (1, 4, 4, 2)), randn(rng, (2, 2, 2, 2))), {"padding": "SAME"}, "nan_inf",
               grad=False),
    ]


def _transpose_samples():
    rng = _rng("conv2d_transpose")
    t = lambda vs, ws, out, name, **kw: Sample((randn(rng, vs), randn(rng, ws)), {"output_shape": out, **kw}, name)  # noqa: E731
    return [
        t((2, 3, 3, 3), (3, 3, 2, 3), [2, 6, 6, 2], "same_stride2", strides=2, padding="SAME"),
        t((2, 2, 2, 3), (3, 3, 2, 3), [-1, 5, 5, 2], "valid_stride2", strides=2, padding="VALID"),
        t((2, 2, 2, 3), (3, 3, 2, 3), [2, 6, 6, 2], "valid_stride2_extra_row", strides=2, padding="VALID"),
        t((1, 3, 4, 2), (2, 3, 1, 2), [1, 3, 4, 1], "same_stride1", strides=1, padding="SAME"),
        t((2, 3, 3, 3), (3, 3, 2, 3), [2, 2, 5, 5], "nchw", strides=[1, 1, 2, 2], padding="SAME",
          data_format="NCHW"),
        t((0, 3, 3, 3), (3, 3, 2, 3), [0, 6, 6, 2], "empty_batch", strides=2, padding="SAME"),
    ]


def _filter_grad_samples():
    rng = _rng("conv2d_backprop_filter")
    out = []
    for name, xs, k, kw in [("same_stride2", (2, 5, 6, 2), (3, 3), {"strides": 2, "padding": "SAME"}),
                            ("valid_dilation2", (1, 6, 6, 3), (2, 2), {"dilations": 2, "padding": "VALID"}),
                            ("empty_batch", (0, 4, 4, 2), (3, 3), {"padding": "SAME"})]:
        s, d = _pair(kw.get("strides", 1)), _pair(kw.get("dilations", 1))
        oh = _geom(xs[1], k[0], s[0], d[0], kw["padding"])[0]
        ow = _geom(xs[2], k[1], s[1], d[1], kw["padding"])[0]
        out.append(Sample((randn(rng, xs), randn(rng, (xs[0], oh, ow, 2))), {"filter_hw": k, **kw}, name))
    return out


def _filter_grad_op(x, dy, filter_hw, strides=1, padding="VALID", dilations=1):
    attrs = {"strides": _pair(strides), "dilations": _pair(dilations), "padding": padding}
    return _conv.backprop_filter(x, dy, filter_hw, attrs)


def _pool_samples(name, values):
    rng = _rng(name)
    p = lambda xs, name, grad=True, gen=values, **kw: Sample((gen(rng, xs),), kw, name, grad=grad)  # noqa: E731
    return [
        p((2, 4, 4, 3), "2x2_stride2_valid", ksize=2, strides=2, padding="VALID"),
        p((2, 5, 5, 2), "3x3_stride2_same_overlapping", ksize=[1, 3, 3, 1], strides=[1, 2, 2, 1], padding="SAME"),
        p((1, 5, 6, 2), "3x2_stride1_same", ksize=(3, 2), strides=1, padding="SAME"),
        p((2, 5, 4, 1), "2x2_stride2_same_odd", ksize=2, strides=2, padding="SAME"),
        p((2, 3, 4, 4), "nchw", ksize=[1, 1, 2, 2], strides=[1, 1, 2, 2], padding="SAME", data_format="NCHW"),
        p((0, 4, 4, 2), "empty_batch", ksize=2, strides=2, padding="SAME"),
        p((1, 5, 5, 3), "nan_inf", grad=False, gen=_nan_inf, ksize=3, strides=2, padding="SAME"),
    ]


def _pool_grad_samples():
    rng = _rng("max_pool_grad")
    out = []
    for name, xs, kw in [("ties_same", (2, 5, 5, 2), {"ksize": (3, 3), "strides": (2, 2), "padding": "SAME"}),
                         ("ties_valid_overlapping", (1, 5, 4, 3), {"ksize": (2, 2), "strides": (1, 1),
                                                                    "padding": "VALID"})]:
        x = rng.integers(-1, 2, xs).astype(np.float64)  # many ties: the first maximum must win
        y = _np_pool("max")(x, **kw)
        out.append(Sample((x, randn(rng, y.shape)), kw, name))
    x = _nan_inf(rng, (1, 4, 4, 2))
    kw = {"ksize": (2, 2), "strides": (2, 2), "padding": "VALID"}
    out.append(Sample((x, randn(rng, (1, 2, 2, 2))), kw, "nan_inf"))
    return out


def _max_pool_grad_op(x, g, ksize, strides, padding):
    from graphengine.ops.registry import apply1
    return apply1("max_pool_grad", [x, g], {"ksize": ksize, "strides": strides, "padding": padding})


def _avg_grad_samples():
    rng = _rng("avg_pool_grad")
    return [Sample((randn(rng, (2, 3, 3, 2)),), {"input_hw": (5, 5), "ksize": 3, "strides": 2, "padding": "SAME"},
                   "3x3_stride2_same"),
            Sample((randn(rng, (1, 2, 3, 2)),), {"input_hw": (5, 6), "ksize": 2, "strides": 2, "padding": "VALID"},
                   "2x2_valid_odd_input")]


def _avg_grad_op(g, input_hw, ksize, strides, padding):
    return _conv.avg_pool_grad(g, input_hw, {"ksize": _pair(ksize), "strides": _pair(strides), "padding": padding})


CONV = [
    OpInfo("conv2d", lambda x, w, **kw: ge.nn.conv2d(x, w, **kw), _np_conv2d, _conv_samples()),
    OpInfo("conv2d_transpose", lambda v, w, **kw: ge.nn.conv2d_transpose(v, w, **kw), _np_conv2d_transpose,
           _transpose_samples()),
    OpInfo("conv2d_backprop_filter", _filter_grad_op, _np_filter_grad, _filter_grad_samples()),
    OpInfo("max_pool", lambda x, **kw: ge.nn.max_pool(x, **kw), _np_pool("max"), _pool_samples("max_pool", _shuffled)),
    OpInfo("avg_pool", lambda x, **kw: ge.nn.avg_pool(x, **kw), _np_pool("avg"), _pool_samples("avg_pool", randn)),
    OpInfo("max_pool_grad", _max_pool_grad_op, _np_max_pool_grad, _pool_grad_samples(), grad=False),
    OpInfo("avg_pool_grad", _avg_grad_op, _np_avg_pool_grad, _avg_grad_samples()),
]
