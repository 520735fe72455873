"""``ge.layers``: TF1's ``tf.layers`` functions in the core (variables named as TF1 names them).

>>> import graphengine as ge
>>> x = ge.placeholder(ge.float32, (None, 8, 8, 1))
>>> ge.layers.conv2d(x, 4, 3, padding="same").shape
(None, 8, 8, 4)
"""
# ----- convolution and pooling ---------------------------------------------------------------
from .layers_conv import average_pooling2d, conv2d, conv2d_transpose, max_pooling2d

__all__ = ["average_pooling2d", "conv2d", "conv2d_transpose", "max_pooling2d"]
