"""Movement ops. Reshapes are views; copies (transpose, concat) use NumPy's compiled loops;
one_hot is a Numba kernel. Identity-like ops pass their input through."""
from __future__ import annotations

import numba
import numpy as np
from numba import types
from numba.core import cgutils
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic
from numba.np.arrayobj import make_array, populate_array

from ..registry import register_kernel


@intrinsic
def _c_view(typingctx, a, shape):
    """The C-ordered view of shape ``shape`` on the first prod(shape) elements of the
    C-contiguous array ``a`` (the caller guarantees a holds that many)."""
    if not (isinstance(a, types.Array) and a.layout == "C" and isinstance(shape, types.BaseTuple)
            and all(isinstance(d, types.Integer) for d in shape)):
        return None
    nd = len(shape)
    ret = types.Array(a.dtype, nd, "C", readonly=not a.mutable)

    def codegen(context, builder, sig, args):
        aryty, shapety = sig.args
        ary = make_array(aryty)(context, builder, args[0])
        dims = [context.cast(builder, d, t, types.intp)
                for d, t in zip(cgutils.unpack_tuple(builder, args[1], nd), shapety)]
        strides = [None] * nd
        acc = ary.itemsize
        for i in range(nd - 1, -1, -1):
            strides[i] = acc
            acc = builder.mul(acc, dims[i])
        out = make_array(ret)(context, builder)
        populate_array(out, data=ary.data, shape=dims, strides=strides, itemsize=ary.itemsize,
                       meminfo=ary.meminfo, parent=ary.parent)
        return impl_ret_borrowed(context, builder, ret, out._getvalue())

    return ret(a, shape), codegen


@numba.njit(cache=True, nogil=True, forceinline=True)
def as_shape(a, shape):
    """``a.reshape(-1)[:prod(shape)].reshape(shape)`` for a C-contiguous ``a`` holding at least
    that many elements, built directly: Numba's reshape calls a C helper that works out whether
    a copy is needed (~17 ns a call; a tiny model's step makes ~20 views). The generated step
    shapes its pool-backed tensors with it."""
    return _c_view(a, shape)


@numba.njit(cache=True, nogil=True)
def one_hot_flat(idx, depth, on, off, out):
    n = idx.size
    for i in range(n):
        for j in range(depth):
            out[i, j] = off
        k = idx[i]
        if 0 <= k < depth:
            out[i, k] = on


@register_kernel("one_hot", "cpu")
def one_hot_cpu(attrs, idx):
    depth = attrs["depth"]
    out = np.empty(idx.shape + (depth,), attrs["dtype"].np)
    one_hot_flat(np.ascontiguousarray(idx).reshape(-1), depth, attrs["on_value"],
                 attrs["off_value"], out.reshape(-1, depth))
    return out


def _passthrough(attrs, x, *rest):
    return x


for _op in ("identity", "stop_gradient", "placeholder_with_default"):
    register_kernel(_op, "cpu")(_passthrough)

register_kernel("reshape", "cpu")(lambda a, x: np.reshape(x, a["shape"]))
register_kernel("reshape_like", "cpu")(lambda a, x, like: np.reshape(x, like.shape))
register_kernel("expand_dims", "cpu")(lambda a, x: np.expand_dims(x, a["axis"]))
register_kernel("squeeze", "cpu")(
    lambda a, x: np.squeeze(x, axis=a["axis"]) if a["axis"] is not None else np.squeeze(x))
register_kernel("transpose", "cpu")(lambda a, x: np.ascontiguousarray(np.transpose(x, a["perm"])))
register_kernel("concat", "cpu")(lambda a, *xs: np.concatenate(xs, axis=a["axis"]))


@register_kernel("concat_part", "cpu")
def concat_part_cpu(attrs, g, *xs):
    i, ax = attrs["index"], attrs["axis"]
    start = sum(x.shape[ax] for x in xs[:i])
    idx = [slice(None)] * g.ndim
    idx[ax] = slice(start, start + xs[i].shape[ax])
    return np.ascontiguousarray(g[tuple(idx)])


@register_kernel("broadcast_like", "cpu")
def broadcast_like_cpu(attrs, x, like):
    out = np.empty(like.shape, x.dtype)
    out[...] = x
    return out
