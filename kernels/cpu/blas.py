"""Load the BLAS that Numba's ``np.dot`` calls, without importing all of ``scipy.linalg``.

Numba reaches BLAS through ``scipy.linalg.cython_blas`` (its ``__pyx_capi__`` function
pointers), and ``import scipy.linalg.cython_blas`` first imports the ``scipy.linalg``
package: ~0.3 s, a third of a new process's start-up here, for one small extension module.
``load()`` loads that extension file by itself (~0.02 s) and registers it under its own name,
so Numba's ``import scipy.linalg.cython_blas`` finds it done; it is the very module (and
bundled OpenBLAS) the package import would give. Should the user import ``scipy.linalg``
later, the package gets its ``cython_blas`` attribute as usual. Anything unexpected (no such
file, an import error) falls back to the plain import.
"""
from __future__ import annotations

import glob
import importlib.machinery
import importlib.util
import os
import sys

NAME = "scipy.linalg.cython_blas"
# How long an idle OpenBLAS worker spins before it sleeps: 2**20 TSC cycles, ~0.35-0.4 ms.
# Long enough to bridge the elementwise loops between one step's GEMMs (the autoencoder's longest,
# the loss-to-last-layer loop, takes ~0.3 ms): a worker that has gone to sleep costs a wake-up
# (a futex round trip) at the next GEMM, 11 times a step there, ~9% of its steps/s measured
# (bench/RESULTS.md, 2026-12-02). Short enough that a pause between steps or a busy machine
# (where the thread policy gives BLAS one thread and the workers get no work) leaves the core
# free within a millisecond. OpenBLAS clamps the value to 4..30.
SPIN_LOG2 = 20


def _attach(module) -> None:
    """Give ``scipy.linalg`` its ``cython_blas`` attribute once that package is imported."""
    class Finder:
        @staticmethod
        def find_spec(name, path=None, target=None):
            if name != "scipy.linalg":
                return None
            sys.meta_path.remove(Finder)
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            if spec is None or spec.loader is None:
                return spec
            run = spec.loader.exec_module

            def exec_module(mod):
                run(mod)
                mod.cython_blas = module
            spec.loader.exec_module = exec_module
            return spec
    sys.meta_path.insert(0, Finder)


def _direct():
    spec = importlib.util.find_spec("scipy")
    if spec is None or not spec.submodule_search_locations:
        return None
    here = os.path.join(list(spec.submodule_search_locations)[0], "linalg")
    for path in sorted(glob.glob(os.path.join(here, "cython_blas.*"))):
        if not path.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
            continue
        loader = importlib.machinery.ExtensionFileLoader(NAME, path)
        s = importlib.util.spec_from_file_location(NAME, path, loader=loader)
        mod = importlib.util.module_from_spec(s)
        sys.modules[NAME] = mod
        try:
            loader.exec_module(mod)
        except BaseException:
            sys.modules.pop(NAME, None)
            raise
        return mod
    return None


def load() -> str:
    """Load ``scipy.linalg.cython_blas`` (once) and, where ``kernels.cpu.mkl`` picks MKL, bind
    Numba's BLAS helpers to it; returns how the module came: "loaded", "direct" or "package".
    Idle OpenBLAS threads spin for 2**SPIN_LOG2 cycles (~0.4 ms) before they sleep, instead of
    OpenBLAS's 2**28 (~0.1 s): ``OPENBLAS_THREAD_TIMEOUT``, read when the library loads; the
    user's value wins."""
    how = _load_cython_blas()
    global _MKL_DONE
    if not _MKL_DONE:
        _MKL_DONE = True
        from . import mkl
        path = mkl.wanted()
        if path is not None:
            mkl.install(path, NAME)
    return how


_MKL_DONE = False


def backend() -> str:
    """The BLAS that Numba's GEMMs call in this process: "mkl" or "openblas"."""
    from . import mkl
    return mkl.backend()


def thread_setter():
    """MKL's ``set_num_threads`` where Numba's GEMMs call MKL, else None (OpenBLAS: found by the
    thread policy through threadpoolctl)."""
    from . import mkl
    return mkl.set_num_threads if mkl.backend() == "mkl" else None


def _load_cython_blas() -> str:
    if NAME in sys.modules:
        return "loaded"
    key = "OPENBLAS_THREAD_TIMEOUT"
    had = key in os.environ
    if not had:
        os.environ[key] = str(SPIN_LOG2)
    try:
        if "scipy.linalg" not in sys.modules:
            try:
                mod = _direct()
            except Exception:  # noqa: BLE001 - any surprise: the package import below
                mod = None
            if mod is not None:
                _attach(mod)
                return "direct"
        import scipy.linalg.cython_blas  # noqa: F401
        return "package"
    finally:
        if not had:
            os.environ.pop(key, None)
