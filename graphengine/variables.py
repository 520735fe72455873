"""Variables, ``get_variable`` with variable scopes (``variable_scope``, ``current_variable_scope``,
``variable_scope_reuse``, ``reuse_variables``: the public scope API), initializers and the
initializer op."""
from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from . import dtypes as _dt
from .errors import GraphEngineError, ShapeError
from .graph import Operation, Tensor, get_default_graph, name_scope
from .ops import source
from .ops.control import group
from .ops.registry import apply

GLOBAL_VARIABLES = "variables"
TRAINABLE_VARIABLES = "trainable_variables"


class Variable:
    """A mutable tensor whose value lives in each Session (TF1 ``Variable``).

    >>> import numpy as np, graphengine as ge
    >>> w = ge.Variable(np.zeros((2, 2), np.float32), name="w")
    >>> with ge.Session() as s:
    ...     s.run(ge.global_variables_initializer())
    ...     s.run(w).shape
    (2, 2)
    """

    def __init__(self, initial_value: Any = None, trainable: bool = True, name: str | None = None,
                 dtype: Any = None, collections: list | None = None, **_: Any) -> None:
        if initial_value is None:
            raise ValueError("Variable needs an initial_value")
        graph = get_default_graph()
        base = name or "Variable"
        # as TF1's init_scope: a variable and its initial value never inherit the control
        # dependencies around its creation (an optimizer's slots built under
        # control_dependencies(update_ops) must initialize without running the updates)
        with graph.control_dependencies(None):
            with name_scope(base) as scope:
                if callable(initial_value):
                    initial_value = initial_value()
                init = source.as_tensor(initial_value, dtype)
                if init.shape is None or None in init.shape:
                    raise ShapeError(f"variable '{base}' needs an initial value of known shape, got "
                                     f"{init.shape}")
                vname = scope.rstrip("/")
            # the variable op takes the scope's own name ("W1"), as TF1's W1:0
            op = graph.create_op("variable", [], {"shape": init.shape, "dtype": init.dtype,
                                                 "trainable": trainable}, None,
                                 [(init.shape, init.dtype)])
        _rename(graph, op, vname)
        self.op: Operation = op
        self.initial_value = init
        self.trainable = trainable
        self._init_op: Operation | None = None
        op.attrs["variable"] = self
        for key in collections or [GLOBAL_VARIABLES]:
            graph.add_to_collection(key, self)
        if trainable:
            graph.add_to_collection(TRAINABLE_VARIABLES, self)

    # tensor-like -------------------------------------------------------------------------
    def _as_graph_tensor(self) -> Tensor:
        return self.op.outputs[0]

    value = read_value = _as_graph_tensor

    @property
    def name(self) -> str:
        return self.op.name + ":0"

    @property
    def shape(self) -> tuple:
        return self.op.outputs[0].shape

    @property
    def dtype(self) -> _dt.DType:
        return self.op.outputs[0].dtype

    @property
    def graph(self):
        return self.op.graph

    def get_shape(self) -> Any:
        return self._as_graph_tensor().get_shape()

    @property
    def initializer(self) -> Operation:
        if self._init_op is None:
            with self.op.graph.control_dependencies(None):
                self._init_op = assign(self, self.initial_value, name=self.op.name + "/Assign").op
        return self._init_op

    def assign(self, value: Any, name: str | None = None) -> Tensor:
        return assign(self, value, name=name)

    def assign_add(self, delta: Any, name: str | None = None) -> Tensor:
        return assign_add(self, delta, name=name)

    def eval(self, session: Any = None) -> np.ndarray:
        return self._as_graph_tensor().eval(session=session)

    def load(self, value: Any, session: Any = None) -> None:
        """Set the value in ``session`` without building graph ops (TF1 ``Variable.load``)."""
        from .runtime.session import get_default_session
        (session or get_default_session()).set_value(self, value)

    def __repr__(self) -> str:
        return f"<ge.Variable '{self.name}' shape={self.shape} dtype={self.dtype.name}>"

    # == and hash: object identity (inherited)


def _rename(graph, op: Operation, name: str) -> None:
    op.name = name
    graph._names.setdefault(name, 1)


def assign(ref: Variable, value: Any, name: str | None = None) -> Tensor:
    """An op that sets ``ref`` to ``value`` when run; its output is the new value."""
    value = source.as_tensor(value, ref.dtype)
    return apply("assign", [value], {"targets": (ref.op,)}, name or "Assign").outputs[0]


def assign_add(ref: Variable, delta: Any, name: str | None = None) -> Tensor:
    delta = source.as_tensor(delta, ref.dtype)
    return apply("assign_add", [ref.value(), delta], {"targets": (ref.op,)},
                 name or "AssignAdd").outputs[0]


def global_variables(graph: Any = None) -> list[Variable]:
    return (graph or get_default_graph()).get_collection(GLOBAL_VARIABLES)


def trainable_variables(graph: Any = None) -> list[Variable]:
    return (graph or get_default_graph()).get_collection(TRAINABLE_VARIABLES)


def variables_initializer(var_list: list[Variable], name: str = "init") -> Operation:
    return group(*[v.initializer for v in var_list], name=name)


def global_variables_initializer() -> Operation:
    """One op that initializes every variable of the default graph (TF1)."""
    return variables_initializer(global_variables(), name="init")


initialize_all_variables = global_variables_initializer


# ----- initializers ------------------------------------------------------------------------

class Initializer:
    """Callable ``(shape, dtype) -> Tensor``: how ``get_variable`` fills a new variable."""

    def __call__(self, shape: tuple, dtype: Any = _dt.float32, partition_info: Any = None) -> Any:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"


class Zeros(Initializer):
    def __call__(self, shape, dtype=_dt.float32, partition_info=None):
        return source.zeros(shape, dtype)


class Ones(Initializer):
    def __call__(self, shape, dtype=_dt.float32, partition_info=None):
        return source.ones(shape, dtype)


class Constant(Initializer):
    def __init__(self, value: Any = 0) -> None:
        self.value = value

    def __call__(self, shape, dtype=_dt.float32, partition_info=None):
        return source.constant(np.broadcast_to(np.asarray(self.value), tuple(shape)), dtype)


class RandomNormal(Initializer):
    def __init__(self, mean: float = 0.0, stddev: float = 1.0, seed: int | None = None) -> None:
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def __call__(self, shape, dtype=_dt.float32, partition_info=None):
        return source.random_normal(shape, self.mean, self.stddev, dtype, self.seed)


class TruncatedNormal(RandomNormal):
    def __call__(self, shape, dtype=_dt.float32, partition_info=None):
        return source.truncated_normal(shape, self.mean, self.stddev, dtype, self.seed)


class RandomUniform(Initializer):
    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None) -> None:
        self.minval, self.maxval, self.seed = minval, maxval, seed

    def __call__(self, shape, dtype=_dt.float32, partition_info=None):
        return source.random_uniform(shape, self.minval, self.maxval, dtype, self.seed)


class VarianceScaling(Initializer):
    """Glorot/He family: variance = scale / fan (fan_in, fan_out or their average)."""

    def __init__(self, scale: float = 1.0, mode: str = "fan_in", distribution: str = "truncated_normal",
                 seed: int | None = None) -> None:
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"mode must be fan_in, fan_out or fan_avg, got {mode!r}")
        if distribution not in ("truncated_normal", "normal", "uniform"):
            raise ValueError(f"unknown distribution {distribution!r}")
        self.scale, self.mode, self.distribution, self.seed = scale, mode, distribution, seed

    def __call__(self, shape, dtype=_dt.float32, partition_info=None):
        shape = tuple(shape)
        if len(shape) < 1:
            fan_in = fan_out = 1
        elif len(shape) == 1:
            fan_in = fan_out = shape[0]
        else:
            receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
            fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        var = self.scale / max(1.0, fan)
        if self.distribution == "uniform":
            lim = math.sqrt(3 * var)
            return source.random_uniform(shape, -lim, lim, dtype, self.seed)
        if self.distribution == "normal":
            return source.random_normal(shape, 0.0, math.sqrt(var), dtype, self.seed)
        # stddev of a normal truncated at 2 sigma is 0.8796 of the untruncated one
        return source.truncated_normal(shape, 0.0, math.sqrt(var) / 0.87962566103423978, dtype, self.seed)


def glorot_uniform(seed: int | None = None) -> Initializer:
    return VarianceScaling(1.0, "fan_avg", "uniform", seed)


def glorot_normal(seed: int | None = None) -> Initializer:
    return VarianceScaling(1.0, "fan_avg", "truncated_normal", seed)


def he_normal(seed: int | None = None) -> Initializer:
    return VarianceScaling(2.0, "fan_in", "truncated_normal", seed)


def he_uniform(seed: int | None = None) -> Initializer:
    return VarianceScaling(2.0, "fan_in", "uniform", seed)


def lecun_normal(seed: int | None = None) -> Initializer:
    return VarianceScaling(1.0, "fan_in", "truncated_normal", seed)


# ----- get_variable and variable scopes ----------------------------------------------------

class _ScopeState:
    def __init__(self) -> None:
        self.stack: list[tuple[str, bool | None, Initializer | None]] = []


def _scopes(graph) -> _ScopeState:
    st = graph.collections.get("_variable_scope")
    if st is None:
        st = graph.collections["_variable_scope"] = _ScopeState()
    return st


@contextlib.contextmanager
def variable_scope(name_or_scope: str, reuse: Any = None, initializer: Initializer | None = None,
                   default_name: str | None = None) -> Iterator[str]:
    """Prefix for ``get_variable`` names and, with ``reuse=True``, sharing of existing variables."""
    graph = get_default_graph()
    st = _scopes(graph)
    name = name_or_scope or default_name or "scope"
    parent_reuse = st.stack[-1][1] if st.stack else None
    parent_init = st.stack[-1][2] if st.stack else None
    full = "/".join([s[0] for s in st.stack[-1:]] + [name]) if st.stack else name
    reuse_flag = True if (reuse is True or reuse == "AUTO_REUSE" or parent_reuse is True) else reuse
    if reuse == "AUTO_REUSE" or parent_reuse == "AUTO_REUSE":
        reuse_flag = "AUTO_REUSE"
    st.stack.append((full, reuse_flag, initializer or parent_init))
    try:
        with graph.name_scope(full + "/"):
            yield full
    finally:
        st.stack.pop()


AUTO_REUSE = "AUTO_REUSE"


def _active(graph: Any, name: str | None) -> int:
    """Index in the scope stack of the innermost active scope called ``name`` (None: the innermost)."""
    st = _scopes(graph).stack
    for i in range(len(st) - 1, -1, -1):
        if name is None or st[i][0] == name:
            return i
    return -1


def current_variable_scope(graph: Any = None) -> str:
    """The full name of the innermost active variable scope ("" at the top level).

    >>> import graphengine as ge
    >>> with ge.variable_scope("enc"), ge.variable_scope("layer"):
    ...     ge.variables.current_variable_scope()
    'enc/layer'
    """
    graph = graph or get_default_graph()
    i = _active(graph, None)
    return _scopes(graph).stack[i][0] if i >= 0 else ""


def variable_scope_reuse(name: str | None = None, graph: Any = None) -> Any:
    """The reuse setting (None, True or ``AUTO_REUSE``) of the innermost active variable scope
    called ``name`` (default: the innermost scope); None when no such scope is active."""
    graph = graph or get_default_graph()
    i = _active(graph, name)
    return _scopes(graph).stack[i][1] if i >= 0 else None


def reuse_variables(name: str | None = None, graph: Any = None) -> None:
    """From now on, ``get_variable`` in the active variable scope ``name`` (default: the
    innermost) fetches existing variables (TF1's ``scope.reuse_variables()``).

    >>> import graphengine as ge
    >>> with ge.variable_scope("shared"):
    ...     w = ge.get_variable("w", [2])
    ...     ge.variables.reuse_variables()
    ...     ge.get_variable("w", [2]) is w
    True
    """
    graph = graph or get_default_graph()
    i = _active(graph, name)
    if i < 0:
        raise ValueError(f"reuse_variables(): scope {name!r} is not active")
    st = _scopes(graph).stack
    st[i] = (st[i][0], True, st[i][2])


def unique_layer_name(base: str) -> str:
    """TF1 layer naming: dense, dense_1, ... (conv2d, conv2d_1, ...) unique per base name within
    the current variable scope."""
    graph = get_default_graph()
    counts: dict = graph.collections.setdefault("_compat_layer_names", {})
    key = (current_variable_scope(graph), base)
    n = counts.get(key, 0)
    counts[key] = n + 1
    return base if n == 0 else f"{base}_{n}"


def get_variable(name: str, shape: Any = None, dtype: Any = _dt.float32,
                 initializer: Any = None, trainable: bool = True, regularizer: Callable | None = None,
                 collections: list | None = None, **_: Any) -> Variable:
    """Create (or, under ``variable_scope(reuse=True)``, fetch) a named variable (TF1).

    The default initializer is glorot_uniform, as in TF1.

    >>> import graphengine as ge
    >>> w = ge.get_variable("w_doc", (3, 2), initializer=ge.initializers.zeros())
    >>> w.shape
    (3, 2)
    """
    graph = get_default_graph()
    st = _scopes(graph)
    scope, reuse, scope_init = st.stack[-1] if st.stack else ("", None, None)
    full = f"{scope}/{name}" if scope else name
    registry: dict = graph.collections.setdefault("_named_variables", {})
    if full in registry:
        if reuse:
            v = registry[full]
            if shape is not None and tuple(shape) != v.shape:
                raise ShapeError(f"get_variable('{full}'): shape {tuple(shape)} differs from the "
                                 f"existing variable's {v.shape}")
            return v
        raise GraphEngineError(f"Variable {full} already exists; did you mean to set "
                               "reuse=True or reuse=ge.AUTO_REUSE in variable_scope?")
    if reuse is True:
        raise GraphEngineError(f"Variable {full} does not exist, and variable_scope(reuse=True) "
                               "only fetches existing variables")
    init = initializer if initializer is not None else scope_init or glorot_uniform()
    dt = _dt.as_dtype(dtype)
    if isinstance(init, np.ndarray | list | float | int) or isinstance(init, Tensor):
        value = init
    else:
        if shape is None:
            raise ShapeError(f"get_variable('{full}') needs a shape")
        if isinstance(init, type) and issubclass(init, Initializer):
            init = init()
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        with graph.control_dependencies(None), name_scope(full + "/Initializer/"):
            value = init(shape, dt)
    with name_scope(scope + "/" if scope else None):
        v = Variable(value, trainable=trainable, name=name, dtype=dt, collections=collections)
    registry[full] = v
    if regularizer is not None:
        with name_scope(full + "/Regularizer/"):
            graph.add_to_collection("regularization_losses", regularizer(v))
    return v
