"""``ge.nn``: activations, softmax, cross-entropies, dropout (TF1 ``tf.nn``)."""
from .ops.elementwise import elu, leaky_relu, relu, relu6, sigmoid, softplus, tanh
from .ops.nn import (
    bias_add,
    dropout,
    l2_loss,
    log_softmax,
    sigmoid_cross_entropy_with_logits,
    softmax,
    softmax_cross_entropy_with_logits,
    softmax_cross_entropy_with_logits_v2,
    sparse_softmax_cross_entropy_with_logits,
)

__all__ = ["bias_add", "dropout", "elu", "l2_loss", "leaky_relu", "log_softmax", "relu", "relu6",
           "sigmoid", "sigmoid_cross_entropy_with_logits", "softmax",
           "softmax_cross_entropy_with_logits", "softmax_cross_entropy_with_logits_v2",
           "softplus", "sparse_softmax_cross_entropy_with_logits", "tanh"]
