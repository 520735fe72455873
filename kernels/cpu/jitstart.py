"""Load cached Numba functions without first initialising Numba's compiler.

Before Numba loads a function from its disk cache it refreshes the CPU target
(``Cache.load_overload`` calls ``target_context.refresh()``): it imports every typing and
lowering registry (NumPy, linalg, random, typed containers, ...) and installs ~250 typing
templates. That is ~0.16 s here, a quarter of a cached graph's whole start-up, spent on
machinery that only *compiling* uses: a cache load deserialises object code and links it.
Every compile refreshes the target itself (``compile_extra``), so nothing that compiles later
misses a registry.

What linking a cached function needs is set up here instead: the NRT (memory-management)
symbols (``rtsys.initialize``) and the hash secret that hashing links against (the only
symbols a registry import adds: ``numba.cpython.hashing`` registers them when imported,
~4 ms). Numba's C helpers, math functions and exception symbols come with the target
context itself; a parallel function's threading layer is launched by the cache entry's
``reload_init``, as before.

Only ``@njit`` dispatchers load lazily: the ufunc builder behind ``@vectorize`` lowers a wrapper
with the target right after its cache load, so its loads keep Numba's refresh.

``install()`` is called once, by the CPU backend; it leaves Numba as it is (and says so) if
Numba's cache class does not have the shape this was written against.
``GRAPHENGINE_LAZY_NUMBA_INIT=0`` turns it off.
"""
from __future__ import annotations

import os
import threading

_STATE = {"installed": False}


def install() -> bool:
    """Make Numba's cache loads for ``@njit`` functions skip the compiler's refresh; True when
    installed. Other users of Numba's cache (``@vectorize``'s ufunc builder, ``@cfunc``, CUDA)
    go on refreshing: the ufunc builder lowers a wrapper with the target right after its load."""
    if _STATE["installed"]:
        return True
    if os.environ.get("GRAPHENGINE_LAZY_NUMBA_INIT", "1").strip() == "0":
        return False
    import numba.cpython.hashing  # noqa: F401 - its import registers the hash-secret symbols
    from numba.core import caching
    from numba.core.dispatcher import Dispatcher
    from numba.core.runtime import nrt
    cls = caching.Cache
    if not all(hasattr(cls, a) for a in ("load_overload", "_load_overload",
                                         "_guard_against_spurious_io_errors")) \
            or not hasattr(Dispatcher, "compile"):
        return False
    numba_load, numba_compile = cls.load_overload, Dispatcher.compile
    local = threading.local()

    def load_overload(self, sig, target_context):
        """Numba's ``Cache.load_overload``; without ``target_context.refresh()`` when an
        ``@njit`` dispatcher asks (a miss compiles, and compiling refreshes)."""
        if not getattr(local, "njit", 0):
            return numba_load(self, sig, target_context)
        nrt.rtsys.initialize(target_context)
        with self._guard_against_spurious_io_errors():
            return self._load_overload(sig, target_context)
        return None  # the ``with`` block swallowed a spurious I/O error (as in Numba)

    def compile(self, sig):
        local.njit = getattr(local, "njit", 0) + 1
        try:
            return numba_compile(self, sig)
        finally:
            local.njit -= 1

    load_overload.numba_original = numba_load
    compile.numba_original = numba_compile
    cls.load_overload = load_overload
    Dispatcher.compile = compile
    _STATE["installed"] = True
    return True


def uninstall() -> None:
    """Numba's own ``load_overload`` and ``Dispatcher.compile`` back (tests)."""
    from numba.core import caching
    from numba.core.dispatcher import Dispatcher
    for owner, name in ((caching.Cache, "load_overload"), (Dispatcher, "compile")):
        orig = getattr(getattr(owner, name), "numba_original", None)
        if orig is not None:
            setattr(owner, name, orig)
    _STATE["installed"] = False
