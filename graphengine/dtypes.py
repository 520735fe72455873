"""DType objects (TF1 names) and the conversions between them, NumPy and Python values."""
from __future__ import annotations

import numpy as np


class DType:
    """A tensor element type. Compare with ``==``; ``.as_numpy_dtype`` gives the NumPy type."""

    __slots__ = ("name", "np")

    def __init__(self, name: str, np_dtype: type) -> None:
        self.name = name
        self.np = np.dtype(np_dtype)

    @property
    def as_numpy_dtype(self) -> type:
        return self.np.type

    @property
    def is_floating(self) -> bool:
        return self.np.kind == "f"

    @property
    def is_integer(self) -> bool:
        return self.np.kind in "iu"

    @property
    def is_bool(self) -> bool:
        return self.np.kind == "b"

    @property
    def base_dtype(self) -> DType:
        return self

    def __eq__(self, other: object) -> bool:
        if isinstance(other, DType):  # by name: a DType made elsewhere ("string") is the same type
            return self.name == other.name
        try:
            return self is as_dtype(other)
        except TypeError:
            return False

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f"ge.{self.name}"

    def __reduce__(self):
        return (as_dtype, (self.name,))


float16 = DType("float16", np.float16)
float32 = DType("float32", np.float32)
float64 = DType("float64", np.float64)
int8 = DType("int8", np.int8)
int16 = DType("int16", np.int16)
int32 = DType("int32", np.int32)
int64 = DType("int64", np.int64)
uint8 = DType("uint8", np.uint8)
bool_ = DType("bool", np.bool_)
# TF1's tf.string: values are Python bytes in object arrays (run on the host in every backend)
string = DType("string", np.object_)

ALL = (float16, float32, float64, int8, int16, int32, int64, uint8, bool_, string)
_BY_NP = {d.np: d for d in ALL}
# TF1 spellings people type as strings ("float" is TF1's float32).
_ALIASES = {"float": float32, "double": float64, "half": float16, "int": int32, "long": int64}


def as_dtype(value: object) -> DType:
    """Convert a DType, NumPy dtype/type, Python type or TF1 name ("float", "int64") to a DType."""
    if isinstance(value, DType):
        return value
    if isinstance(value, str):
        for d in ALL:
            if d.name == value:
                return d
        if value in _ALIASES:
            return _ALIASES[value]
        raise TypeError(f"unknown dtype name {value!r}; use one of {[d.name for d in ALL]}")
    if value is float:
        return float32
    if value is int:
        return int32
    if value is bool:
        return bool_
    try:
        npd = np.dtype(value)
    except TypeError:
        raise TypeError(f"cannot interpret {value!r} as a dtype") from None
    if npd in _BY_NP:
        return _BY_NP[npd]
    if npd.kind in "SU":  # NumPy bytes/str arrays become tf.string (bytes), as TF1
        return string
    raise TypeError(f"dtype {npd} is not supported by graphengine")


def default_dtype_for(value: object) -> DType:
    """The dtype TF1 gives a Python or NumPy value when it becomes a constant."""
    if isinstance(value, np.ndarray | np.generic):
        return as_dtype(value.dtype)
    arr = np.asarray(value)
    if arr.dtype.kind == "f":
        return float32
    if arr.dtype.kind in "iu":
        # Python ints are int32 unless a value does not fit, then int64 (TF1); beyond int64, TF
        # raises too
        if arr.size and (arr.max() > _I32.max or arr.min() < _I32.min):
            if arr.dtype.kind == "u" and arr.max() > np.iinfo(np.int64).max:
                raise ValueError(f"{value!r} does not fit in int64")
            return int64
        return int32
    if arr.dtype.kind == "O" and arr.size and all(isinstance(v, int) for v in arr.ravel()):
        raise ValueError(f"{value!r} does not fit in int64")
    return as_dtype(arr.dtype)


_I32 = np.iinfo(np.int32)


def truediv_dtype(dt: DType) -> DType:
    """The result dtype of true division, as TF1's ``truediv``: small integers give float32,
    int32/int64 float64, floats keep their dtype."""
    if dt.is_floating:
        return dt
    if dt.is_bool:
        raise TypeError("true division of bool tensors; use ge.cast first")
    return float32 if dt.np.itemsize <= 2 else float64


def fits(value: object, dt: DType) -> bool:
    """Whether every value of an integer array fits ``dt`` (constants never wrap silently)."""
    arr = np.asarray(value)
    if not dt.is_integer or arr.dtype.kind not in "iuO" or arr.size == 0:
        return True
    info = np.iinfo(dt.np)
    return bool(info.min <= arr.min() and arr.max() <= info.max)


def string_array(value: object) -> np.ndarray:
    """``value`` (str, bytes, or nested lists/arrays of them) as an object array of ``bytes``:
    TF1 keeps strings as bytes, encoding ``str`` as UTF-8."""
    arr = np.array(value, dtype=object)
    out = np.empty(arr.shape, dtype=object)
    for i, v in enumerate(arr.reshape(-1)):
        if isinstance(v, np.ndarray):
            v = v.item()
        if isinstance(v, str | np.str_):
            v = str(v).encode("utf-8")
        elif isinstance(v, bytes | np.bytes_):
            v = bytes(v)
        else:
            raise TypeError(f"expected str or bytes for a tf.string tensor, got {type(v).__name__} {v!r}")
        out.reshape(-1)[i] = v
    return out
