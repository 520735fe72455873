"""``ge.nn``: activations, softmax, cross-entropies, dropout, convolution, pooling (TF1 ``tf.nn``)."""
from .ops.batchnorm import batch_normalization, fused_batch_norm, moments
from .ops.elementwise import elu, leaky_relu, relu, relu6, sigmoid, softplus, tanh
from .ops.gather import embedding_lookup
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
    xw_plus_b,
)

__all__ = ["batch_normalization", "bias_add", "dropout", "elu", "embedding_lookup", "fused_batch_norm",
           "l2_loss", "leaky_relu", "log_softmax", "moments", "relu", "relu6",
           "sigmoid", "sigmoid_cross_entropy_with_logits", "softmax",
           "softmax_cross_entropy_with_logits", "softmax_cross_entropy_with_logits_v2",
           "softplus", "sparse_softmax_cross_entropy_with_logits", "tanh", "xw_plus_b"]
from .ops.nn import in_top_k, l2_normalize, selu, softsign  # noqa: E402

__all__ += ["in_top_k", "l2_normalize", "selu", "softsign"]
from .ops.conv import avg_pool, conv2d, conv2d_backprop_filter, conv2d_transpose, max_pool  # noqa: E402

__all__ += ["avg_pool", "conv2d", "conv2d_backprop_filter", "conv2d_transpose", "max_pool"]
