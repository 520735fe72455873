"""Graph IR: Operation (a node), Tensor (an output of one), Graph (default-graph stack, scopes)."""
from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from . import dtypes as _dt
from .errors import DTypeError, describe

_PKG_DIRS = (
    os.path.dirname(os.path.abspath(__file__)) + os.sep,
    os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "kernels") + os.sep,
)


def user_site() -> str:
    """file:line of the innermost frame outside graphengine: where the user built the node."""
    f = sys._getframe(1)
    while f is not None:
        fn = f.f_code.co_filename
        if not fn.startswith(_PKG_DIRS) and not fn.startswith("<frozen"):
            return f"{fn}:{f.f_lineno}"
        f = f.f_back
    return ""


Shape = tuple  # of int | None


def shape_str(shape: Shape | None) -> str:
    if shape is None:
        return "<unknown>"
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + (",)" if len(shape) == 1 else ")")


class Operation:
    """A node of the graph. Immutable once built; outputs are ``Tensor`` objects."""

    __slots__ = ("type", "inputs", "attrs", "name", "graph", "site", "control_inputs",
                 "outputs", "forward", "_id", "device", "__weakref__")

    def __init__(self, graph: Graph, type_: str, inputs: Sequence[Tensor], attrs: dict,
                 name: str, site: str, control_inputs: Sequence[Operation] = ()) -> None:
        self.graph = graph
        self.type = type_
        self.inputs = tuple(inputs)
        self.attrs = attrs
        self.name = name
        self.site = site
        self.control_inputs = tuple(control_inputs)
        self.outputs: tuple[Tensor, ...] = ()
        self.forward: Operation | None = None  # for gradient ops: the forward op they came from
        self._id = graph._next_id()
        self.device = ""  # the `with device(...)` it was built in (recorded; one device runs all)

    @property
    def scope(self) -> str:
        return self.name.rpartition("/")[0]

    def describe(self) -> str:
        return describe(self)

    def run(self, feed_dict: dict | None = None, session: Any = None) -> None:
        """Run this op in ``session`` (default: the session of a ``with Session()`` block)."""
        from .runtime.session import get_default_session
        (session or get_default_session()).run(self, feed_dict)

    def __repr__(self) -> str:
        return f"<ge.Operation '{self.name}' type={self.type}>"


class Tensor:
    """A symbolic value: output ``value_index`` of ``op``, with static ``shape`` and ``dtype``.

    >>> import graphengine as ge
    >>> x = ge.placeholder(ge.float32, (None, 3))
    >>> (x * 2 + 1).shape
    (None, 3)
    """

    __slots__ = ("op", "value_index", "shape", "dtype", "__weakref__")
    __array_priority__ = 100  # so ndarray + Tensor calls Tensor.__radd__

    def __init__(self, op: Operation, value_index: int, shape: Shape | None, dtype: _dt.DType) -> None:
        self.op = op
        self.value_index = value_index
        self.shape = None if shape is None else tuple(None if d is None else int(d) for d in shape)
        self.dtype = dtype

    @property
    def name(self) -> str:
        return f"{self.op.name}:{self.value_index}"

    @property
    def graph(self) -> Graph:
        return self.op.graph

    @property
    def device(self) -> str:
        return self.op.device

    @property
    def ndim(self) -> int | None:
        return None if self.shape is None else len(self.shape)

    def get_shape(self) -> Any:
        """The static shape as a ``TensorShape`` (a tuple with TF1's ``as_list()``, ``ndims``)."""
        from .tensorshape import TensorShape
        return TensorShape(self.shape) if self.shape is not None else None

    def eval(self, feed_dict: dict | None = None, session: Any = None) -> np.ndarray:
        """Evaluate in ``session`` (default: the session of a ``with Session()`` block)."""
        from .runtime.session import get_default_session
        return (session or get_default_session()).run(self, feed_dict)

    def __repr__(self) -> str:
        return f"<ge.Tensor '{self.name}' shape={shape_str(self.shape)} dtype={self.dtype.name}>"

    # == and hash are object identity (as TF1 graph tensors; ge.equal compares values), inherited
    # from object so that dict lookups keyed by tensors (feed_dict) stay in C

    def __bool__(self) -> bool:
        raise TypeError(f"a symbolic Tensor ({self.name}) has no truth value; run it in a Session "
                        "or use ge.equal/ge.greater to build a comparison")

    def __iter__(self):
        raise TypeError(f"a symbolic Tensor ({self.name}) is not iterable")

    def __len__(self) -> int:
        raise TypeError(f"a symbolic Tensor ({self.name}) has no len(); use .shape")


class Graph:
    """A computation graph. One is the default; ``with g.as_default():`` switches to another."""

    def __init__(self) -> None:
        self._ops: list[Operation] = []
        self._names: dict[str, int] = {}
        self._scope: list[str] = []
        self._control: list[list[Operation]] = []
        self._counter = 0
        self._lock = threading.RLock()
        self.collections: dict[str, list] = {}
        self.seed: int | None = None
        self._seed_counter = 0
        self.version = 0  # bumped when ops are added; sessions use it to invalidate caches
        self._devices: list = []  # `with device(...)` stack: strings or functions op -> string

    def _next_id(self) -> int:
        self._counter += 1
        return self._counter

    # names --------------------------------------------------------------------------------
    def unique_name(self, base: str) -> str:
        base = base.strip("/") or "op"
        full = "/".join(self._scope + [base]) if self._scope else base
        n = self._names.get(full, 0)
        self._names[full] = n + 1
        if n:
            full = f"{full}_{n}"
            while full in self._names:  # an explicit "x_1" name took it already
                n += 1
                full = f"{full.rsplit('_', 1)[0]}_{n}"
            self._names[full] = 1
        return full

    @contextlib.contextmanager
    def name_scope(self, name: str | None) -> Iterator[str]:
        if not name:
            yield "/".join(self._scope)
            return
        if name.endswith("/"):  # an absolute, re-entered scope (TF1 convention)
            saved, self._scope = self._scope, [p for p in name.strip("/").split("/") if p]
        else:
            unique = self.unique_name(name)
            saved, self._scope = self._scope, unique.split("/")
        try:
            yield "/".join(self._scope) + "/"
        finally:
            self._scope = saved

    def current_scope(self) -> str:
        return "/".join(self._scope)

    @contextlib.contextmanager
    def control_dependencies(self, ops: Sequence[Any] | None) -> Iterator[None]:
        if ops is None:
            saved, self._control = self._control, []
        else:
            saved = None
            self._control.append([_as_op(o) for o in ops])
        try:
            yield
        finally:
            if saved is not None:
                self._control = saved
            else:
                self._control.pop()

    # building -----------------------------------------------------------------------------
    def create_op(self, type_: str, inputs: Sequence[Tensor], attrs: dict, name: str | None,
                  out_specs: Sequence[tuple[Shape | None, _dt.DType]], site: str | None = None,
                  control_inputs: Sequence[Operation] = ()) -> Operation:
        if any(d == _dt.float16 for _, d in out_specs) or attrs.get("dtype") == _dt.float16:
            scope = self.current_scope()
            raise DTypeError(f"{type_} '{scope + '/' if scope else ''}{name or type_}' built at "
                             f"{user_site() if site is None else site}: float16 (tf.half) is not "
                             "supported: no CPU kernel computes in it; use float32")
        with self._lock:
            ctrl = [o for level in self._control for o in level] + list(control_inputs)
            op = Operation(self, type_, inputs, attrs, self.unique_name(name or type_),
                           user_site() if site is None else site, ctrl)
            op.outputs = tuple(Tensor(op, i, s, d) for i, (s, d) in enumerate(out_specs))
            if self._devices:
                spec = self._devices[-1]
                op.device = (spec(op) if callable(spec) else spec) or ""
            self._ops.append(op)
            self.version += 1
        return op

    @contextlib.contextmanager
    def device(self, spec: Any) -> Iterator[None]:
        """Record ``spec`` (a device string, or a function op -> string) on the ops built inside
        (``op.device``); there is one device, which runs them all, as a one-device TF places them."""
        self._devices.append(spec if callable(spec) else ("" if spec is None else str(spec)))
        try:
            yield
        finally:
            self._devices.pop()

    def get_operations(self) -> list[Operation]:
        return list(self._ops)

    def get_operation_by_name(self, name: str) -> Operation:
        for op in self._ops:
            if op.name == name:
                return op
        raise KeyError(f"no op named {name!r} in this graph")

    def get_tensor_by_name(self, name: str) -> Tensor:
        """The tensor ``"<op name>:<output index>"`` (``"<op name>"`` alone: output 0).

        A malformed name raises ValueError, a name of no tensor KeyError; both say which."""
        if not isinstance(name, str):
            raise TypeError(f"a tensor name must be a string, got {type(name).__name__}")
        opname, colon, idx = name.rpartition(":")
        if not colon:
            opname, idx = name, "0"
        if not opname or not re.fullmatch(r"[0-9]+", idx):
            raise ValueError(f"{name!r} is not a valid tensor name: tensor names look like "
                             "'<op name>:<output index>', e.g. 'x:0'")
        op = self.get_operation_by_name(opname)
        i = int(idx)
        if i >= len(op.outputs):
            raise KeyError(f"the tensor {name!r} does not exist: op '{opname}' ({op.type}) has "
                           f"{len(op.outputs)} output{'s' if len(op.outputs) != 1 else ''}")
        return op.outputs[i]

    def add_to_collection(self, key: str, value: Any) -> None:
        self.collections.setdefault(key, []).append(value)

    def get_collection(self, key: str) -> list:
        return list(self.collections.get(key, []))

    def next_seed(self, op_seed: int | None) -> int | None:
        """TF1 seed rules: graph seed + op seed -> deterministic; neither -> nondeterministic."""
        if self.seed is None and op_seed is None:
            return None
        self._seed_counter += 1
        g = 87654321 if self.seed is None else self.seed
        o = self._seed_counter if op_seed is None else op_seed
        return (int(g) * 1_000_003 + int(o)) % (2**63)

    @contextlib.contextmanager
    def as_default(self) -> Iterator[Graph]:
        _stack.graphs.append(self)
        try:
            yield self
        finally:
            _stack.graphs.pop()

    def finalize(self) -> None:  # TF1 API; graphs here are append-only already
        pass


class _Stack(threading.local):
    def __init__(self) -> None:
        self.graphs: list[Graph] = []


_stack = _Stack()
_global_default = [Graph()]


def get_default_graph() -> Graph:
    return _stack.graphs[-1] if _stack.graphs else _global_default[0]


def reset_default_graph() -> None:
    """Replace the global default graph with a new, empty one (TF1 ``reset_default_graph``)."""
    if _stack.graphs:
        raise RuntimeError("reset_default_graph() called inside a `with graph.as_default()` block")
    _global_default[0] = Graph()


def name_scope(name: str | None):
    """``with ge.name_scope("layer1"):`` prefixes the names of ops built inside."""
    return get_default_graph().name_scope(name)


def control_dependencies(ops: Sequence[Any] | None):
    return get_default_graph().control_dependencies(ops)


def set_random_seed(seed: int) -> None:
    """Set the default graph's seed: every random op becomes reproducible (TF1 semantics)."""
    get_default_graph().seed = int(seed)


def _as_op(x: Any) -> Operation:
    if isinstance(x, Operation):
        return x
    if isinstance(x, Tensor):
        return x.op
    raise TypeError(f"expected an Operation or Tensor, got {type(x).__name__}")
