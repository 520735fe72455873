"""Facts that the op model, the compiler and every backend share, each written once.

- ``unbroadcast_axes``: which axes to sum to reduce a broadcast result back to an input's shape.
- ``view3`` / ``around_axis``: the canonical (outer, reduced, inner) view around a reduction.
- ``adam_step_size`` / ``ADAM_STEP_SIZE``: Adam's bias-corrected step size, as a function and as
  the expression template the CPU step generator renders (the function is compiled from it).
- ``resolve_alias`` / ``alias_chain``: from a tensor to the one that owns its buffer.

Plain Python on shapes and scalars (no Numba, no graph types), so ``kernels/`` may import it.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any


def unbroadcast_axes(shape: Sequence, target: Sequence) -> tuple[int, ...]:
    """Axes of a ``shape`` array (a broadcast result) to sum, keeping dims, so that it reshapes
    to ``target`` (the input that was broadcast): the leading axes ``target`` lacks, and the
    axes where ``target`` has 1 and ``shape`` does not (an unknown dim, None, counts as not 1).

    >>> unbroadcast_axes((4, 2, 3), (2, 1))
    (0, 2)
    """
    lead = len(shape) - len(target)
    return tuple(range(lead)) + tuple(i + lead for i, n in enumerate(target)
                                      if n == 1 and shape[i + lead] != 1)


def size(dims: Iterable) -> int:
    """The product of ``dims`` (1 for none)."""
    return int(math.prod(int(n) for n in dims))


def view3(shape: Sequence, axes: Iterable[int] | None, prod: Callable[[Sequence], Any] = size
          ) -> tuple | None:
    """``(outer, reduced, inner)`` sizes of ``shape`` around the reduced ``axes`` (None: all),
    None when the axes are not one contiguous run. No axes reduce nothing: ``(all, 1, 1)``.
    ``prod`` multiplies a run of dims (the step generator passes one for symbolic dims).

    >>> view3((2, 3, 4, 5), (1, 2))
    (2, 12, 5)
    """
    r = len(shape)
    axes = tuple(range(r)) if axes is None else tuple(axes)
    if not axes:
        lo, hi = r, r - 1
    else:
        lo, hi = min(axes), max(axes)
        if hi - lo + 1 != len(axes):
            return None
    return prod(shape[:lo]), prod(shape[lo:hi + 1]), prod(shape[hi + 1:])


def around_axis(shape: Sequence, axis: int) -> tuple[int, int, int]:
    """``(prod(shape[:axis]), shape[axis], prod(shape[axis + 1:]))``: the (A, N, B) view that
    kernels working along one axis (batch norm's channels, gather's indexed axis, concat) use."""
    return view3(shape, (axis,))


# TF1's ApplyAdam: lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t). The template is the one
# source: the CPU step generator renders it into the step, and ``adam_step_size`` (used by the
# reference, the CPU kernel and, compiled as a device function, the CUDA kernel) is compiled
# from it below. ``math.sqrt`` of a float32 value rounds like a float32 sqrt once the product
# is taken in float32 (NumPy's weak Python scalars), so the reference keeps its float32 math.
ADAM_STEP_SIZE = "{lr} * math.sqrt(1.0 - {beta2} ** {t}) / (1.0 - {beta1} ** {t})"


def render_adam_step_size(lr: str, t: str, beta1: str, beta2: str) -> str:
    """``ADAM_STEP_SIZE`` with its four operands filled in (names or literals)."""
    return ADAM_STEP_SIZE.format(lr=lr, t=t, beta1=beta1, beta2=beta2)


def _compile_adam() -> Callable:
    ns: dict = {"math": math}
    exec(f"def adam_step_size(lr, t, beta1, beta2):\n"  # noqa: S102 - our own template
         f"    return {render_adam_step_size('lr', 't', 'beta1', 'beta2')}\n", ns)
    fn = ns["adam_step_size"]
    fn.__doc__ = "Adam's bias-corrected step size ``lr*sqrt(1-beta2**t)/(1-beta1**t)``."
    fn.__module__ = __name__
    return fn


adam_step_size: Callable = _compile_adam()


def alias_chain(t: Any, *links: Callable[[Any], Any]) -> Iterator[Any]:
    """``t``, the tensor it is an alias or view of, and so on to the one that owns the buffer.
    Each link maps a tensor to the one it aliases, or to None where it is no alias (a dict's
    ``get``); the first link that knows the tensor decides its next step."""
    while t is not None:
        yield t
        for link in links:
            nxt = link(t)
            if nxt is not None:
                t = nxt
                break
        else:
            return


def resolve_alias(t: Any, *links: Callable[[Any], Any]) -> Any:
    """The tensor that owns ``t``'s buffer: the end of ``alias_chain(t, *links)``.

    >>> resolve_alias("c", {"c": "b", "b": "a"}.get)
    'a'
    """
    owner = t
    for owner in alias_chain(t, *links):  # noqa: B007 - the last one is the answer
        pass
    return owner
