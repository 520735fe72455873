"""``ge.losses``: losses weighted and reduced as TF1's ``tf.losses``: by default the weighted sum
over the number of nonzero weights (``Reduction.SUM_BY_NONZERO_WEIGHTS``; the mean for weights 1)."""
from __future__ import annotations

from typing import Any

from .graph import Tensor, get_default_graph, name_scope
from .ops import elementwise as ew
from .ops.nn import (
    sigmoid_cross_entropy_with_logits,
    softmax_cross_entropy_with_logits,
    sparse_softmax_cross_entropy_with_logits,
)
from .ops.reduce import reduce_mean, reduce_sum
from .ops.shape import broadcast_like, one_hot
from .ops.source import as_tensor


class Reduction:
    """How a loss reduces its weighted per-element values (TF1 ``tf.losses.Reduction``)."""

    NONE = "none"                                            # weighted values, unreduced
    SUM = "weighted_sum"
    SUM_OVER_BATCH_SIZE = "weighted_sum_over_batch_size"      # sum / number of elements
    MEAN = "weighted_mean"                                    # sum / sum of the weights
    SUM_BY_NONZERO_WEIGHTS = "weighted_sum_by_nonzero_weights"  # the default
    SUM_OVER_NONZERO_WEIGHTS = SUM_BY_NONZERO_WEIGHTS

    @classmethod
    def all(cls) -> tuple[str, ...]:
        return (cls.NONE, cls.SUM, cls.SUM_OVER_BATCH_SIZE, cls.MEAN, cls.SUM_BY_NONZERO_WEIGHTS)


def _div_no_nan(total: Tensor, count: Tensor) -> Tensor:
    zero = ew.equal(count, 0)
    safe = ew.where(zero, ew.ones_like_scalar(count), count)
    return ew.where(zero, ew.zeros_like_scalar(total), ew.divide(total, safe))


def compute_weighted_loss(losses: Any, weights: Any = 1.0, scope: str | None = None,
                          loss_collection: Any = None,
                          reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    """Weight and reduce per-element losses as TF1 does. The default, SUM_BY_NONZERO_WEIGHTS, is
    ``sum(w * loss) / (number of nonzero weights, broadcast to the loss's shape)``, 0 when every
    weight is 0.

    >>> import graphengine as ge
    >>> loss = ge.losses.compute_weighted_loss(ge.constant([1.0, 2.0, 4.0]), [1.0, 0.0, 1.0])
    >>> float(loss.eval(session=ge.Session()))
    2.5
    """
    if reduction not in Reduction.all():
        raise ValueError(f"unknown reduction {reduction!r}; use one of {Reduction.all()}")
    per = as_tensor(losses)
    unit = isinstance(weights, int | float) and weights == 1
    w = per if unit else (as_tensor(weights, per.dtype) if not isinstance(weights, Tensor) else weights)
    weighted = per if unit else ew.multiply(per, w)
    if reduction == Reduction.NONE:
        return weighted
    if unit and reduction in (Reduction.SUM_BY_NONZERO_WEIGHTS, Reduction.SUM_OVER_BATCH_SIZE,
                              Reduction.MEAN):
        return reduce_mean(per)
    total = reduce_sum(weighted)
    if reduction == Reduction.SUM:
        return total
    if reduction == Reduction.SUM_OVER_BATCH_SIZE:
        count = reduce_sum(broadcast_like(ew.ones_like_scalar(per), per))
    elif reduction == Reduction.MEAN:
        count = reduce_sum(broadcast_like(w, per))
    else:
        count = reduce_sum(broadcast_like(ew.cast(ew.not_equal(w, 0), per.dtype), per))
    return _div_no_nan(total, count)


def _weighted_mean(per_example: Tensor, weights: Any, reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    return compute_weighted_loss(per_example, weights, reduction=reduction)


def _pair(labels: Any, predictions: Any) -> tuple[Tensor, Tensor]:
    predictions = as_tensor(predictions)
    return as_tensor(labels, predictions.dtype) if not isinstance(labels, Tensor) else labels, predictions


_R = Reduction.SUM_BY_NONZERO_WEIGHTS


def mean_squared_error(labels: Any, predictions: Any, weights: Any = 1.0, scope: str | None = None,
                       loss_collection: Any = None, reduction: str = _R) -> Tensor:
    """mean((predictions - labels) ** 2)."""
    labels, predictions = _pair(labels, predictions)
    with name_scope(scope or "mean_squared_error"):
        return _weighted_mean(ew.squared_difference(predictions, labels), weights, reduction)


def absolute_difference(labels: Any, predictions: Any, weights: Any = 1.0, scope: str | None = None,
                        loss_collection: Any = None, reduction: str = _R) -> Tensor:
    """mean(|predictions - labels|) (MAE)."""
    labels, predictions = _pair(labels, predictions)
    with name_scope(scope or "absolute_difference"):
        return _weighted_mean(ew.abs(ew.subtract(predictions, labels)), weights, reduction)


def huber_loss(labels: Any, predictions: Any, weights: Any = 1.0, delta: float = 1.0,
               scope: str | None = None, loss_collection: Any = None, reduction: str = _R) -> Tensor:
    """mean of 0.5*e^2 where |e| <= delta, else delta*(|e| - 0.5*delta)."""
    labels, predictions = _pair(labels, predictions)
    with name_scope(scope or "huber_loss"):
        err = ew.abs(ew.subtract(predictions, labels))
        quad = ew.minimum(err, delta)
        lin = ew.subtract(err, quad)
        return _weighted_mean(ew.add(ew.multiply(ew.square(quad), 0.5), ew.multiply(lin, delta)), weights,
                              reduction)


def hinge_loss(labels: Any, logits: Any, weights: Any = 1.0, scope: str | None = None,
               loss_collection: Any = None, reduction: str = _R) -> Tensor:
    """mean(max(0, 1 - (2*labels - 1) * logits)) with labels in {0, 1} (TF1)."""
    labels, logits = _pair(labels, logits)
    with name_scope(scope or "hinge_loss"):
        signs = ew.subtract(ew.multiply(labels, 2), 1)
        return _weighted_mean(ew.relu(ew.subtract(1, ew.multiply(signs, logits))), weights, reduction)


def log_loss(labels: Any, predictions: Any, weights: Any = 1.0, epsilon: float = 1e-7,
             scope: str | None = None, loss_collection: Any = None, reduction: str = _R) -> Tensor:
    """mean of -y log(p + eps) - (1 - y) log(1 - p + eps) (TF1's ``log_loss``)."""
    labels, p = _pair(labels, predictions)
    with name_scope(scope or "log_loss"):
        pos = ew.multiply(labels, ew.log(ew.add(p, epsilon)))
        neg = ew.multiply(ew.subtract(1.0, labels), ew.log(ew.add(ew.subtract(1.0, p), epsilon)))
        return _weighted_mean(ew.subtract(ew.negative(pos), neg), weights, reduction)


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
                          label_smoothing: float = 0, scope: str | None = None,
                          loss_collection: Any = None, reduction: str = _R) -> Tensor:
    """Sigmoid cross-entropy; ``label_smoothing`` moves labels towards 1/2:
    ``z * (1 - s) + 0.5 * s`` (TF1)."""
    logits = as_tensor(logits)
    with name_scope(scope or "sigmoid_cross_entropy"):
        z = as_tensor(multi_class_labels, logits.dtype) if not isinstance(multi_class_labels, Tensor) \
            else ew.cast(multi_class_labels, logits.dtype)
        if label_smoothing:
            z = ew.add(ew.multiply(z, 1 - label_smoothing), 0.5 * label_smoothing)
        return _weighted_mean(sigmoid_cross_entropy_with_logits(labels=z, logits=logits), weights, reduction)


def softmax_cross_entropy(onehot_labels: Any, logits: Any, weights: Any = 1.0,
                          label_smoothing: float = 0, scope: str | None = None,
                          loss_collection: Any = None, reduction: str = _R) -> Tensor:
    """Softmax cross-entropy, no gradient to the labels (TF1); ``label_smoothing`` s gives
    ``labels * (1 - s) + s / num_classes``."""
    logits = as_tensor(logits)
    with name_scope(scope or "softmax_cross_entropy"):
        y = as_tensor(onehot_labels, logits.dtype) if not isinstance(onehot_labels, Tensor) \
            else ew.cast(onehot_labels, logits.dtype)
        if label_smoothing:
            if y.shape is None or y.shape[-1] is None:
                raise ValueError("softmax_cross_entropy(label_smoothing=...) needs a known number of classes")
            y = ew.add(ew.multiply(y, 1.0 - label_smoothing), label_smoothing / y.shape[-1])
        return _weighted_mean(softmax_cross_entropy_with_logits(labels=y, logits=logits), weights, reduction)


def sparse_softmax_cross_entropy(labels: Any, logits: Any, weights: Any = 1.0,
                                 scope: str | None = None, loss_collection: Any = None,
                                 reduction: str = _R) -> Tensor:
    with name_scope(scope or "sparse_softmax_cross_entropy"):
        return _weighted_mean(sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits),
                              weights, reduction)


def get_regularization_loss(scope: str | None = None) -> Tensor:
    """Sum of the losses registered by ``get_variable(..., regularizer=...)`` (0 if none)."""
    losses = get_default_graph().get_collection("regularization_losses")
    if not losses:
        return as_tensor(0.0)
    total = losses[0]
    for x in losses[1:]:
        total = ew.add(total, x)
    return total
