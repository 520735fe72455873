"""2-D convolution and pooling, NHWC (TF1's default layout; NCHW goes through transposes).

Ops (each one block): ``conv2d`` with its two gradients as ops of their own, as TF has
``Conv2DBackpropInput`` / ``Conv2DBackpropFilter`` (``conv2d_transpose`` *is* the input gradient,
as in TF); ``max_pool`` / ``max_pool_grad`` (gradient to the first maximum of each window, in
row-major window order, as TF's CPU kernel); ``avg_pool`` / ``avg_pool_grad`` (SAME windows
average only the entries inside the input, as TF). Filters are HWIO: (kh, kw, in, out).

Window arithmetic is TF's (``GetWindowedOutputSize``): with effective size ek = (k-1)*d + 1,
VALID gives out = (in - ek + s) / s (truncated), SAME gives out = ceil(in / s) and pads
max(0, (out-1)*s + ek - in) in total, the smaller half before.

Gradient ops whose input size cannot be told from their inputs (a stride-2 VALID window fits
inputs of two sizes) carry it as the attr ``input_hw``, or, when the forward input's spatial
dims are unknown at build time, read it from that input passed as a last, shape-only input.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DTypeError, ShapeError
from ..graph import Tensor
from .registry import apply1, defop, same_dtype
from .shape import transpose
from .source import as_tensor

PADDINGS = ("SAME", "VALID")


# ----- window arithmetic (the one place; kernels recompute pads with the same formulas) ------

def window(size: int | None, k: int | None, s: int, d: int, padding: str) -> tuple[int | None, int]:
    """(output size, padding before) along one spatial axis."""
    if size is None or k is None:
        return None, 0
    ek = (k - 1) * d + 1
    if padding == "VALID":
        num = size - ek + s
        out = num // s if num >= 0 else -((-num) // s)  # C++ division truncates toward zero
        if out < 0:
            raise ShapeError(f"the window of size {ek} (kernel {k}, dilation {d}) is larger than the "
                             f"input's {size} with VALID padding")
        return out, 0
    out = (size + s - 1) // s
    return out, max(0, (out - 1) * s + ek - size) // 2


def pads(size: int, out: int, k: int, s: int, d: int) -> tuple[int, int]:
    """(before, after) padding that makes ``out`` windows of input ``size``."""
    total = max(0, (out - 1) * s + (k - 1) * d + 1 - size)
    return total // 2, total - total // 2


def _floating(d, what: str):
    dt = same_dtype(d, what)
    if dt.name not in ("float32", "float64"):
        raise DTypeError(f"{what} needs float32 or float64 inputs, got {dt.name}")
    return dt


def _rank4(s, what: str) -> None:
    if s is not None and len(s) != 4:
        raise ShapeError(f"{what} must be rank 4, got rank {len(s)} {tuple(s)}")


def _spatial(s, ks, a, what: str) -> tuple:
    """Output (oh, ow) of input shape ``s`` (NHWC) under windows ``ks`` and the op's attrs."""
    if s is None:
        return None, None
    return tuple(window(s[1 + i], ks[i], a["strides"][i], a.get("dilations", (1, 1))[i],
                        a["padding"])[0] for i in range(2))


def _check_match(got, want, what: str, a) -> None:
    for g, w, axis in zip(got, want, "HW"):
        if g is not None and w is not None and g != w:
            raise ShapeError(f"{what}: {axis} is {g} but strides {a['strides']}, padding {a['padding']}"
                             f"{', dilations ' + str(a['dilations']) if 'dilations' in a else ''} give {w}")


def _input_hw(s, a, n_args: int) -> tuple:
    """(H, W) of the forward input: from the shape-only input after the ``n_args`` data inputs
    if there is one, else the attr."""
    if len(s) > n_args:
        like = s[n_args]
        return (None, None) if like is None else (like[1], like[2])
    return tuple(a["input_hw"])


# ----- NumPy references: windows as strided views of the padded input --------------------------

def _patches(x: np.ndarray, kh: int, kw: int, a: dict, oh: int, ow: int, fill: float = 0.0) -> np.ndarray:
    """(N, OH, OW, KH, KW, C) view of the (padded) input under every window."""
    (sh, sw), (dh, dw) = a["strides"], a.get("dilations", (1, 1))
    ph, pw = pads(x.shape[1], oh, kh, sh, dh), pads(x.shape[2], ow, kw, sw, dw)
    if a["padding"] == "VALID":
        ph, pw = (0, 0), (0, 0)
    xp = np.pad(x, ((0, 0), ph, pw, (0, 0)), constant_values=fill)
    n, _, _, c = xp.shape
    st = xp.strides
    return np.lib.stride_tricks.as_strided(
        xp, (n, oh, ow, kh, kw, c), (st[0], st[1] * sh, st[2] * sw, st[1] * dh, st[2] * dw, st[3]),
        writeable=False)


def _scatter_windows(dp: np.ndarray, shape: tuple, a: dict) -> np.ndarray:
    """Adjoint of ``_patches``: add each window's (N, OH, OW, KH, KW, C) values back into x."""
    n, oh, ow, kh, kw, c = dp.shape
    (sh, sw), (dh, dw) = a["strides"], a.get("dilations", (1, 1))
    ph, pw = pads(shape[1], oh, kh, sh, dh), pads(shape[2], ow, kw, sw, dw)
    if a["padding"] == "VALID":
        ph, pw = (0, 0), (0, 0)
    hp = max(shape[1] + sum(ph), (oh - 1) * sh + (kh - 1) * dh + 1)
    wp = max(shape[2] + sum(pw), (ow - 1) * sw + (kw - 1) * dw + 1)
    out = np.zeros((n, hp, wp, c), dp.dtype)
    for i in range(kh):
        for j in range(kw):
            out[:, i * dh:i * dh + (oh - 1) * sh + 1:sh, j * dw:j * dw + (ow - 1) * sw + 1:sw] += dp[:, :, :, i, j]
    return np.ascontiguousarray(out[:, ph[0]:ph[0] + shape[1], pw[0]:pw[0] + shape[2]])


# ----- conv2d ------------------------------------------------------------------------------------

def _conv2d_infer(s, d, a):
    dt = _floating(d, "conv2d")
    xs, ws = s
    _rank4(xs, "conv2d input")
    _rank4(ws, "conv2d filter (kh, kw, in_channels, out_channels)")
    if xs is not None and ws is not None and None not in (xs[3], ws[2]) and xs[3] != ws[2]:
        raise ShapeError(f"input has {xs[3]} channels but the filter expects {ws[2]} (filter shape {ws})")
    oh, ow = _spatial(xs, (None, None) if ws is None else ws[:2], a, "conv2d")
    return [((None if xs is None else xs[0], oh, ow, None if ws is None else ws[3]), dt)]


def _conv2d_ref(a, x, w):
    kh, kw = w.shape[:2]
    oh, ow = _spatial(x.shape, (kh, kw), a, "conv2d")
    return np.tensordot(_patches(x, kh, kw, a, oh, ow), w, axes=([3, 4, 5], [0, 1, 2]))


def _conv_attrs(a: dict) -> dict:
    return {k: a[k] for k in ("strides", "dilations", "padding")}


def _g_conv2d(op, g):
    x, w = op.inputs
    return [backprop_input(g[0], w, x, op.attrs), backprop_filter(x, g[0], w.shape[:2], op.attrs)]


defop("conv2d", "nn", _conv2d_infer, ref=_conv2d_ref, vjp=_g_conv2d,
      doc="2-D cross-correlation, NHWC input, HWIO filter (TF's Conv2D).")


# ----- its input gradient (= conv2d_transpose) ---------------------------------------------------

def _bpi_infer(s, d, a):
    dt = _floating(d[:2], "conv2d_backprop_input")
    dys, ws = s[0], s[1]
    _rank4(dys, "conv2d_backprop_input out_backprop")
    _rank4(ws, "conv2d_backprop_input filter")
    if dys is not None and ws is not None and None not in (dys[3], ws[3]) and dys[3] != ws[3]:
        raise ShapeError(f"out_backprop has {dys[3]} channels but the filter has {ws[3]} output channels")
    h, w_ = _input_hw(s, a, 2)
    if ws is not None:
        _check_match(() if dys is None else dys[1:3],
                     _spatial((None, h, w_, None), ws[:2], a, ""), "conv2d_backprop_input out_backprop", a)
    return [((None if dys is None else dys[0], h, w_, None if ws is None else ws[2]), dt)]


def _bpi_ref(a, dy, w, like=None):
    n, oh, ow, _ = dy.shape
    kh, kw, c, _ = w.shape
    hw = a["input_hw"] if like is None else like.shape[1:3]
    dp = np.tensordot(dy, w, axes=([3], [3]))  # (N, OH, OW, KH, KW, C)
    return _scatter_windows(dp, (n, hw[0], hw[1], c), a)


def _g_bpi(op, g):
    dy, w = op.inputs[:2]
    grads = [conv2d(g[0], w, op.attrs["strides"], op.attrs["padding"], dilations=op.attrs["dilations"]),
             backprop_filter(g[0], dy, w.shape[:2], op.attrs)]
    return grads + [None] * (len(op.inputs) - 2)


defop("conv2d_backprop_input", "nn", _bpi_infer, ref=_bpi_ref, vjp=_g_bpi,
      doc="Gradient of conv2d with respect to its input; also conv2d_transpose (TF's Conv2DBackpropInput).")


def backprop_input(dy: Tensor, w: Tensor, x: Tensor | tuple, attrs: dict) -> Tensor:
    """conv2d's input gradient for an input ``x`` (a tensor, or its static (H, W))."""
    a = _conv_attrs(attrs)
    if isinstance(x, Tensor):
        if x.shape is not None and None not in x.shape[1:3]:
            return apply1("conv2d_backprop_input", [dy, w], {**a, "input_hw": tuple(x.shape[1:3])})
        return apply1("conv2d_backprop_input", [dy, w, x], {**a, "input_hw": (None, None)})
    return apply1("conv2d_backprop_input", [dy, w], {**a, "input_hw": tuple(int(v) for v in x)})


# ----- its filter gradient -----------------------------------------------------------------------

def _bpf_infer(s, d, a):
    dt = _floating(d, "conv2d_backprop_filter")
    xs, dys = s
    _rank4(xs, "conv2d_backprop_filter input")
    _rank4(dys, "conv2d_backprop_filter out_backprop")
    kh, kw = a["filter_hw"]
    if dys is not None:
        _check_match(dys[1:3], _spatial(xs, (kh, kw), a, ""), "conv2d_backprop_filter out_backprop", a)
    if xs is not None and dys is not None and None not in (xs[0], dys[0]) and xs[0] != dys[0]:
        raise ShapeError(f"input batch {xs[0]} differs from out_backprop batch {dys[0]}")
    return [((kh, kw, None if xs is None else xs[3], None if dys is None else dys[3]), dt)]


def _bpf_ref(a, x, dy):
    kh, kw = a["filter_hw"]
    p = _patches(x, kh, kw, a, dy.shape[1], dy.shape[2])
    return np.tensordot(p, dy, axes=([0, 1, 2], [0, 1, 2]))


def _g_bpf(op, g):
    x, dy = op.inputs
    return [backprop_input(dy, g[0], x, op.attrs),
            conv2d(x, g[0], op.attrs["strides"], op.attrs["padding"], dilations=op.attrs["dilations"])]


defop("conv2d_backprop_filter", "nn", _bpf_infer, ref=_bpf_ref, vjp=_g_bpf,
      doc="Gradient of conv2d with respect to its filter (TF's Conv2DBackpropFilter).")


def backprop_filter(x: Tensor, dy: Tensor, filter_hw: tuple, attrs: dict) -> Tensor:
    if filter_hw is None or None in tuple(filter_hw):
        raise ShapeError("conv2d's filter gradient needs the filter's spatial size known at build time")
    return apply1("conv2d_backprop_filter", [x, dy],
                  {**_conv_attrs(attrs), "filter_hw": tuple(int(v) for v in filter_hw)})


# ----- pooling -----------------------------------------------------------------------------------

def _pool_infer(what: str):
    def infer(s, d, a):
        dt = _floating(d, what)
        _rank4(s[0], f"{what} input")
        oh, ow = _spatial(s[0], a["ksize"], a, what)
        return [((None, oh, ow, None) if s[0] is None else (s[0][0], oh, ow, s[0][3]), dt)]
    return infer


def _max_window(x: np.ndarray, a: dict) -> tuple[np.ndarray, np.ndarray]:
    """(max over each window, flat index in the window of its first maximum; first NaN wins)."""
    kh, kw = a["ksize"]
    oh, ow = _spatial(x.shape, (kh, kw), a, "max_pool")
    p = _patches(x, kh, kw, a, oh, ow, fill=-np.inf)
    valid = _patches(np.ones(x.shape[:3] + (1,), bool), kh, kw, a, oh, ow, fill=False)
    flat = p.reshape(p.shape[:3] + (kh * kw, p.shape[5]))
    y = flat.max(axis=3)
    ok = valid.reshape(valid.shape[:3] + (kh * kw, 1))
    hit = ok & ((flat == y[:, :, :, None]) | (np.isnan(flat) & np.isnan(y[:, :, :, None])))
    return y, hit.argmax(axis=3)


def _max_pool_grad_ref(a, x, g):
    kh, kw = a["ksize"]
    _, first = _max_window(x, a)
    dp = np.stack([np.where(first == k, g, 0) for k in range(kh * kw)], axis=3)
    return _scatter_windows(dp.reshape(g.shape[:3] + (kh, kw, g.shape[3])), x.shape, a)


defop("max_pool", "nn", _pool_infer("max_pool"), ref=lambda a, x: _max_window(x, a)[0],
      vjp=lambda op, g: [apply1("max_pool_grad", [op.inputs[0], g[0]], dict(op.attrs))],
      doc="Maximum over each window (TF's MaxPool); NaN propagates.")


def _max_pool_grad_infer(s, d, a):
    dt = _floating(d, "max_pool_grad")
    want = _spatial(s[0], a["ksize"], a, "max_pool_grad")
    if s[1] is not None:
        _check_match(s[1][1:3], want, "max_pool_grad grad", a)
    return [(s[0], dt)]


defop("max_pool_grad", "nn", _max_pool_grad_infer, ref=_max_pool_grad_ref,
      doc="Gradient of max_pool: each window's gradient to its first maximum (TF's MaxPoolGrad).")


def _avg_counts(shape: tuple, a: dict, oh: int, ow: int, dtype) -> np.ndarray:
    kh, kw = a["ksize"]
    ones = np.ones((1,) + tuple(shape[1:3]) + (1,), dtype)
    return _patches(ones, kh, kw, a, oh, ow).sum(axis=(3, 4))  # (1, OH, OW, 1)


def _avg_pool_ref(a, x):
    kh, kw = a["ksize"]
    oh, ow = _spatial(x.shape, (kh, kw), a, "avg_pool")
    return _patches(x, kh, kw, a, oh, ow).sum(axis=(3, 4)) / _avg_counts(x.shape, a, oh, ow, x.dtype)


def _avg_pool_grad_ref(a, g, like=None):
    n, oh, ow, c = g.shape
    kh, kw = a["ksize"]
    hw = a["input_hw"] if like is None else like.shape[1:3]
    shape = (n, hw[0], hw[1], c)
    per = g / _avg_counts(shape, a, oh, ow, g.dtype)
    dp = np.broadcast_to(per[:, :, :, None, None, :], (n, oh, ow, kh, kw, c))
    return _scatter_windows(dp, shape, a)


def _avg_pool_grad_infer(s, d, a):
    dt = _floating(d[:1], "avg_pool_grad")
    h, w = _input_hw(s, a, 1)
    if s[0] is not None:
        _check_match(s[0][1:3], _spatial((None, h, w, None), a["ksize"], a, ""), "avg_pool_grad grad", a)
    return [((None, h, w, None) if s[0] is None else (s[0][0], h, w, s[0][3]), dt)]


def _pool_attrs(a: dict) -> dict:
    return {k: a[k] for k in ("ksize", "strides", "padding")}


def avg_pool_grad(g: Tensor, x: Tensor | tuple, attrs: dict) -> Tensor:
    a = _pool_attrs(attrs)
    if isinstance(x, Tensor) and (x.shape is None or None in x.shape[1:3]):
        return apply1("avg_pool_grad", [g, x], {**a, "input_hw": (None, None)})
    hw = tuple(x.shape[1:3]) if isinstance(x, Tensor) else tuple(int(v) for v in x)
    return apply1("avg_pool_grad", [g], {**a, "input_hw": hw})


defop("avg_pool", "nn", _pool_infer("avg_pool"), ref=_avg_pool_ref,
      vjp=lambda op, g: [avg_pool_grad(g[0], op.inputs[0], op.attrs)],
      doc="Mean over each window; SAME windows average only the entries inside the input (TF's AvgPool).")
defop("avg_pool_grad", "nn", _avg_pool_grad_infer, ref=_avg_pool_grad_ref,
      vjp=lambda op, g: [apply1("avg_pool", [g[0]], _pool_attrs(op.attrs))] + [None] * (len(op.inputs) - 1),
      doc="Gradient of avg_pool: each window's gradient spread evenly over its entries inside the input.")


# ----- public functions --------------------------------------------------------------------------

def spatial_pair(v: Any, what: str, data_format: str = "NHWC") -> tuple[int, int]:
    """An int, (h, w), or TF's 4-vector in ``data_format`` order (batch and channel entries 1)."""
    if isinstance(v, int | np.integer):
        return int(v), int(v)
    v = [int(e) for e in v]
    if len(v) == 1:
        return v[0], v[0]
    if len(v) == 2:
        return v[0], v[1]
    if len(v) == 4:
        hw, nc = ((1, 2), (0, 3)) if data_format == "NHWC" else ((2, 3), (0, 1))
        if v[nc[0]] != 1 or v[nc[1]] != 1:
            raise ValueError(f"{what} {v}: the batch and channel entries must be 1 ({data_format} order)")
        return v[hw[0]], v[hw[1]]
    raise ValueError(f"{what} must be an int, 2 or 4 values, got {v}")


def _format(data_format: str) -> str:
    if data_format not in ("NHWC", "NCHW"):
        raise ValueError(f"data_format must be 'NHWC' or 'NCHW', got {data_format!r}")
    return data_format


def _padding(padding: str) -> str:
    p = str(padding).upper()
    if p not in PADDINGS:
        raise ValueError(f"padding must be 'SAME' or 'VALID', got {padding!r}")
    return p


def _nhwc(x: Tensor, data_format: str) -> Tensor:
    return x if data_format == "NHWC" else transpose(x, (0, 2, 3, 1))


def _back(y: Tensor, data_format: str) -> Tensor:
    return y if data_format == "NHWC" else transpose(y, (0, 3, 1, 2))


def _positive(v: tuple, what: str) -> tuple:
    if any(e < 1 for e in v):
        raise ValueError(f"{what} must be positive, got {v}")
    return v


def conv2d(input: Any, filters: Any, strides: Any = 1, padding: str = "VALID",  # noqa: A002
           data_format: str = "NHWC", dilations: Any = 1, name: str | None = None) -> Tensor:
    """2-D convolution (cross-correlation, as TF): ``input`` (N, H, W, C) or NCHW, ``filters``
    (kh, kw, C, out). ``strides``/``dilations``: an int, (h, w) or TF's 4-vector.

    >>> import graphengine as ge
    >>> x = ge.placeholder(ge.float32, (None, 28, 28, 1))
    >>> ge.nn.conv2d(x, ge.zeros((5, 5, 1, 32)), strides=2, padding="SAME").shape
    (None, 14, 14, 32)
    """
    fmt = _format(data_format)
    x = as_tensor(input)
    w = as_tensor(filters, x.dtype) if not isinstance(filters, Tensor) else filters
    if w.shape is None or None in w.shape[:2]:
        raise ShapeError(f"conv2d: the filter's spatial size must be known at build time, got {w.shape}")
    attrs = {"strides": _positive(spatial_pair(strides, "strides", fmt), "strides"),
             "dilations": _positive(spatial_pair(dilations, "dilations", fmt), "dilations"),
             "padding": _padding(padding)}
    return _back(apply1("conv2d", [_nhwc(x, fmt), w], attrs, name or "Conv2D"), fmt)


def conv2d_transpose(value: Any, filters: Any, output_shape: Any, strides: Any = 1, padding: str = "SAME",
                     data_format: str = "NHWC", dilations: Any = 1, name: str | None = None) -> Tensor:
    """The gradient of conv2d with respect to its input, as a layer ("deconvolution", TF's
    ``conv2d_transpose``): ``filters`` is (kh, kw, out_channels, in_channels); ``output_shape``
    the result's shape (its batch entry may be None or -1: it follows ``value``).

    >>> import graphengine as ge
    >>> z = ge.placeholder(ge.float32, (None, 7, 7, 8))
    >>> ge.nn.conv2d_transpose(z, ge.zeros((3, 3, 4, 8)), (None, 14, 14, 4), strides=2).shape
    (None, 14, 14, 4)
    """
    fmt = _format(data_format)
    v = as_tensor(value)
    w = as_tensor(filters, v.dtype) if not isinstance(filters, Tensor) else filters
    out = [None if e is None or int(e) < 0 else int(e) for e in output_shape]
    if len(out) != 4:
        raise ShapeError(f"conv2d_transpose: output_shape must have 4 entries, got {output_shape}")
    n, h, wd, c = out if fmt == "NHWC" else (out[0], out[2], out[3], out[1])
    if h is None or wd is None:
        raise ShapeError(f"conv2d_transpose: output_shape's spatial entries must be known, got {output_shape}")
    if c is not None and w.shape is not None and w.shape[2] not in (None, c):
        raise ShapeError(f"conv2d_transpose: output_shape has {c} channels but the filter makes {w.shape[2]}")
    if w.shape is None or None in w.shape[:2]:
        raise ShapeError(f"conv2d_transpose: the filter's spatial size must be known, got {w.shape}")
    attrs = {"strides": _positive(spatial_pair(strides, "strides", fmt), "strides"),
             "dilations": _positive(spatial_pair(dilations, "dilations", fmt), "dilations"),
             "padding": _padding(padding), "input_hw": (h, wd)}
    y = apply1("conv2d_backprop_input", [_nhwc(v, fmt), w], attrs, name or "conv2d_transpose")
    return _back(y, fmt)


def conv2d_backprop_filter(input: Any, filter_sizes: Any, out_backprop: Any, strides: Any,  # noqa: A002
                           padding: str, data_format: str = "NHWC", dilations: Any = 1,
                           name: str | None = None) -> Tensor:
    """The gradient of conv2d with respect to a filter of shape ``filter_sizes`` (kh, kw, in,
    out), given the input and the output's gradient (TF's ``conv2d_backprop_filter``).

    >>> import graphengine as ge
    >>> x, dy = ge.zeros((2, 8, 8, 3)), ge.zeros((2, 8, 8, 4))
    >>> ge.nn.conv2d_backprop_filter(x, (5, 5, 3, 4), dy, 1, "SAME").shape
    (5, 5, 3, 4)
    """
    fmt = _format(data_format)
    x, dy = _nhwc(as_tensor(input), fmt), _nhwc(as_tensor(out_backprop), fmt)
    attrs = {"strides": spatial_pair(strides, "strides", fmt), "dilations": spatial_pair(dilations, "dilations", fmt),
             "padding": _padding(padding), "filter_hw": tuple(int(v) for v in tuple(filter_sizes)[:2])}
    return apply1("conv2d_backprop_filter", [x, dy], attrs, name or "Conv2DBackpropFilter")


def _pool(kind: str, value: Any, ksize: Any, strides: Any, padding: str, data_format: str,
          name: str | None) -> Tensor:
    fmt = _format(data_format)
    x = as_tensor(value)
    attrs = {"ksize": _positive(spatial_pair(ksize, "ksize", fmt), "ksize"),
             "strides": _positive(spatial_pair(strides, "strides", fmt), "strides"),
             "padding": _padding(padding)}
    return _back(apply1(kind, [_nhwc(x, fmt)], attrs, name or {"max_pool": "MaxPool", "avg_pool": "AvgPool"}[kind]),
                 fmt)


def max_pool(value: Any, ksize: Any, strides: Any, padding: str = "VALID", data_format: str = "NHWC",
             name: str | None = None) -> Tensor:
    """Maximum over ksize windows (an int, (h, w) or TF's 4-vector); the gradient goes to each
    window's first maximum, as TF's.

    >>> import graphengine as ge
    >>> ge.nn.max_pool(ge.zeros((1, 28, 28, 32)), 2, 2, "SAME").shape
    (1, 14, 14, 32)
    """
    return _pool("max_pool", value, ksize, strides, padding, data_format, name)


def avg_pool(value: Any, ksize: Any, strides: Any, padding: str = "VALID", data_format: str = "NHWC",
             name: str | None = None) -> Tensor:
    """Mean over ksize windows; with SAME padding a border window averages only its entries
    inside the input (TF's convention: padding is never counted).

    >>> import graphengine as ge
    >>> ge.nn.avg_pool(ge.zeros((1, 5, 5, 3)), 2, 2, "SAME").shape
    (1, 3, 3, 3)
    """
    return _pool("avg_pool", value, ksize, strides, padding, data_format, name)
