"""Compile a generated step in a background process while the first calls run without it.

``GRAPHENGINE_BACKGROUND_COMPILE`` chooses what the calls before the compiled step is ready do
(a plan whose compiled step for this argument signature is in neither this process nor the
disk cache):

* unset or ``0`` (the default): nothing in the background; the first call compiles the step.
* ``1``: deterministic. The generated step's own body runs as Python, calling the same compiled
  kernels and loop helpers the compiled step calls (only those are compiled in the foreground,
  and loops shared with earlier graphs are loaded from the disk cache). The step body holds
  views, calls and the same scalar arithmetic, so every call gives the numbers the compiled
  step gives (tests/test_step_background.py checks this bit for bit): when the switch happens
  cannot change a result. Costs ~50-100 us of Python per call until the switch.
* ``ops``: fastest first step, not deterministic. Calls run op by op on the cached per-op
  kernels, which round float32 differently from the fused step (fused loops, float64
  accumulation, SIMD exp/log); the call at which the switch happens depends on how fast the
  child compiles, so the first steps' numbers can differ run to run.

The child (``python -m graphengine.backends.cpu.background``) imports the same generated modules and calls
``step.compile(types)`` with the exact Numba argument types (no data), which writes Numba's disk
cache; the first call after it exits successfully loads the compiled step from that cache. A
failed child never loses work: the error is logged (logger ``graphengine.compile``) and the
step compiles in the foreground on the next call.

Why not on by default: every new plan then starts a compiling process that outlives short
scripts and test sessions (a test suite building many graphs would run a compile per graph next
to it), and the compiled function itself would be exercised only after the switch.
"""
from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

log = logging.getLogger("graphengine.compile")
ENV = "GRAPHENGINE_BACKGROUND_COMPILE"
ROOT = str(Path(__file__).resolve().parents[2])
CHILD = [sys.executable, "-m", "graphengine.backends.cpu.background"]  # tests point it at a failing command


def mode() -> str | None:
    """None (compile in the foreground), "python" (deterministic) or "ops" (see above)."""
    v = os.environ.get(ENV, "").strip().lower()
    if v in ("", "0", "false", "no", "off"):
        return None
    return "ops" if v == "ops" else "python"


_SAFE_BUILTINS = {"max", "min", "range", "len", "int", "float", "bool", "abs", "True", "False", "None"}


def python_runnable(mod) -> bool:
    """Whether the step's body can run as Python with the same numbers: every global it uses
    is a compiled (Numba) function, NumPy, math, or a plain builtin."""
    import builtins

    from numba.core.dispatcher import Dispatcher
    g = vars(mod)
    for name in mod.step.py_func.__code__.co_names:
        if name in g:
            v = g[name]
            if not (isinstance(v, Dispatcher) or getattr(v, "__name__", None) in ("numpy", "math")):
                return False
        elif hasattr(builtins, name) and name not in _SAFE_BUILTINS:
            return False
    return True


def marker(mod_file: str, types_key: str) -> str:
    """File written once the step of ``mod_file`` is in Numba's disk cache for these types."""
    where = os.environ.get("NUMBA_CACHE_DIR", "")
    h = hashlib.sha1(f"{types_key}|{where}".encode()).hexdigest()[:12]
    return f"{mod_file}.{h}.compiled"


class Job:
    """One child process compiling one (step module, argument types)."""

    def __init__(self, mod_file: str, types: tuple, mark: str, paths: list[str] = ()) -> None:
        fd, self.sig_path = tempfile.mkstemp(suffix=".sig", dir=os.path.dirname(mod_file))
        with os.fdopen(fd, "wb") as f:
            pickle.dump(types, f)
        self.mark = mark
        self.err = tempfile.TemporaryFile()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([ROOT] + [p for p in [env.get("PYTHONPATH")] if p])
        self.proc = subprocess.Popen([*CHILD, mod_file, self.sig_path, mark, *paths], env=env, cwd=ROOT,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.err)
        self.ok: bool | None = None

    def poll(self, wait: bool = False) -> bool | None:
        """None while compiling, else whether the compiled step is on disk."""
        if self.ok is None:
            rc = self.proc.wait() if wait else self.proc.poll()
            if rc is None:
                return None
            self.ok = rc == 0 and os.path.exists(self.mark)
            if not self.ok:
                self.err.seek(0)
                tail = self.err.read().decode(errors="replace").strip()[-2000:]
                log.error("background compile of %s failed (exit %s); compiling in the foreground"
                          "\n%s", os.path.basename(self.mark), rc, tail)
            self.err.close()
            try:
                os.unlink(self.sig_path)
            except OSError:
                pass
        return self.ok


def loop_dirs(mod) -> list[str]:
    """Where the generated modules a step imports live (an earlier cache dir, for loops this
    process loaded before the cache dir changed)."""
    from numba.core.dispatcher import Dispatcher
    names = {v.py_func.__module__ for v in vars(mod).values() if isinstance(v, Dispatcher)}
    return sorted({os.path.dirname(sys.modules[n].__file__) for n in names
                   if n.startswith("_ge_") and n in sys.modules})


def main(mod_file: str, sig_path: str, mark: str, *paths: str) -> None:
    # the step imports its loop modules by name
    sys.path[:0] = [os.path.dirname(mod_file), *paths]
    name = os.path.basename(mod_file)[:-3]
    spec = importlib.util.spec_from_file_location(name, mod_file)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    with open(sig_path, "rb") as f:
        types = pickle.load(f)
    os.unlink(sig_path)  # the parent may be gone by the time this is done
    mod.step.compile(tuple(types))
    tmp = f"{mark}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(repr(types))
    os.replace(tmp, mark)


if __name__ == "__main__":
    main(*sys.argv[1:])
