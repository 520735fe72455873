"""Source ops: constants, placeholders and random tensors (no tensor inputs)."""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import dtypes as _dt
from ..errors import DTypeError, ShapeError
from ..graph import Tensor, get_default_graph
from .registry import apply1, defop


def _static(shape: Any) -> tuple:
    if shape is None:
        return None
    if isinstance(shape, int | np.integer):
        return (int(shape),)
    return tuple(None if d is None or d == -1 else int(d) for d in shape)


# const: the value lives in attrs (a read-only ndarray)
defop("const", "source", lambda s, d, a: [(a["value"].shape, _dt.as_dtype(a["value"].dtype))],
      ref=lambda a: a["value"], differentiable=False, runtime=True, arg_source=True)


def constant(value: Any, dtype: Any = None, shape: Any = None, name: str = "Const") -> Tensor:
    """A constant tensor (TF1 ``constant``).

    >>> import graphengine as ge
    >>> ge.constant([1.0, 2.0]).dtype
    ge.float32
    """
    dt = _dt.as_dtype(dtype) if dtype is not None else _dt.default_dtype_for(value)
    src = np.asarray(value)
    if src.dtype.kind == "f" and dt.is_integer:
        raise DTypeError(f"constant: cannot store float values {src.ravel()[:3]}... as {dt.name}")
    if not _dt.fits(src, dt):
        raise DTypeError(f"constant: {value!r} does not fit in {dt.name} (values never wrap)")
    arr = _dt.string_array(src) if dt == _dt.string else src.astype(dt.np)
    if shape is not None:
        shape = _static(shape)
        arr = np.broadcast_to(arr, shape) if arr.size == 1 else arr.reshape(shape)
    arr = np.array(arr, copy=True)
    arr.setflags(write=False)
    return apply1("const", [], {"value": arr}, name)


def as_tensor(value: Any, dtype: Any = None, name: str | None = None) -> Tensor:
    """Tensor as is (checking dtype); Variables as their value; anything else as a constant."""
    if isinstance(value, Tensor):
        if dtype is not None and value.dtype != _dt.as_dtype(dtype):
            raise DTypeError(f"expected {_dt.as_dtype(dtype).name}, got {value.name} of "
                             f"{value.dtype.name}; use ge.cast to convert")
        return value
    if hasattr(value, "_as_graph_tensor"):
        return value._as_graph_tensor()
    if isinstance(value, list | tuple) and any(isinstance(v, Tensor) for v in value):
        from .shape import stack
        return stack([as_tensor(v, dtype) for v in value])
    if dtype is not None:
        dt = _dt.as_dtype(dtype)
        src = np.asarray(value)
        if dt.is_integer and src.dtype.kind == "f" and not np.all(np.mod(src, 1) == 0):
            raise DTypeError(f"cannot use non-integer value {value!r} with an {dt.name} tensor")
        if dt.is_bool and src.dtype.kind != "b":
            raise DTypeError(f"cannot use {value!r} as a bool tensor")
        return constant(src, dtype=dt, name=name or "Const")
    return constant(value, name=name or "Const")


def _placeholder_infer(s, d, a):
    return [(a["shape"], a["dtype"])]


defop("placeholder", "source", _placeholder_infer, differentiable=False, runtime=True, arg_source=True,
      no_cse=True)


def placeholder(dtype: Any, shape: Any = None, name: str | None = None) -> Tensor:
    """A value fed at run time (TF1 ``placeholder``). ``None`` dims take any size.

    >>> import graphengine as ge
    >>> x = ge.placeholder(ge.float32, shape=(None, 784), name="x")
    >>> x.shape
    (None, 784)
    """
    return apply1("placeholder", [], {"dtype": _dt.as_dtype(dtype), "shape": _static(shape)},
                  name or "Placeholder")


def _pwd_infer(s, d, a):
    want = a["shape"]
    if want is not None and s[0] is not None:
        if len(want) != len(s[0]) or any(w is not None and w != g for w, g in zip(want, s[0])):
            raise ShapeError(f"default value of shape {s[0]} does not fit shape {want}")
    return [(want if want is not None else s[0], d[0])]


defop("placeholder_with_default", "source", _pwd_infer, ref=lambda a, x: x,
      vjp=lambda op, g: [g[0]], view=True)


def placeholder_with_default(input: Any, shape: Any = None, name: str | None = None) -> Tensor:
    """A placeholder that takes ``input``'s value when not fed (TF1 ``placeholder_with_default``)."""
    t = as_tensor(input)
    return apply1("placeholder_with_default", [t],
                  {"shape": _static(shape) if shape is not None else t.shape},
                  name or "PlaceholderWithDefault")


def zeros(shape: Any, dtype: Any = _dt.float32, name: str = "zeros") -> Tensor:
    dt = _dt.as_dtype(dtype)
    if _shape_tensor(shape):
        from .dynamic import fill as dynamic_fill
        return dynamic_fill(shape, np.zeros((), dt.np), name=name)
    return constant(np.zeros(_static(shape), dt.np), dt, name=name)


def ones(shape: Any, dtype: Any = _dt.float32, name: str = "ones") -> Tensor:
    dt = _dt.as_dtype(dtype)
    if _shape_tensor(shape):
        from .dynamic import fill as dynamic_fill
        return dynamic_fill(shape, np.ones((), dt.np), name=name)
    return constant(np.ones(_static(shape), dt.np), dt, name=name)


def fill(dims: Any, value: Any, name: str = "Fill") -> Tensor:
    """``dims`` filled with ``value``; the dtype is the value's (a Python float gives float32).

    >>> import graphengine as ge
    >>> ge.fill([2, 3], 7.0).dtype
    ge.float32
    """
    if _shape_tensor(dims) or isinstance(value, Tensor):
        from .dynamic import fill as dynamic_fill
        return dynamic_fill(dims, value, name=name)
    dt = _dt.default_dtype_for(value)
    return constant(np.full(_static(dims), value, dt.np), dt, name=name)


# ----- random ----------------------------------------------------------------------------
# The kernel receives a numpy Generator owned by the session (one per op, seeded from the
# graph and op seeds), so runs are reproducible and successive runs draw new numbers.

def _rng_infer(s, d, a):
    return [(a["shape"], a["dtype"])]


def _truncated(rng: np.random.Generator, shape: tuple, dtype: np.dtype) -> np.ndarray:
    out = rng.standard_normal(shape)
    bad = np.abs(out) > 2
    while bad.any():
        out[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(out) > 2
    return out


_SAMPLERS = {
    "normal": lambda rng, a, shape: a["mean"] + a["stddev"] * rng.standard_normal(shape),
    "truncated_normal": lambda rng, a, shape: a["mean"] + a["stddev"] * _truncated(rng, shape, None),
    "uniform": lambda rng, a, shape: rng.uniform(a["minval"], a["maxval"], shape),
}


def sample(attrs: dict, rng: np.random.Generator, shape: tuple) -> np.ndarray:
    dt = attrs["dtype"].np
    if attrs["dist"] == "uniform" and dt.kind in "iu":
        return rng.integers(attrs["minval"], attrs["maxval"], shape).astype(dt)
    return _SAMPLERS[attrs["dist"]](rng, attrs, shape).astype(dt)


defop("random", "source", _rng_infer, ref=None, differentiable=False, stateful=True, random=True,
      runtime=True, arg_source=True)


def _shape_tensor(shape: Any) -> bool:
    from .dynamic import is_shape_tensor
    return is_shape_tensor(shape)


def _param(v: Any) -> Any:
    """A random op's mean/stddev/minval/maxval: a number, or a tensor (then applied as graph ops)."""
    return v if isinstance(v, Tensor) or hasattr(v, "_as_graph_tensor") else float(v)


def _random(dist: str, shape: Any, dtype: Any, seed: int | None, name: str, **params: float) -> Tensor:
    if any(isinstance(v, Tensor) or hasattr(v, "_as_graph_tensor") for v in params.values()):
        from .dynamic import random_scaled
        return random_scaled(dist, shape, dtype, seed, name, **params)
    if _shape_tensor(shape):
        from .dynamic import random as dynamic_random
        return dynamic_random(dist, shape, dtype, seed, name, **params)
    shape = _static(shape)
    if shape is None or any(d is None for d in shape):
        raise ShapeError(f"{name}: random tensors need a fully known shape, got {shape}")
    g = get_default_graph()
    return apply1("random", [], {"dist": dist, "shape": shape, "dtype": _dt.as_dtype(dtype),
                                 "seed": g.next_seed(seed), **params}, name)


def random_normal(shape: Any, mean: float = 0.0, stddev: float = 1.0, dtype: Any = _dt.float32,
                  seed: int | None = None, name: str = "random_normal") -> Tensor:
    """Normal samples, new each run; reproducible with ``seed`` or ``ge.set_random_seed``."""
    return _random("normal", shape, dtype, seed, name, mean=_param(mean), stddev=_param(stddev))


def truncated_normal(shape: Any, mean: float = 0.0, stddev: float = 1.0, dtype: Any = _dt.float32,
                     seed: int | None = None, name: str = "truncated_normal") -> Tensor:
    """Normal samples redrawn beyond two standard deviations (TF1 ``truncated_normal``)."""
    return _random("truncated_normal", shape, dtype, seed, name, mean=_param(mean), stddev=_param(stddev))


def random_uniform(shape: Any, minval: float = 0.0, maxval: float | None = None,
                   dtype: Any = _dt.float32, seed: int | None = None,
                   name: str = "random_uniform") -> Tensor:
    """Uniform samples in [minval, maxval) (maxval defaults to 1 for floats)."""
    if maxval is None:
        if _dt.as_dtype(dtype).is_integer:
            raise ValueError("random_uniform: integer dtypes need maxval")
        maxval = 1.0
    return _random("uniform", shape, dtype, seed, name, minval=minval, maxval=maxval)


defop("random_uniform_like", "source",
      lambda s, d, a: [(s[0], a["dtype"])], differentiable=False, stateful=True, random=True, runtime=True,
      arg_source=True)


def random_uniform_like(x: Tensor, seed: int | None = None, name: str = "random_uniform_like") -> Tensor:
    """Uniform [0, 1) samples with ``x``'s run-time shape (used by dropout)."""
    g = x.graph
    return apply1("random_uniform_like", [x], {"seed": g.next_seed(seed), "dtype": x.dtype}, name)
