"""``ge.regularizers.l1(scale)`` / ``l2(scale)``: callables turning a weight into a penalty."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .graph import Tensor
from .ops import elementwise as ew
from .ops.reduce import reduce_sum


def l1(scale: float) -> Callable[[Any], Tensor]:
    """scale * sum(|w|)."""
    if scale < 0:
        raise ValueError(f"l1 scale must be >= 0, got {scale}")
    return lambda w: ew.multiply(reduce_sum(ew.abs(w)), scale)


def l2(scale: float) -> Callable[[Any], Tensor]:
    """scale * sum(w ** 2) / 2 (TF1's l2_regularizer, which uses l2_loss)."""
    if scale < 0:
        raise ValueError(f"l2 scale must be >= 0, got {scale}")
    return lambda w: ew.multiply(reduce_sum(ew.square(w)), scale / 2)


l1_regularizer, l2_regularizer = l1, l2


def apply_regularization(regularizer: Callable[[Any], Tensor], weights_list: list) -> Tensor:
    total = regularizer(weights_list[0])
    for w in weights_list[1:]:
        total = ew.add(total, regularizer(w))
    return total
