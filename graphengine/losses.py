"""``ge.losses``: losses reduced to a scalar mean, as TF1's ``tf.losses`` does by default."""
from __future__ import annotations

from typing import Any

from .graph import Tensor, name_scope
from .ops import elementwise as ew
from .ops.nn import (
    sigmoid_cross_entropy_with_logits,
    softmax_cross_entropy_with_logits,
    sparse_softmax_cross_entropy_with_logits,
)
from .ops.reduce import reduce_mean, reduce_sum
from .ops.shape import one_hot
from .ops.source import as_tensor


def _weighted_mean(per_example: Tensor, weights: Any) -> Tensor:
    """TF1's default reduction (SUM_BY_NONZERO_WEIGHTS): sum(w * loss) / count of nonzero weights."""
    if isinstance(weights, int | float) and weights == 1:
        return reduce_mean(per_example)
    from .ops.shape import broadcast_like
    weighted = ew.multiply(per_example, weights)
    w = as_tensor(weights, per_example.dtype) if not isinstance(weights, Tensor) else weights
    present = broadcast_like(ew.cast(ew.not_equal(w, 0), per_example.dtype), weighted)
    # all weights zero: the sum is zero too, and the loss is 0 as in TF1
    return ew.divide(reduce_sum(weighted), ew.maximum(reduce_sum(present), 1))


def _pair(labels: Any, predictions: Any) -> tuple[Tensor, Tensor]:
    predictions = as_tensor(predictions)
    return as_tensor(labels, predictions.dtype) if not isinstance(labels, Tensor) else labels, predictions


def mean_squared_error(labels: Any, predictions: Any, weights: Any = 1.0, scope: str | None = None) -> Tensor:
    """mean((predictions - labels) ** 2)."""
    labels, predictions = _pair(labels, predictions)
    with name_scope(scope or "mean_squared_error"):
        return _weighted_mean(ew.squared_difference(predictions, labels), weights)


def absolute_difference(labels: Any, predictions: Any, weights: Any = 1.0, scope: str | None = None) -> Tensor:
    """mean(|predictions - labels|) (MAE)."""
    labels, predictions = _pair(labels, predictions)
    with name_scope(scope or "absolute_difference"):
        return _weighted_mean(ew.abs(ew.subtract(predictions, labels)), weights)


def huber_loss(labels: Any, predictions: Any, weights: Any = 1.0, delta: float = 1.0,
               scope: str | None = None) -> Tensor:
    """mean of 0.5*e^2 where |e| <= delta, else delta*(|e| - 0.5*delta)."""
    labels, predictions = _pair(labels, predictions)
    with name_scope(scope or "huber_loss"):
        err = ew.abs(ew.subtract(predictions, labels))
        quad = ew.minimum(err, delta)
        lin = ew.subtract(err, quad)
        return _weighted_mean(ew.add(ew.multiply(ew.square(quad), 0.5), ew.multiply(lin, delta)), weights)


def hinge_loss(labels: Any, logits: Any, weights: Any = 1.0, scope: str | None = None) -> Tensor:
    """mean(max(0, 1 - (2*labels - 1) * logits)) with labels in {0, 1} (TF1)."""
    labels, logits = _pair(labels, logits)
    with name_scope(scope or "hinge_loss"):
        signs = ew.subtract(ew.multiply(labels, 2), 1)
        return _weighted_mean(ew.relu(ew.subtract(1, ew.multiply(signs, logits))), weights)


def multiclass_hinge_loss(labels: Any, logits: Any, margin: float = 1.0, weights: Any = 1.0,
                          scope: str | None = None) -> Tensor:
    """Weston-Watkins SVM: mean over examples of sum_{j != y} max(0, s_j - s_y + margin)."""
    logits = as_tensor(logits)
    labels = as_tensor(labels)
    with name_scope(scope or "multiclass_hinge_loss"):
        if logits.shape is None or logits.shape[-1] is None:
            raise ValueError("multiclass_hinge_loss needs logits with a known number of classes")
        onehot = one_hot(labels, logits.shape[-1], dtype=logits.dtype)
        true_score = reduce_sum(ew.multiply(logits, onehot), axis=-1, keepdims=True)
        margins = ew.relu(ew.add(ew.subtract(logits, true_score), margin))
        per_example = reduce_sum(ew.multiply(margins, ew.subtract(1, onehot)), axis=-1)
        return _weighted_mean(per_example, weights)


def sigmoid_cross_entropy(multi_class_labels: Any, logits: Any, weights: Any = 1.0,
                          scope: str | None = None) -> Tensor:
    logits = as_tensor(logits)
    with name_scope(scope or "sigmoid_cross_entropy"):
        return _weighted_mean(sigmoid_cross_entropy_with_logits(labels=multi_class_labels, logits=logits),
                              weights)


def softmax_cross_entropy(onehot_labels: Any, logits: Any, weights: Any = 1.0,
                          scope: str | None = None) -> Tensor:
    with name_scope(scope or "softmax_cross_entropy"):
        return _weighted_mean(softmax_cross_entropy_with_logits(labels=onehot_labels, logits=logits), weights)


def sparse_softmax_cross_entropy(labels: Any, logits: Any, weights: Any = 1.0,
                                 scope: str | None = None) -> Tensor:
    with name_scope(scope or "sparse_softmax_cross_entropy"):
        return _weighted_mean(sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits),
                              weights)


def get_regularization_loss(scope: str | None = None) -> Tensor:
    """Sum of the losses registered by ``get_variable(..., regularizer=...)`` (0 if none)."""
    from .graph import get_default_graph
    losses = get_default_graph().get_collection("regularization_losses")
    if not losses:
        return as_tensor(0.0)
    total = losses[0]
    for x in losses[1:]:
        total = ew.add(total, x)
    return total
