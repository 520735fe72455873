"""Compile a generated step in a background process while the first calls run without it.

A new plan (a train step, an eval fetch) whose compiled step for this argument signature is
in neither this process nor the disk cache starts a child process that compiles it, and the
calls before it is ready run on something that needs no new compiled code.
``GRAPHENGINE_BACKGROUND_COMPILE`` chooses what:

* unset or ``1`` (the default): deterministic. The calls run the plan's *interim* step: the
  same generator's code for ``graphengine.compiler.fuse.split(fused)``, every fused group's
  members as one-op loops, its body run as Python. Those loops depend on one op each (type,
  dtypes, ranks, broadcast pattern), never on the graph, so they sit in the kernel cache
  (``kernels.codegen.kernel_cache_dir``) and a new graph made of known ops loads them instead
  of compiling. Each computes what its op computes inside the fused loop, in the same dtype
  and order, so every call gives the numbers the compiled step gives, bit for bit
  (tests/test_step_opdb.py checks the whole op database, tests/test_step_background.py the
  switch): when the switch happens cannot change a result. Most of what the interim calls
  needs no compiling at all: it calls Python twins of the loops and kernels, which compute the
  same bits in NumPy (``kernels.cpu.pyloops``: the one-op loops, translated from their source;
  ``kernels.cpu.pykernels``: reductions, softmax/cross-entropy, optimizer updates;
  ``kernels.cpu.pyblas``: the matmuls' BLAS calls). Only loops it cannot mirror (libm or SIMD
  transcendentals) load or compile their Numba function, so a cold first step of a typical
  MLP compiles nothing. A plan whose interim cannot be
  built runs the fused step's own body as Python (the same calls: the same numbers), and one
  whose body needs the compiler compiles in the foreground. Costs ~0.1-0.5 ms of Python per
  call until the switch.
* ``0``: nothing in the background; the first call compiles the step (the test suite runs so).
* ``ops``: op by op on the cached per-op kernels, not deterministic: they round float32
  differently from the fused step (float64 accumulation, libm exp/log), and the call at which
  the switch happens depends on how fast the child compiles.

The child (``python -m graphengine.backends.cpu.background``) imports the same generated modules and calls
``step.compile(types)`` with the exact Numba argument types (no data), which writes Numba's disk
cache; the first call after it exits successfully loads the compiled step from that cache. One
child runs at a time (a second plan's waits its turn: two compiles beside the calls would
oversubscribe a 2-core machine). A child that outlives its parent finishes its compile, so
the next process finds the step cached. A failed child never loses work: the error is logged
(logger ``graphengine.compile``) and the step compiles in the foreground on the next call.
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
import time
from pathlib import Path

log = logging.getLogger("graphengine.compile")
ENV = "GRAPHENGINE_BACKGROUND_COMPILE"
ROOT = str(Path(__file__).resolve().parents[3])
CHILD = [sys.executable, "-m", "graphengine.backends.cpu.background"]  # tests point it at a failing command


def mode() -> str | None:
    """None (compile in the foreground), "python" (deterministic, the default) or "ops"."""
    v = os.environ.get(ENV, "").strip().lower()
    if v in ("0", "false", "no", "off"):
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


_QUEUE: list[Job] = []  # jobs not finished, in start order: only the first one's child runs
STALE_S = 1800.0        # a claim older than this is a crashed child's, whatever its PID says


def _claim_path(mark: str) -> str:
    return mark + ".pending"


def _claim(mark: str) -> int | None:
    """Claim the compile of ``mark`` for a child of this process (a file created exclusively:
    another process that needs the same step waits for that child instead of starting a second
    compile of it); an open descriptor to write the child's PID to, or None when claimed."""
    try:
        return os.open(_claim_path(mark), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except OSError:
        return None


def _claimed(mark: str) -> bool:
    """Whether a live process (the child of another, or of this process) compiles ``mark`` now;
    a dead claimant's claim is removed."""
    path = _claim_path(mark)
    try:
        st = os.stat(path)
        with open(path) as f:
            text = f.read().strip()
    except OSError:
        return False
    age = time.time() - st.st_mtime
    if not text:   # written right after the spawn
        alive = age < 10.0
    else:
        try:
            os.kill(int(text), 0)
            alive = age < STALE_S
        except PermissionError:
            alive = age < STALE_S
        except (OSError, ValueError):
            alive = False
    if not alive:
        try:
            os.unlink(path)
        except OSError:
            pass
    return alive


class Job:
    """One child process compiling one (step module, argument types)."""

    def __init__(self, mod_file: str, types: tuple, mark: str, paths: list[str] = ()) -> None:
        self.mod_file, self.types, self.paths = mod_file, types, list(paths)
        self.sig_path = ""   # the argument types for the child, written when it starts
        self.mark = mark
        self.proc: subprocess.Popen | None = None
        self.err = None
        self.ok: bool | None = None
        self.adopted = False   # another process's child compiles this step: wait for its marker
        _QUEUE.append(self)
        _advance()

    def start(self) -> None:
        fd = _claim(self.mark)
        if fd is None:
            if _claimed(self.mark):
                self.adopted = True
                return
            fd = _claim(self.mark)   # the claim was stale (removed): take it
        sfd, self.sig_path = tempfile.mkstemp(suffix=".sig", dir=os.path.dirname(self.mod_file))
        with os.fdopen(sfd, "wb") as f:
            pickle.dump(self.types, f)
        self.args = [self.mod_file, self.sig_path, self.mark, *self.paths]
        self.err = tempfile.TemporaryFile()
        env = child_env()
        try:
            self.proc = subprocess.Popen([*CHILD, *self.args], env=env, cwd=ROOT, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=self.err)
        except OSError as e:
            log.error("cannot start a background compile (%s); compiling in the foreground", e)
            self.err.close()
            self.ok = False
            _QUEUE.remove(self)
            self._drop_sig()
            if fd is not None:
                os.close(fd)
                _unclaim(self.mark)
            return
        if fd is not None:
            os.write(fd, str(self.proc.pid).encode())
            os.close(fd)

    def _poll_adopted(self, wait: bool) -> bool | None:
        while True:
            if os.path.exists(self.mark):
                self.ok = True
            elif not _claimed(self.mark):   # that child died without the step: compile here
                self.adopted = False
                self.start()
                if self.proc is None and not self.adopted:
                    return self.ok
                return self.poll(wait)
            if self.ok is not None or not wait:
                break
            time.sleep(0.05)
        if self.ok is not None:
            if self in _QUEUE:
                _QUEUE.remove(self)
            self._drop_sig()
            _advance()
        return self.ok

    def _drop_sig(self) -> None:
        if self.sig_path:
            try:
                os.unlink(self.sig_path)
            except OSError:
                pass

    def poll(self, wait: bool = False) -> bool | None:
        """None while compiling (or waiting for its turn), else whether the compiled step is on disk."""
        if self.adopted and self.ok is None:
            return self._poll_adopted(wait)
        if self.ok is None and self.proc is None:
            _advance()
            while wait and self.ok is None and self.proc is None:  # the jobs before it run first
                _QUEUE[0].poll(wait=True)
            if self.proc is None:
                return self.ok
        if self.ok is None:
            rc = self.proc.wait() if wait else self.proc.poll()
            if rc is None:
                return None
            if self in _QUEUE:
                _QUEUE.remove(self)
            self.ok = rc == 0 and os.path.exists(self.mark)
            if not self.ok:
                self.err.seek(0)
                tail = self.err.read().decode(errors="replace").strip()[-2000:]
                log.error("background compile of %s failed (exit %s); compiling in the foreground"
                          "\n%s", os.path.basename(self.mark), rc, tail)
            self.err.close()
            self._drop_sig()
            if not self.ok:
                _unclaim(self.mark)
            _advance()
        return self.ok


def _unclaim(mark: str) -> None:
    try:
        os.unlink(_claim_path(mark))
    except OSError:
        pass


def _advance() -> None:
    """Reap the running child if it is done; start the first queued one if none runs (one that
    cannot start is dropped)."""
    while _QUEUE:
        head = _QUEUE[0]
        if head.adopted:
            if head.poll() is None:
                return
            continue
        if head.proc is None:
            head.start()
            if head.proc is None and not head.adopted:
                continue  # could not start: dropped, try the next
            return
        if head.proc.poll() is not None:
            head.poll()   # leaves the queue and starts the next
        return


def child_env() -> dict:
    """The child's environment: this one, with graphengine on ``PYTHONPATH`` and this process's
    Numba CPU features (``NUMBA_CPU_FEATURES``, unless the user set them or a CPU name): Numba's
    disk cache keys entries by them, and a child that chose differently (``kernels.cpu.vectors``
    leaves them alone in a process that compiled before importing the kernels) would compile an
    entry this process cannot load."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([ROOT] + [p for p in [env.get("PYTHONPATH")] if p])
    if not env.get("NUMBA_CPU_FEATURES") and not env.get("NUMBA_CPU_NAME"):
        from kernels.cpu.vectors import active_features
        feats = active_features()
        if feats:
            env["NUMBA_CPU_FEATURES"] = feats
    return env


def pending() -> int:
    """Background compiles of this process not yet finished (running or queued)."""
    _advance()
    return len(_QUEUE)


def wait_all() -> bool:
    """Wait for every background compile of this process; whether all succeeded."""
    ok = True
    while _QUEUE:
        ok = bool(_QUEUE[0].poll(wait=True)) and ok
    return ok


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
    _unclaim(mark)   # written by the parent that started this child


if __name__ == "__main__":
    main(*sys.argv[1:])
