"""graphengine: a static computational-graph engine with TF1 names, compiled with Numba.

>>> import numpy as np, graphengine as ge
>>> x = ge.placeholder(ge.float32, (None, 2))
>>> w = ge.Variable(np.ones((2, 1), np.float32))
>>> y = ge.reduce_sum(x @ w)
>>> with ge.Session() as s:
...     s.run(ge.global_variables_initializer())
...     float(s.run(y, {x: [[1, 2], [3, 4]]}))
10.0
"""
from . import initializers, layers, losses, nn, regularizers, summary, train
from .autodiff import gradients
from .dtypes import (
    DType,
    as_dtype,
    bool_,
    float16,
    float32,
    float64,
    int8,
    int16,
    int32,
    int64,
    uint8,
)
from .errors import (
    DTypeError,
    FailedPreconditionError,
    FeedError,
    GradientError,
    GraphEngineError,
    KernelNotFoundError,
    NumericsError,
    ShapeError,
)
from .graph import (
    Graph,
    Operation,
    Tensor,
    control_dependencies,
    get_default_graph,
    name_scope,
    reset_default_graph,
    set_random_seed,
)
from .ops.control import group, no_op
from .ops.elementwise import (
    abs,
    add,
    add_n,
    cast,
    divide,
    elu,
    equal,
    exp,
    greater,
    greater_equal,
    leaky_relu,
    less,
    less_equal,
    log,
    log1p,
    logical_and,
    logical_not,
    logical_or,
    maximum,
    minimum,
    multiply,
    negative,
    not_equal,
    ones_like,
    pow,
    relu,
    rsqrt,
    sigmoid,
    sign,
    softplus,
    sqrt,
    square,
    squared_difference,
    subtract,
    tanh,
    to_float,
    where,
    zeros_like,
)
from .ops.gather import gather
from .ops.linalg import matmul
from .ops.reduce import argmax, argmin, reduce_max, reduce_mean, reduce_min, reduce_sum
from .ops.shape import (
    concat,
    expand_dims,
    identity,
    one_hot,
    reshape,
    squeeze,
    stack,
    stop_gradient,
    transpose,
)
from .ops.source import (
    as_tensor,
    constant,
    fill,
    ones,
    placeholder,
    placeholder_with_default,
    random_normal,
    random_uniform,
    truncated_normal,
    zeros,
)
from .runtime.session import InteractiveSession, Session, get_default_session
from .variables import (
    AUTO_REUSE,
    Variable,
    assign,
    assign_add,
    get_variable,
    global_variables,
    global_variables_initializer,
    initialize_all_variables,
    trainable_variables,
    variable_scope,
    variables_initializer,
)

convert_to_tensor = as_tensor

__version__ = "0.1.0"

from .ops.overloads import install as _install_operators  # noqa: E402

_install_operators()

from .dtypes import string  # noqa: E402  (tf.string: bytes, run on the host)
from .ops.clip import clip_by_global_norm, clip_by_norm, clip_by_value, global_norm  # noqa: E402
from .ops.dynamic import shape  # noqa: E402  (tf.shape: run-time shapes)
from .ops.elementwise import ceil, cos, floor, floordiv, sin  # noqa: E402
from .ops.host import where  # noqa: E402, F811  (where(c, x, y) and where(c))
from .ops.reduce import reduce_prod  # noqa: E402
from .ops.slicing import strided_slice, unstack  # noqa: E402
from .ops.strings import as_string, string_join  # noqa: E402
from .tensorshape import Dimension, TensorShape  # noqa: E402
