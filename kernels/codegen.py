"""Render elementwise templates into scalar expressions, and load generated source files.

Both the CPU (Numba) and CUDA (Numba-CUDA) generators use ``render``. Generated modules are
written to a cache directory and imported, so Numba's ``cache=True`` works for them.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import sys
import tempfile
from types import ModuleType
from typing import Any

from graphengine.ops.registry import OPS

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z_0-9]*(\[[^\[\]]*\])?$")


def _lit(v: Any) -> str:
    if isinstance(v, bool):
        return "True" if v else "False"
    if isinstance(v, int | float):
        return repr(float(v)) if isinstance(v, float) else repr(int(v))
    raise TypeError(f"attribute value {v!r} cannot appear in an elementwise template")


def render(op_type: str, args: list[str], attrs: dict | None = None) -> str:
    """Scalar expression of ``op_type`` applied to the expressions ``args``."""
    tpl = OPS[op_type].template
    if tpl is None:
        raise KeyError(f"op {op_type!r} has no elementwise template")
    wrapped = [a if _IDENT.match(a) else f"({a})" for a in args]
    names = set(re.findall(r"\{([A-Za-z_]\w*)\}", tpl))
    return "(" + tpl.format(*wrapped, **{k: _lit((attrs or {})[k]) for k in names}) + ")"


def cache_dir() -> str:
    """Where generated kernels live: $GRAPHENGINE_CACHE_DIR, else the user's cache dir."""
    d = os.environ.get("GRAPHENGINE_CACHE_DIR")
    if not d:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        d = os.path.join(base, "graphengine")
    try:
        os.makedirs(d, exist_ok=True)
    except OSError:
        d = os.path.join(tempfile.gettempdir(), "graphengine-cache")
        os.makedirs(d, exist_ok=True)
    return d


def load_source(prefix: str, source: str) -> ModuleType:
    """Import ``source`` as a module stored under the cache dir, named by its content hash."""
    digest = hashlib.sha1(source.encode()).hexdigest()[:16]
    name = f"_ge_{prefix}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    path = os.path.join(cache_dir(), name + ".py")
    if not os.path.exists(path):
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            f.write(source)
        os.replace(tmp, path)  # atomic: a concurrent process sees the old file or the whole new one
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod
