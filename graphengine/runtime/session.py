"""Session: validates feeds, caches compiled plans, runs them, returns fetches as NumPy."""
from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from functools import partial
from typing import Any

import numpy as np

from ..compiler import compile_program
from ..errors import DTypeError, FeedError, ShapeError
from ..graph import Graph, Operation, Tensor, get_default_graph
from .backends import make_backend
from .entries import MISS, _is_leaf, callable_function, entry_function
from .feeds import _dtype, _host_copy, _out, convert_feed, is_device_array  # noqa: F401
from .nest import flatten, pack
from .state import State
from .threads import POLICY as BLAS_POLICY


class _Default(threading.local):
    def __init__(self) -> None:
        self.stack: list[Session] = []


_default = _Default()
_interactive: list[Session] = []


def get_default_session() -> Session:
    if _default.stack:
        return _default.stack[-1]
    if _interactive:
        return _interactive[-1]
    raise ValueError("no default session: use `with ge.Session() as sess:` or pass session=")


class Session:
    """Runs graph fragments (TF1 ``Session``), holding variable values for this session.

    Args:
        graph: the graph to run (default: the default graph).
        config: optional dict with any of ``device``, ``jit``, ``debug_numerics``.
        device: ``"cpu"`` (default), ``"gpu"``/``"cuda"``/``"cuda:0"``, or ``"reference"``
            (the NumPy executor every backend is tested against).
        jit: CPU only: ``"step"`` (default) compiles the whole step into one native function;
            ``"op"`` runs one compiled kernel per op.
        debug_numerics: check every op's output and stop at the first NaN/Inf, naming the op.

    ``run`` is thread-safe: calls on one session are serialized by a lock. As TF1, a 0-d fetch
    comes back as a NumPy scalar (``"%i" % sess.run(a + b)`` works), fed Python scalars stay 0-d
    and fed ``str`` values become ``bytes``; ``graphengine.compat.v1.Session`` is this class.

    >>> import graphengine as ge
    >>> a = ge.constant(2.0)
    >>> with ge.Session() as sess:
    ...     float(sess.run(a * 3)), type(sess.run(ge.constant(2) + 3)).__name__
    (6.0, 'int32')
    """

    def __init__(self, target: str = "", graph: Graph | None = None, config: Any = None, *,
                 device: str = "cpu", jit: str | None = None, debug_numerics: bool = False) -> None:
        cfg = config if isinstance(config, dict) else {}
        if isinstance(config, dict) and config.get("intra_op_parallelism_threads"):
            from .threads import POLICY
            POLICY.limit(config["intra_op_parallelism_threads"])
        self.device = cfg.get("device", device)
        self.jit = cfg.get("jit", jit)
        self.debug_numerics = bool(cfg.get("debug_numerics", debug_numerics))
        self.graph = graph or get_default_graph()
        self.backend = make_backend(self.device, self.jit)
        # a backend that keeps variables elsewhere (the GPU) supplies its own State
        self.state = getattr(self.backend, "new_state", State)()
        self._plans: dict[tuple, Any] = {}
        self._run_cache: dict[tuple, Any] = {}
        # run's hot path: fetch/feed-key objects (or their ids) -> (entry, the objects)
        self._id_runs: dict[tuple, tuple] = {}
        self._lock = threading.RLock()
        self._closed = False
        self._ctx: list = []

    # context management -------------------------------------------------------------------
    def __enter__(self) -> Session:
        cm = self.graph.as_default()
        cm.__enter__()
        self._ctx.append(cm)
        _default.stack.append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        _default.stack.remove(self)
        self._ctx.pop().__exit__(*exc)
        self.close()

    @contextlib.contextmanager
    def as_default(self) -> Iterator[Session]:
        _default.stack.append(self)
        try:
            yield self
        finally:
            _default.stack.remove(self)

    def close(self) -> None:
        """Release the plans and variable values; every later call raises (TF1)."""
        with self._lock:  # waits for a run in flight
            self._closed = True
            self._plans = {}
        BLAS_POLICY.release()   # the stepping thread's affinity, if the BLAS policy pinned it

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("Attempted to use a closed Session.")

    # running --------------------------------------------------------------------------------
    def run(self, fetches: Any, feed_dict: dict | None = None, options: Any = None,
            run_metadata: Any = None, *, device_arrays: bool = False) -> Any:
        """Compute ``fetches`` (a tensor, op, variable, name, or nested list/tuple/dict of them).

        Returns the same structure with NumPy arrays for tensors and None for ops.

        On a GPU session, ``feed_dict`` values may be device arrays (CuPy arrays, Numba device
        arrays, PyTorch CUDA tensors: anything with ``__cuda_array_interface__``); they are
        used without a copy to the host. ``device_arrays=True`` returns the fetches as device
        arrays (CuPy on a GPU; new arrays, not the session's buffers) for zero-copy hand-off
        through ``__cuda_array_interface__`` / DLPack; on a CPU session it returns NumPy arrays.
        """
        fd = feed_dict or {}
        kind = type(fetches)
        # the hot path: the entry last used for these very fetch and feed-key objects. Graph
        # objects hash and compare by identity (names by value), so the objects themselves are
        # the key (a third of the time of a key of their ids); nested fetches, which do not
        # hash, key by their ids (the table keeps the objects alive, so an id is never another
        # object's). The entry checks each value's type, dtype and rank itself and answers MISS
        # when they differ.
        flat = kind is list or kind is tuple
        ikey = None
        if kind is not dict:
            try:
                ikey = (kind, *fetches, None, *fd) if flat else (None, fetches, None, *fd)
                hit = self._id_runs.get(ikey)
            except TypeError:  # a list inside the list
                ikey = None
        if ikey is None:
            ikey = (kind, *map(id, fetches), None, *map(id, fd)) if flat else (None, id(fetches), None, *map(id, fd))
            hit = self._id_runs.get(ikey)
        if hit is not None:
            out = hit[0](fd.values(), device_arrays)
            if out is not MISS:
                return out
        self._check_open()
        feed_dict = fd
        # the cached path: per (fetches, feed keys, dtypes, ranks), what make_callable builds.
        # Names key by value, graph objects by identity (the entry keeps them alive).
        if kind is list or kind is tuple:
            key = [kind]
            key += [f if type(f) is str else id(f) for f in fetches]
        else:
            key = [None, fetches if kind is str else id(fetches)]
        vals = []
        for k, v in feed_dict.items():
            if type(v) is not np.ndarray:
                v = convert_feed(self._feed_key(k), v, device_ok=self._device_feeds)
                if type(v) is not np.ndarray:  # a device array: the general path
                    key = None
                    break
            vals.append(v)
            key += (k if type(k) is str else id(k), v.dtype, v.ndim)
        if key is not None:
            key = tuple(key)
            entry = self._run_cache.get(key)
            if entry is None and (_is_leaf(fetches) or ((kind is list or kind is tuple)
                                                        and all(map(_is_leaf, fetches)))):
                if len(self._run_cache) >= 256:  # keys that never repeat must not pile up
                    self._run_cache.clear()
                entry = self._run_cache[key] = self._run_entry(fetches, feed_dict, vals)
            if entry is not None:
                out = entry(vals, device_arrays)
                if out is not MISS:
                    if len(self._id_runs) >= 256:
                        self._id_runs.clear()
                    self._id_runs[ikey] = (entry, fetches, tuple(fd))
                    return out
        leaves = flatten(fetches, _is_leaf)
        resolved = [self._resolve(x) for x in leaves]
        feeds = self._feeds(feed_dict)
        with self._lock:
            self._check_open()
            exe = self._executable(resolved, feeds)
            vals = self._execute(exe, feeds, host=not device_arrays)
            out = [None if isinstance(r, Operation) else _out(vals[exe.program.resolve(r)], device_arrays)
                   for r in resolved]
        return pack(fetches, out, _is_leaf)

    def _feed_key(self, k: Any) -> Tensor:
        """The placeholder a feed_dict key names (checked as ``_feeds`` does)."""
        return next(iter(self._feeds({k: np.zeros(0)}, convert=False)))

    def _run_entry(self, fetches: Any, feed_dict: dict, vals: list) -> Any:
        """Build once what ``run`` needs for this fetch structure and feed signature: the plan,
        each feed's checks, the fetch slots. The returned function takes the feed values in
        ``feed_dict`` order and does only the per-call work: shape checks and fetch copies."""
        leaves = flatten(fetches, _is_leaf)
        resolved = [self._resolve(x) for x in leaves]
        ts = list(self._feeds(dict(zip(feed_dict, vals)), convert=False))
        feeds = {t: convert_feed(t, v, device_ok=self._device_feeds) for t, v in zip(ts, vals)}
        with self._lock:
            exe = self._executable(resolved, feeds)
        fast = getattr(exe, "call", None) if not self.debug_numerics else None
        getters = [None if isinstance(r, Operation) else exe.program.resolve(r) for r in resolved]
        return entry_function(self, exe, fetches, feed_dict, ts, vals, getters, fast)

    @property
    def _device_feeds(self) -> bool:
        """Whether this session's backend takes device arrays as feeds as they are."""
        return getattr(self.backend, "name", "") == "cuda"

    def _executable(self, resolved: list, feeds: dict) -> Any:
        """The cached plan for these fetches and feed dtypes/ranks (compiled on first use)."""
        key = (tuple(map(id, resolved)),
               tuple(sorted((id(t), _dtype(v).str, len(v.shape)) for t, v in feeds.items())))
        exe = self._plans.get(key)
        if exe is None:
            tensors = [r for r in resolved if isinstance(r, Tensor)]
            ops = [r for r in resolved if isinstance(r, Operation)]
            program = compile_program(tensors, ops, list(feeds))
            exe = self._plans[key] = self.backend.compile(program, self.debug_numerics)
        return exe

    def plan_info(self, fetches: Any, feed_dict: dict | None = None) -> dict:
        """How ``run(fetches, feed_dict)`` executes: ``executor`` ("compiled step" or "op by op"),
        ``reason`` when not compiled, ``passes`` (the compiler passes the plan went through, in
        order), and counts of ops, fused loops, reductions fused into them, pooled buffers,
        fetched tensors the step writes straight into the arrays it returns (``fetch_arrays``) and
        gradient-descent updates folded into their gradient's GEMM (``folded_updates``).

        >>> import graphengine as ge
        >>> x = ge.placeholder(ge.float32, (None, 2))
        >>> ge.Session(device="reference").plan_info(x * 2, {x: [[1.0, 2.0]]})["executor"]
        'op by op'
        """
        self._check_open()
        leaves = [self._resolve(x) for x in flatten(fetches, _is_leaf)]
        with self._lock:  # builds (or reuses) the plan run would use, without running it
            self._check_open()
            exe = self._executable(leaves, self._feeds(feed_dict or {}))
        compiled = hasattr(exe, "lay")
        from ..compiler import PIPELINE
        info = {"backend": self.backend.name, "executor": "compiled step" if compiled else "op by op",
                "ops": len(exe.program.ops), "passes": [f.__name__ for f in PIPELINE]}
        if compiled:
            info["passes"] += list(getattr(self.backend, "passes", ()))
            info["fused_loops"] = sum(1 for s in exe.fused.ops if getattr(s, "type", "") == "fused")
            info["fused_reductions"] = sum(len(getattr(s, "sinks", ())) for s in exe.fused.ops)
            info["buffers"] = len(exe.lay.slot_dtype)
            info["fetch_arrays"] = len(exe.lay.outs)   # fetched tensors written into new arrays
            info["folded_updates"] = len(exe.lay.update_steps)   # updates done by their GEMM
            info["batch_sizes_seen"] = len(exe._sigs)
        else:
            info["reason"] = getattr(exe, "why_not_compiled", f"backend {self.backend.name!r} runs op by op")
        return info

    def make_callable(self, fetches: Any, feed_list: list | None = None, *,
                      device_arrays: bool = False) -> Any:
        """A function ``f(*feed_values)`` that runs ``fetches`` with the least per-call work
        (TF1 ``Session.make_callable``): the plan is chosen once; each call only converts
        feeds whose dtype differs and checks their ranks.

        >>> import graphengine as ge
        >>> x = ge.placeholder(ge.float32, (None,))
        >>> f = ge.Session().make_callable(ge.reduce_sum(x), [x])
        >>> float(f([1.0, 2.0]))
        3.0
        """
        self._check_open()
        feed_list = list(feed_list or [])
        leaves = flatten(fetches, _is_leaf)
        resolved = [self._resolve(x) for x in leaves]
        ts = [t if isinstance(t, Tensor) else self.graph.get_tensor_by_name(t) for t in feed_list]
        with self._lock:
            program = compile_program([r for r in resolved if isinstance(r, Tensor)],
                                      [r for r in resolved if isinstance(r, Operation)], ts)
            exe = self.backend.compile(program, self.debug_numerics)
        getters = [None if isinstance(r, Operation) else exe.program.resolve(r) for r in resolved]
        fast = getattr(exe, "call", None) if not self.debug_numerics else None
        return callable_function(self, exe, fetches, ts, getters, fast, device_arrays)

    def _execute(self, exe: Any, feeds: dict, host: bool = True) -> dict:
        # host=False: a device backend leaves the fetches on the device (others ignore it)
        run = exe.run if host or not self._device_feeds else partial(exe.run, host=False)
        if not self.debug_numerics:
            return run(feeds, self.state)
        saved = {op: _host_copy(v) for op, v in self.state.vars.items()}
        try:
            return run(feeds, self.state)
        except Exception:
            for op, v in saved.items():  # a failed debug step leaves the variables untouched
                self.state.write(op, np.asarray(v))
            raise

    def _resolve(self, x: Any) -> Tensor | Operation:
        if hasattr(x, "_as_graph_tensor"):
            x = x._as_graph_tensor()
        if isinstance(x, str):
            try:
                x = self.graph.get_tensor_by_name(x) if ":" in x else self.graph.get_operation_by_name(x)
            except KeyError as e:
                raise KeyError(f"fetch {x!r}: {e.args[0]}") from None
            except ValueError as e:
                raise ValueError(f"fetch {x!r}: {e}") from None
        if isinstance(x, Tensor | Operation):
            if x.graph is not self.graph:
                raise ValueError(f"fetch {x.name} belongs to another graph than this session's")
            return x
        raise TypeError(f"cannot fetch {x!r} (type {type(x).__name__}); fetch tensors, ops, "
                        "variables, or nested lists/tuples/dicts of them")

    def _feeds(self, feed_dict: dict, convert: bool = True) -> dict[Tensor, np.ndarray]:
        out: dict[Tensor, np.ndarray] = {}
        for k, v in feed_dict.items():
            t = k
            if isinstance(k, str):
                try:
                    t = self.graph.get_tensor_by_name(k if ":" in k else k + ":0")
                except (KeyError, ValueError) as e:
                    raise FeedError(f"feed_dict key {k!r} names no tensor of this graph: "
                                    f"{e.args[0] if e.args else e}") from None
            if hasattr(t, "_as_graph_tensor"):
                raise FeedError(f"cannot feed variable {t.name}; use var.load(value, session) "
                                "to set its value")
            if not isinstance(t, Tensor):
                raise FeedError(f"feed_dict key {k!r} (type {type(k).__name__}) is not a tensor")
            if t.graph is not self.graph:
                raise FeedError(f"feed_dict key {t.name} belongs to another graph")
            out[t] = convert_feed(t, v, device_ok=self._device_feeds) if convert else v
        return out

    # variables --------------------------------------------------------------------------------
    def get_value(self, var: Any) -> np.ndarray:
        """A copy of ``var``'s current value in this session."""
        with self._lock:
            self._check_open()
            return _host_copy(self.state.read(var.op))

    def set_value(self, var: Any, value: Any) -> None:
        """Set ``var``'s value (shape and dtype checked) without building graph ops."""
        arr = convert_feed(var.op.outputs[0], value, what="variable")
        with self._lock:
            self._check_open()
            self.state.write(var.op, arr)

    def save(self, path: str, var_list: Any = None) -> str:
        self._check_open()
        from ..checkpoint import save_state
        return save_state(self, path, var_list)

    def restore(self, path: str, var_list: Any = None) -> None:
        self._check_open()
        from ..checkpoint import restore_state
        restore_state(self, path, var_list)


class InteractiveSession(Session):
    """A Session that installs itself as the default on creation (TF1 ``InteractiveSession``)."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        _interactive.append(self)

    def close(self) -> None:
        if self in _interactive:
            _interactive.remove(self)
        super().close()


__all__ = ["DTypeError", "InteractiveSession", "Session", "ShapeError", "get_default_session"]
