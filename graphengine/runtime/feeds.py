"""Feed values in and fetch values out: dtype/shape checks, host copies, device arrays."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import FeedError
from ..graph import Tensor, shape_str


def _host_copy(v: Any) -> Any:
    if not isinstance(v, np.ndarray):  # device arrays: CuPy (.get) or Numba (.copy_to_host)
        v = v.copy_to_host() if hasattr(v, "copy_to_host") else np.asarray(v.get() if hasattr(v, "get") else v)
    if v.ndim == 0:
        return v[()]  # a NumPy scalar, as TF1 returns
    return v.copy()  # never hand out variable buffers, reused step buffers or constants


def _out(v: Any, device_arrays: bool) -> Any:
    """A fetched value as handed to the caller: a host copy, or a device array as it is (the
    device backend already copied it out of the step's buffers)."""
    return v if device_arrays and is_device_array(v) else _host_copy(v)


def is_device_array(v: Any) -> bool:
    """A GPU array: CuPy, Numba (also the simulator's), PyTorch CUDA, anything exposing
    ``__cuda_array_interface__``."""
    return not isinstance(v, np.ndarray) and (hasattr(v, "__cuda_array_interface__")
                                              or hasattr(v, "copy_to_host"))


def _dtype(v: Any) -> np.dtype:
    dt = getattr(v, "dtype", None)
    if isinstance(dt, np.dtype):
        return dt
    return np.dtype(v.__cuda_array_interface__["typestr"])  # e.g. a PyTorch tensor's torch.dtype


def _c_contiguous(v: Any) -> bool:
    flags = getattr(v, "flags", None)
    if flags is not None and hasattr(flags, "c_contiguous"):
        return bool(flags.c_contiguous)
    if hasattr(v, "is_c_contiguous"):
        return bool(v.is_c_contiguous())
    cai = v.__cuda_array_interface__
    if cai.get("strides") is None:
        return True
    want, acc = [], np.dtype(cai["typestr"]).itemsize
    for n in reversed(cai["shape"]):
        want.append(acc)
        acc *= n
    return all(n <= 1 or s == w for n, s, w in zip(cai["shape"], cai["strides"], reversed(want)))


def _to_host(v: Any) -> np.ndarray:
    for get in ("get", "copy_to_host"):
        if hasattr(v, get):
            return np.asarray(getattr(v, get)())
    if hasattr(v, "cpu"):  # a PyTorch tensor
        return np.asarray(v.detach().cpu())
    return np.asarray(v)


def convert_feed(t: Tensor, value: Any, what: str = "placeholder", device_ok: bool = False) -> Any:
    """A feed value checked against ``t``'s dtype and shape: a C-contiguous NumPy array, or with
    ``device_ok`` a device array used as it is (no casts or copies on the device)."""
    name = t.op.name
    site = f" (built at {t.op.site})" if t.op.site else ""
    if is_device_array(value):
        if not device_ok:
            value = _to_host(value)  # a device array fed to a CPU session: one copy to the host
        else:
            dt, shape = _dtype(value), tuple(value.shape)
            if dt != t.dtype.np:
                raise FeedError(f"cannot feed a device array of dtype {dt} to {what} '{name}'{site} "
                                f"of dtype {t.dtype.name}: cast it on the device first")
            if not _c_contiguous(value):
                raise FeedError(f"cannot feed a non-contiguous device array to {what} '{name}'{site}: "
                                "make it contiguous on the device first")
            _check_shape(t, shape, what, name, site)
            return value
    try:
        arr = np.asarray(value)
    except ValueError as e:
        raise FeedError(f"cannot feed {what} '{name}'{site}: {e}") from None
    want = t.dtype.np
    if arr.dtype != want:
        ok = arr.dtype != object and (np.can_cast(arr.dtype, want, "same_kind")
                                      or (arr.dtype.kind == "b" and want.kind in "iuf")
                                      or (arr.dtype.kind in "iu" and want.kind in "iu"))  # range checked
        if not ok:
            raise FeedError(f"cannot feed a value of dtype {arr.dtype} to {what} '{name}'{site} "
                            f"of dtype {t.dtype.name}")
        if arr.dtype.kind in "iu" and want.kind in "iu" and arr.size:
            lo, hi = np.iinfo(want).min, np.iinfo(want).max
            bad = (arr < lo) | (arr > hi)
            if bad.any():  # astype would wrap silently; TF1 raises
                raise FeedError(f"cannot feed {arr[bad].flat[0]} to {what} '{name}'{site} of dtype "
                                f"{t.dtype.name}: out of range [{lo}, {hi}]")
        arr = arr.astype(want)
    _check_shape(t, arr.shape, what, name, site)
    if t.dtype.name == "string":  # fed str values become bytes, as TF1 returns them
        from ..dtypes import string_array
        arr = string_array(arr)
    return arr if arr.flags.c_contiguous else np.ascontiguousarray(arr)  # keeps 0-d as 0-d


def _check_shape(t: Tensor, got: tuple, what: str, name: str, site: str) -> None:
    shape = t.shape
    if shape is not None:
        if len(got) != len(shape) or any(d is not None and d != n for d, n in zip(shape, got)):
            raise FeedError(f"cannot feed a value of shape {shape_str(got)} to {what} "
                            f"'{name}'{site}, which has shape {shape_str(shape)}")
