"""TF1 graph-mode API on graphengine: ``import graphengine.compat.v1 as tf``.

Classic TensorFlow 1.x programs run with that one changed import. Names map onto the native
API (graphengine's own names already follow TF1; the features, ``layers.dense`` or ``add_n``
included, live there); this module keeps only TF1's spellings: argument aliases
(``reduction_indices``, ``keep_dims``, ``dimension``, ``dim``), its initializer classes and
namespaces (``tf.contrib.layers``, ``tf.train``, ``tf.math``), ``VariableScope`` objects (on
``graphengine.variables``' public scope functions), and the unsupported-name machinery.

A TF1 symbol that graphengine does not support raises ``UnsupportedTF1Error`` naming it
(``tf.nn.dynamic_rnn is not supported by graphengine.compat.v1 ...``), on this module and on each
sub-namespace. It is both a ``NotImplementedError`` and an ``AttributeError``, so probes
(``hasattr(tf, name)``, ``getattr(tf, name, default)``, matplotlib's look for ``is_tensor``) see
the name as absent while people read why. (Names starting with an underscore, and the few that
pytest/unittest probe on modules, raise a plain ``AttributeError``.)

>>> import graphengine.compat.v1 as tf
>>> a = tf.placeholder("float", [None, 2])
>>> with tf.Session() as sess:
...     sess.run(tf.reduce_sum(a, reduction_indices=1), feed_dict={a: [[1, 2]]}).tolist()
[3.0]
"""
from __future__ import annotations

import builtins
import contextlib
import types
from collections.abc import Iterator
from typing import Any

import numpy as _np

import graphengine as _ge

from .. import checkpoint as _ckpt
from .. import initializers as _init
from .. import losses as _losses
from .. import regularizers as _reg
from .. import variables as _vars
from ..ops import nn as _nn_ops
from ..ops import reduce as _red
from . import v1_conv as _v1_conv
from .unsupported import _HINTS, _TOOL_PROBES, UnsupportedTF1Error, _is_probe, _Namespace, _unsupported  # noqa: F401


def __getattr__(name: str) -> Any:  # module-level: unknown tf.X
    if _is_probe(name):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    raise _unsupported(name)


# ----- dtypes ------------------------------------------------------------------------------
DType = _ge.DType
as_dtype = _ge.as_dtype
float16, float32, float64 = _ge.float16, _ge.float32, _ge.float64
half, double = float16, float64
int8, int16, int32, int64, uint8 = _ge.int8, _ge.int16, _ge.int32, _ge.int64, _ge.uint8
bool = _ge.bool_  # noqa: A001  (tf.bool)

# ----- graph, sessions, tensors ------------------------------------------------------------
Graph, Tensor, Operation = _ge.Graph, _ge.Tensor, _ge.Operation
Variable = _ge.Variable
Session, InteractiveSession = _ge.Session, _ge.InteractiveSession  # TF1's feed/fetch rules are the core's
get_default_session = _ge.get_default_session
get_default_graph, reset_default_graph = _ge.get_default_graph, _ge.reset_default_graph
name_scope, control_dependencies = _ge.name_scope, _ge.control_dependencies
set_random_seed = _ge.set_random_seed
group, no_op = _ge.group, _ge.no_op
gradients = _ge.gradients
global_variables_initializer = _ge.global_variables_initializer
initialize_all_variables = _ge.initialize_all_variables
variables_initializer = _ge.variables_initializer
global_variables, trainable_variables = _ge.global_variables, _ge.trainable_variables
all_variables = global_variables
assign, assign_add = _ge.assign, _ge.assign_add
AUTO_REUSE = _ge.AUTO_REUSE
GraphKeys = types.SimpleNamespace(GLOBAL_VARIABLES="variables", TRAINABLE_VARIABLES="trainable_variables",
                                  REGULARIZATION_LOSSES="regularization_losses",
                                  GLOBAL_STEP="global_step", UPDATE_OPS="update_ops")


def local_variables_initializer() -> Any:
    """An op that does nothing: graphengine has no local variables (TF1 compatibility)."""
    return _ge.no_op(name="init_local")


def get_collection(key: str, scope: str | None = None) -> list:
    """Items of a graph collection, optionally filtered by a name-scope prefix (TF1)."""
    items = get_default_graph().get_collection(key)
    if scope:
        items = [v for v in items if getattr(v, "name", "").startswith(scope)]
    return items


def add_to_collection(name: str, value: Any) -> None:
    get_default_graph().add_to_collection(name, value)


def ConfigProto(**kwargs: Any) -> dict:  # noqa: N802  (TF1 class name)
    """TF1 session config as the dict ``Session(config=...)`` reads.

    ``device_count={"GPU": 0}`` means CPU; ``device="reference"`` (a graphengine key) picks the
    NumPy executor. ``intra_op_parallelism_threads`` caps the BLAS threads of this process's
    CPU steps. Other TF1 fields (``log_device_placement``, ``allow_soft_placement``,
    ``inter_op_parallelism_threads``, ``gpu_options``) are accepted and ignored.

    >>> import graphengine.compat.v1 as tf
    >>> tf.ConfigProto(device_count={"GPU": 0}, allow_soft_placement=True)
    {'device': 'cpu'}
    """
    cfg = {k: kwargs[k] for k in ("device", "jit", "debug_numerics", "intra_op_parallelism_threads")
           if k in kwargs}
    if "device" not in cfg and kwargs.get("device_count", {}).get("GPU", None) == 0:
        cfg["device"] = "cpu"
    return cfg


def GPUOptions(**_: Any) -> dict:  # noqa: N802
    """Accepted and ignored (TF1 compatibility)."""
    return {}


# ----- tensors from values -----------------------------------------------------------------
constant, placeholder, placeholder_with_default = _ge.constant, _ge.placeholder, _ge.placeholder_with_default
zeros, ones, fill = _ge.zeros, _ge.ones, _ge.fill
convert_to_tensor = _ge.convert_to_tensor
random_normal, truncated_normal, random_uniform = _ge.random_normal, _ge.truncated_normal, _ge.random_uniform


zeros_like, ones_like = _ge.zeros_like, _ge.ones_like


# ----- math by TF1 names -------------------------------------------------------------------
add, subtract, multiply, divide = _ge.add, _ge.subtract, _ge.multiply, _ge.divide
truediv = divide  # tf.div (Python 2 division) and TF1's truediv: compat/tf1_ops.py
mul, sub = multiply, subtract  # pre-1.0 spellings still found in tutorials
pow, exp, log, log1p = _ge.pow, _ge.exp, _ge.log, _ge.log1p  # noqa: A001
sqrt, rsqrt, square, abs, sign = _ge.sqrt, _ge.rsqrt, _ge.square, _ge.abs, _ge.sign  # noqa: A001
negative, neg = _ge.negative, _ge.negative
maximum, minimum, squared_difference = _ge.maximum, _ge.minimum, _ge.squared_difference
sigmoid, tanh = _ge.sigmoid, _ge.tanh
matmul = _ge.matmul
equal, not_equal, less, less_equal = _ge.equal, _ge.not_equal, _ge.less, _ge.less_equal
greater, greater_equal = _ge.greater, _ge.greater_equal
logical_and, logical_or, logical_not = _ge.logical_and, _ge.logical_or, _ge.logical_not
cast, to_float = _ge.cast, _ge.to_float
where = _ge.where
reshape, transpose, concat, stack = _ge.reshape, _ge.transpose, _ge.concat, _ge.stack
expand_dims, squeeze, one_hot = _ge.expand_dims, _ge.squeeze, _ge.one_hot
identity, stop_gradient = _ge.identity, _ge.stop_gradient


def to_int32(x: Any, name: str | None = None) -> Any:
    return _ge.cast(x, int32, name)


def to_int64(x: Any, name: str | None = None) -> Any:
    return _ge.cast(x, int64, name)


def to_double(x: Any, name: str | None = None) -> Any:
    return _ge.cast(x, float64, name)


add_n = _ge.add_n


def _axis(axis: Any, reduction_indices: Any, fn: str) -> Any:
    if axis is not None and reduction_indices is not None:
        raise ValueError(f"tf.{fn}: pass axis or reduction_indices, not both")
    return axis if axis is not None else reduction_indices


def _tf1_reduce(native: Any, tf_name: str) -> Any:
    def reduce(input_tensor: Any, axis: Any = None, keepdims: bool | None = None, name: str | None = None,
               reduction_indices: Any = None, keep_dims: bool | None = None) -> Any:
        keep = builtins.bool(keepdims if keepdims is not None else keep_dims)
        return native(input_tensor, _axis(axis, reduction_indices, tf_name), keep, name)
    reduce.__name__ = reduce.__qualname__ = tf_name
    reduce.__doc__ = (f"TF1 ``tf.{tf_name}``: accepts ``reduction_indices`` and ``keep_dims`` too.\n\n"
                      f"{native.__doc__ or ''}")
    return reduce


reduce_sum = _tf1_reduce(_red.reduce_sum, "reduce_sum")
reduce_mean = _tf1_reduce(_red.reduce_mean, "reduce_mean")
reduce_max = _tf1_reduce(_red.reduce_max, "reduce_max")
reduce_min = _tf1_reduce(_red.reduce_min, "reduce_min")


def argmax(input: Any, axis: Any = None, name: str | None = None, dimension: Any = None,  # noqa: A002
           output_type: Any = int64) -> Any:
    """Index of the largest value along ``axis`` (TF1 default axis 0; ``dimension`` alias)."""
    ax = _axis(axis, dimension, "argmax")
    return _ge.argmax(input, 0 if ax is None else ax, output_type, name)


def argmin(input: Any, axis: Any = None, name: str | None = None, dimension: Any = None,  # noqa: A002
           output_type: Any = int64) -> Any:
    """Index of the smallest value along ``axis`` (TF1 default axis 0; ``dimension`` alias)."""
    ax = _axis(axis, dimension, "argmin")
    return _ge.argmin(input, 0 if ax is None else ax, output_type, name)


# ----- initializers ------------------------------------------------------------------------
zeros_initializer, ones_initializer, constant_initializer = _init.Zeros, _init.Ones, _init.Constant
random_normal_initializer = _init.RandomNormal
truncated_normal_initializer = _init.TruncatedNormal
random_uniform_initializer = _init.RandomUniform
variance_scaling_initializer = _init.VarianceScaling


def glorot_uniform_initializer(seed: int | None = None, dtype: Any = float32) -> Any:
    return _init.glorot_uniform(seed)


def glorot_normal_initializer(seed: int | None = None, dtype: Any = float32) -> Any:
    return _init.glorot_normal(seed)


def xavier_initializer(uniform: bool = True, seed: int | None = None, dtype: Any = float32) -> Any:
    """``tf.contrib.layers.xavier_initializer``: Glorot uniform (or truncated normal)."""
    return _init.glorot_uniform(seed) if uniform else _init.glorot_normal(seed)


def _contrib_variance_scaling(factor: float = 2.0, mode: str = "FAN_IN", uniform: bool = False,
                              seed: int | None = None, dtype: Any = float32) -> Any:
    """``tf.contrib.layers.variance_scaling_initializer`` (He initialization by default)."""
    return _init.VarianceScaling(factor, mode.lower(), "uniform" if uniform else "truncated_normal", seed)


# ----- variables and scopes ----------------------------------------------------------------
get_variable = _ge.get_variable


class VariableScope:
    """What ``with tf.variable_scope(...) as scope`` binds: ``name``, ``reuse``, ``reuse_variables()``."""

    def __init__(self, name: str, graph: Any) -> None:
        self.name = name
        self._graph = graph

    @property
    def original_name_scope(self) -> str:
        return self.name + "/" if self.name else ""

    @property
    def reuse(self) -> Any:
        return _vars.variable_scope_reuse(self.name, self._graph)

    def reuse_variables(self) -> None:
        """From now on, ``get_variable`` in this scope fetches existing variables (TF1)."""
        _vars.reuse_variables(self.name, self._graph)

    def __repr__(self) -> str:
        return f"<VariableScope {self.name!r} reuse={self.reuse}>"


@contextlib.contextmanager
def variable_scope(name_or_scope: Any = None, default_name: str | None = None, values: Any = None,
                   initializer: Any = None, reuse: Any = None, **_: Any) -> Iterator[VariableScope]:
    """TF1 ``variable_scope``: prefixes ``get_variable`` names; ``reuse=True``/``AUTO_REUSE`` shares.

    >>> import graphengine.compat.v1 as tf
    >>> with tf.variable_scope("enc") as scope:
    ...     w = tf.get_variable("w", [2, 2])
    ...     scope.reuse_variables()
    ...     tf.get_variable("w", [2, 2]) is w
    True
    """
    if isinstance(name_or_scope, VariableScope):
        name_or_scope = name_or_scope.name.rpartition("/")[2]
    if name_or_scope is None and default_name is not None:
        name_or_scope = _unique_layer_name(default_name)
    with _ge.variable_scope(name_or_scope, reuse=reuse, initializer=initializer) as full:
        yield VariableScope(full, get_default_graph())


def get_variable_scope() -> VariableScope:
    """The innermost active variable scope ("" at the top level)."""
    return VariableScope(_vars.current_variable_scope(), get_default_graph())


_unique_layer_name = _vars.unique_layer_name


# ----- layers: graphengine/compat/v1_layers.py --------------------------------------------
from .v1_layers import _dense, _flatten, _fully_connected, _layers_dropout  # noqa: E402


# ----- nn ----------------------------------------------------------------------------------
def _softmax(logits: Any, axis: Any = None, name: str | None = None, dim: Any = None) -> Any:
    """``tf.nn.softmax``, accepting TF1's ``dim`` alias for ``axis``."""
    ax = _axis(axis, dim, "nn.softmax")
    return _nn_ops.softmax(logits, -1 if ax is None else ax, name)


def _log_softmax(logits: Any, axis: Any = None, name: str | None = None, dim: Any = None) -> Any:
    ax = _axis(axis, dim, "nn.log_softmax")
    return _nn_ops.log_softmax(logits, -1 if ax is None else ax, name)


def _nn_dropout(x: Any, keep_prob: Any = None, noise_shape: Any = None, seed: int | None = None,
                name: str | None = None, rate: Any = None) -> Any:
    """``tf.nn.dropout(x, keep_prob)`` (TF1) or ``rate=`` (TF1.13+)."""
    if noise_shape is not None:
        raise UnsupportedTF1Error("tf.nn.dropout(noise_shape=...) is not supported by graphengine.compat.v1")
    return _nn_ops.dropout(x, keep_prob=keep_prob, rate=rate, seed=seed, name=name)


nn = _Namespace(
    "nn", "TF1 ``tf.nn``.",
    relu=_ge.relu, relu6=_ge.nn.relu6, elu=_ge.elu, softplus=_ge.softplus, leaky_relu=_ge.leaky_relu,
    sigmoid=_ge.sigmoid, tanh=_ge.tanh, softmax=_softmax, log_softmax=_log_softmax,
    softmax_cross_entropy_with_logits=_ge.nn.softmax_cross_entropy_with_logits,
    softmax_cross_entropy_with_logits_v2=_ge.nn.softmax_cross_entropy_with_logits_v2,
    sparse_softmax_cross_entropy_with_logits=_ge.nn.sparse_softmax_cross_entropy_with_logits,
    sigmoid_cross_entropy_with_logits=_ge.nn.sigmoid_cross_entropy_with_logits,
    dropout=_nn_dropout, l2_loss=_ge.nn.l2_loss, bias_add=_ge.nn.bias_add, xw_plus_b=_ge.nn.xw_plus_b,
)

losses = _Namespace(
    "losses", "TF1 ``tf.losses`` (each reduced to a scalar mean).",
    mean_squared_error=_losses.mean_squared_error, absolute_difference=_losses.absolute_difference,
    huber_loss=_losses.huber_loss, hinge_loss=_losses.hinge_loss,
    sigmoid_cross_entropy=_losses.sigmoid_cross_entropy,
    softmax_cross_entropy=_losses.softmax_cross_entropy,
    sparse_softmax_cross_entropy=_losses.sparse_softmax_cross_entropy,
    get_regularization_loss=_losses.get_regularization_loss, log_loss=_losses.log_loss,
)


train = _Namespace(
    "train", "TF1 ``tf.train``: optimizers, Saver, checkpoints, global step.",
    Optimizer=_ge.train.Optimizer, GradientDescentOptimizer=_ge.train.GradientDescentOptimizer,
    MomentumOptimizer=_ge.train.MomentumOptimizer, AdamOptimizer=_ge.train.AdamOptimizer,
    RMSPropOptimizer=_ge.train.RMSPropOptimizer, AdagradOptimizer=_ge.train.AdagradOptimizer,
    Saver=_ckpt.Saver, latest_checkpoint=_ckpt.latest_checkpoint,
    create_global_step=_ge.train.create_global_step, get_global_step=_ge.train.get_global_step,
    get_or_create_global_step=_ge.train.get_or_create_global_step,
)

_initializers = _Namespace(
    "initializers", "TF1 ``tf.initializers``.",
    zeros=_init.Zeros, ones=_init.Ones, constant=_init.Constant, random_normal=_init.RandomNormal,
    truncated_normal=_init.TruncatedNormal, random_uniform=_init.RandomUniform,
    variance_scaling=_init.VarianceScaling, glorot_uniform=glorot_uniform_initializer,
    glorot_normal=glorot_normal_initializer, he_normal=_init.he_normal, he_uniform=_init.he_uniform,
    lecun_normal=_init.lecun_normal, global_variables=global_variables_initializer,
    variables=variables_initializer,
)
initializers = _initializers

layers = _Namespace("layers", "TF1 ``tf.layers``: ``dense``, ``flatten``, ``dropout``, convolution and pooling.",
                    dense=_dense, flatten=_flatten, dropout=_layers_dropout)
_v1_conv.install(nn, layers)  # tf.nn.conv2d, tf.nn.max_pool, tf.layers.conv2d, ... (compat/v1_conv.py)

contrib = _Namespace(
    "contrib", "TF1 ``tf.contrib``: only ``contrib.layers``' initializers, regularizers and layers.",
    layers=_Namespace(
        "contrib.layers", "TF1 ``tf.contrib.layers``.",
        xavier_initializer=xavier_initializer, xavier_initializer_conv2d=xavier_initializer,
        variance_scaling_initializer=_contrib_variance_scaling,
        l1_regularizer=_reg.l1, l2_regularizer=_reg.l2, apply_regularization=_reg.apply_regularization,
        fully_connected=_fully_connected, flatten=_flatten,
    ),
)

math = _Namespace(
    "math", "TF1.13+ ``tf.math`` aliases.",
    add=add, subtract=subtract, multiply=multiply, divide=divide, truediv=truediv, pow=pow, exp=exp,
    log=log, log1p=log1p, sqrt=sqrt, rsqrt=rsqrt, square=square, abs=abs, sign=sign, negative=negative,
    maximum=maximum, minimum=minimum, squared_difference=squared_difference, sigmoid=sigmoid,
    tanh=tanh, equal=equal, not_equal=not_equal, less=less, less_equal=less_equal, greater=greater,
    greater_equal=greater_equal, logical_and=logical_and, logical_or=logical_or,
    logical_not=logical_not, reduce_sum=reduce_sum, reduce_mean=reduce_mean, reduce_max=reduce_max,
    reduce_min=reduce_min, argmax=argmax, argmin=argmin, add_n=add_n, softplus=_ge.softplus,
)

random = _Namespace("random", "TF1.13+ ``tf.random`` aliases.", normal=random_normal,
                    truncated_normal=truncated_normal, uniform=random_uniform,
                    set_random_seed=set_random_seed)

_LOG_LEVELS = {"DEBUG": 10, "INFO": 20, "WARN": 30, "WARNING": 30, "ERROR": 40, "FATAL": 50}
logging = _Namespace("logging", "TF1 ``tf.logging``: levels and a no-op ``set_verbosity``.",
                     set_verbosity=lambda level: None, **_LOG_LEVELS)


def disable_v2_behavior() -> None:
    """No-op: graphengine is always in TF1 graph mode (for ``tensorflow.compat.v1`` code)."""


disable_eager_execution = disable_v2_behavior


def executing_eagerly() -> bool:
    return False


# batch norm layer, gather/embeddings, tf.summary (graphengine/compat/v1_bn_summary.py)
from .v1_bn_summary import install as _install_bn_summary  # noqa: E402

_install_bn_summary(globals())

from .tf1_ops import install as _install_tf1_ops  # noqa: E402  (div, clip_*, reduce_prod, schedules, ...)

_install_tf1_ops(globals())

from .tf1_surface import install as _install_tf1_surface  # noqa: E402  (strings, device, shape, slicing)

_install_tf1_surface(globals())

__all__ = sorted(k for k, v in globals().items()
                 if not k.startswith("_") and k not in {"annotations", "builtins", "contextlib", "types",
                                                         "Any", "Iterator"})
