"""Render elementwise templates into scalar expressions, and load generated source files.

Both the CPU (Numba) and CUDA (Numba-CUDA) generators use ``render``. Generated modules are
executed from their source text and also stored, named by their content hash, in a private
cache directory so Numba's ``cache=True`` works for them (``load_source``).
"""
from __future__ import annotations

import contextlib
import hashlib
import linecache
import math
import os
import re
import stat
import sys
import tempfile
import threading
import warnings
from types import ModuleType
from typing import Any

import numpy as np

from graphengine.ops.registry import OPS

_LOCK = threading.Lock()  # one module executes at a time; sys.modules gets only finished ones
_WARNED: set[str] = set()
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z_0-9]*(\[[^\[\]]*\])?$")


def num_literal(v: Any) -> str:
    """Source text for a number in generated code: ``repr`` would paste ``inf``/``nan``, which
    are not Python names; every generated module imports ``math``."""
    if isinstance(v, bool | np.bool_):
        return "True" if v else "False"
    if isinstance(v, int | np.integer):
        return repr(int(v))
    f = float(v)
    if math.isnan(f):
        return "math.nan"
    if math.isinf(f):
        return "math.inf" if f > 0 else "(-math.inf)"
    return repr(f)


def size_src(dims: list[str]) -> str:
    """Source text for the product of dims given as source text (``"1"`` for none): the
    ``prod`` of ``graphengine.ops.facts.view3`` in the step generators."""
    return " * ".join(dims) or "1"


def _lit(v: Any) -> str:
    if isinstance(v, bool | int | float):
        return num_literal(v)
    raise TypeError(f"attribute value {v!r} cannot appear in an elementwise template")


# numeric literals of a template (not inside {placeholders} or names such as log1p)
_NUM = re.compile(r"(?<![\w.{])(\d+\.\d*(?:[eE][+-]?\d+)?|\d+(?:[eE][+-]?\d+)?)(?![\w.}])")
# CPU: math functions LLVM cannot vectorize -> the SIMD versions in kernels.cpu.simd
CPU_MATH = {"math.exp": "vexp", "math.log": "vlog", "math.log1p": "vlog1p", "math.expm1": "vexpm1",
            "math.tanh": "vtanh"}
CPU_TEMPLATES = {"sigmoid": "vsigmoid({0})", "softplus": "vsoftplus({0})"}  # whole-op SIMD forms


def render(op_type: str, args: list[str], attrs: dict | None = None, *, ctype: str | None = None,
           cpu: bool = False) -> str:
    """Scalar expression of ``op_type`` applied to the expressions ``args``.

    ``ctype`` (e.g. ``"np.float32"``): numeric literals and attributes become constants of that
    type, so float32 math stays float32 (a bare ``1`` or ``0.5`` would promote to float64).
    ``cpu``: math calls become the vectorizable versions of ``CPU_MATH``.
    """
    tpl = CPU_TEMPLATES.get(op_type) if cpu else None
    tpl = tpl or OPS[op_type].template
    if tpl is None:
        raise KeyError(f"op {op_type!r} has no elementwise template")
    wrapped = [a if _IDENT.match(a) else f"({a})" for a in args]
    names = set(re.findall(r"\{([A-Za-z_]\w*)\}", tpl))
    vals = {k: _lit((attrs or {})[k]) for k in names}
    if ctype is not None:
        tpl = _NUM.sub(lambda m: f"{ctype}({m.group(1)})", tpl)
        vals = {k: v if v in ("True", "False") else f"{ctype}({v})" for k, v in vals.items()}
    if cpu:
        for fn, vec in CPU_MATH.items():
            tpl = tpl.replace(fn + "(", vec + "(")
    return "(" + tpl.format(*wrapped, **vals) + ")"


def _warn_once(key: str, msg: str) -> None:
    if key not in _WARNED:
        _WARNED.add(key)
        warnings.warn(msg, RuntimeWarning, stacklevel=4)


def _unsafe(d: str) -> str | None:
    """Why ``d`` may not hold code this process imports (others could plant modules or Numba
    cache pickles there), or None when only its owner, this user, can write to it."""
    st = os.stat(d)
    if not stat.S_ISDIR(st.st_mode):
        return "is not a directory"
    if hasattr(os, "geteuid") and st.st_uid not in (os.geteuid(), 0):
        return f"belongs to another user (uid {st.st_uid})"
    if st.st_mode & 0o022:
        return f"is writable by group or others (mode {stat.S_IMODE(st.st_mode):o})"
    return None


def _private_dir(d: str, what: str, var: str) -> str | None:
    """``d``, created private (mode 0700), or None with a warning once when it cannot be created
    or is writable by other users (generated modules then live in memory only)."""
    try:
        os.makedirs(d, mode=0o700, exist_ok=True)
        why = _unsafe(d)
    except OSError as e:
        why = f"cannot be used ({e.strerror or e})"
    if why is None:
        return d
    _warn_once(f"dir:{d}:{why}", f"graphengine: the {what} {d!r} {why}; "
               f"compiling without a disk cache (set {var} to a private directory)")
    return None


def cache_dir() -> str | None:
    """Where generated kernels live: $GRAPHENGINE_CACHE_DIR, else the user's cache dir (created
    private, mode 0700). None, with a warning once, when that directory cannot be created or is
    writable by other users: generated modules then live in memory only (no disk cache)."""
    d = os.environ.get("GRAPHENGINE_CACHE_DIR")
    if not d:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        d = os.path.join(base, "graphengine")
    return _private_dir(d, "generated-code cache directory", "GRAPHENGINE_CACHE_DIR")


# generated modules that depend on one op, never on a graph: the kernels the op-by-op executor
# ("ew") and a new plan's first steps ("oploop": see graphengine.compiler.fuse.split) call
KERNEL_PREFIXES = frozenset({"ew", "oploop"})


def kernel_cache_dir() -> str | None:
    """Where per-op generated kernels live: $GRAPHENGINE_KERNEL_CACHE_DIR, else ``kernels`` in
    ``cache_dir()``. Apart from the graph-level code (steps, fused loops) so that a cache of
    kernels can be kept while graphs come and go; the same privacy checks as ``cache_dir``."""
    d = os.environ.get("GRAPHENGINE_KERNEL_CACHE_DIR")
    if not d:
        base = cache_dir()
        if base is None:
            return None
        d = os.path.join(base, "kernels")
    return _private_dir(d, "kernel cache directory", "GRAPHENGINE_KERNEL_CACHE_DIR")


def _stored(d: str, name: str, data: bytes) -> str | None:
    """The path of ``d/name.py`` holding exactly ``data`` (written or rewritten atomically when
    it is missing, truncated or modified), or None when the directory takes no writes."""
    path = os.path.join(d, name + ".py")
    try:
        with open(path, "rb") as f:
            old = f.read(len(data) + 1)
    except OSError:
        old = None
    if old == data:
        return path
    if old is not None:
        warnings.warn(f"graphengine: cached file {path!r} does not match its content hash "
                      "(truncated or modified); regenerating it", RuntimeWarning, stacklevel=3)
    tmp = None
    try:  # a unique temp file, renamed over the target: readers see no file or a whole one
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=d)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as e:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        _warn_once(f"write:{d}", f"graphengine: cannot write to the generated-code cache {d!r} "
                   f"({e.strerror or e}); compiling without a disk cache")
        return None
    return path


def numba_cache_ok(mod: ModuleType) -> bool:
    """Whether functions of a module from ``load_source`` may use Numba's ``cache=True``
    (only when the module has a file on disk)."""
    return getattr(mod, "__file__", None) is not None


def load_source(prefix: str, source: str) -> ModuleType:
    """Import ``source`` as a module named by its content hash (thread- and process-safe).

    The module executes the source text it was given, never what a file says: the cached file
    ``<cache_dir>/<name>.py`` exists so that Numba's ``cache=True`` has a file to key on, and it
    is rewritten when it differs from the source. Without a usable cache directory the module
    lives in memory and its Numba functions compile without a disk cache. A module enters
    ``sys.modules`` only once it has executed completely.
    """
    data = source.encode()
    name = f"_ge_{prefix}_{hashlib.sha256(data).hexdigest()[:32]}"
    mod = sys.modules.get(name)
    if mod is not None:
        return mod
    with _LOCK:
        mod = sys.modules.get(name)
        if mod is not None:
            return mod
        d = kernel_cache_dir() if prefix in KERNEL_PREFIXES else cache_dir()
        path = _stored(d, name, data) if d is not None else None
        mod = ModuleType(name)
        if path is None:
            filename = f"<graphengine generated {name}>"
            source = source.replace("cache=True", "cache=False")  # Numba caches need a file
            linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        else:
            filename = mod.__file__ = path
        exec(compile(source, filename, "exec"), mod.__dict__)
        mod.__ge_source__ = source   # what it was made from (kernels.cpu.pyloops translates it)
        sys.modules[name] = mod
        return mod
