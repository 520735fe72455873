"""Exceptions. Every message names the op, its name scope and the user's line that built it."""
from __future__ import annotations


class GraphEngineError(Exception):
    """Base class of every graphengine error."""


class ShapeError(GraphEngineError, ValueError):
    """Incompatible shapes, at build time or at run time."""


class DTypeError(GraphEngineError, TypeError):
    """Incompatible or unsupported dtypes."""


class FeedError(GraphEngineError, ValueError):
    """A bad ``feed_dict``: unknown key, wrong shape or dtype, or a missing placeholder."""


class FailedPreconditionError(GraphEngineError, RuntimeError):
    """Using state that is not ready, such as reading an uninitialized variable (TF1 name)."""


class GradientError(GraphEngineError, ValueError):
    """A gradient cannot be built: no rule for an op, or no path to any variable."""


class KernelNotFoundError(GraphEngineError, NotImplementedError):
    """An op has no kernel on the chosen backend."""


class NumericsError(GraphEngineError, FloatingPointError):
    """A NaN or Inf appeared while ``debug_numerics`` was on."""


def describe(op) -> str:
    """``op 'scope/name' (type) built at file:line`` for error messages."""
    site = f" built at {op.site}" if op.site else ""
    origin = ""
    fwd = getattr(op, "forward", None)
    if fwd is not None:
        origin = f", gradient of '{fwd.name}' ({fwd.type}){' built at ' + fwd.site if fwd.site else ''}"
    return f"op '{op.name}' ({op.type}){site}{origin}"
