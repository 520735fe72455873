"""Compile a generated step in a background process while the first calls run op by op.

Opt-in (``GRAPHENGINE_BACKGROUND_COMPILE=1``): a plan whose compiled step for this argument
signature is in neither this process nor the disk cache runs op by op on the cached per-op
kernels while a child process (``python -m kernels.cpu.background``) imports the same
generated modules and calls ``step.compile(types)`` with the exact Numba argument types, which
writes Numba's disk cache; the first call after the child exits successfully loads the
compiled step from that cache. The child needs no data.

Why opt-in: the op-by-op executor and the fused step round float32 differently (fused loops,
float64 accumulation, SIMD exp/log), and the call at which the switch happens depends on how
fast the child compiles, so the numbers of the first steps could differ run to run. The default
compiles in the foreground: a seeded graph gives the same numbers every run.

A failed child never loses work: the error is logged (logger ``graphengine.compile``) and the
step compiles in the foreground on the next call.
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
CHILD = [sys.executable, "-m", "kernels.cpu.background"]  # tests point it at a failing command


def enabled() -> bool:
    return os.environ.get(ENV, "").lower() not in ("", "0", "false", "no", "off")


def marker(mod_file: str, types_key: str) -> str:
    """File written once the step of ``mod_file`` is in Numba's disk cache for these types."""
    where = os.environ.get("NUMBA_CACHE_DIR", "")
    h = hashlib.sha1(f"{types_key}|{where}".encode()).hexdigest()[:12]
    return f"{mod_file}.{h}.compiled"


class Job:
    """One child process compiling one (step module, argument types)."""

    def __init__(self, mod_file: str, types: tuple, mark: str) -> None:
        fd, self.sig_path = tempfile.mkstemp(suffix=".sig", dir=os.path.dirname(mod_file))
        with os.fdopen(fd, "wb") as f:
            pickle.dump(types, f)
        self.mark = mark
        self.err = tempfile.TemporaryFile()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([ROOT] + [p for p in [env.get("PYTHONPATH")] if p])
        self.proc = subprocess.Popen([*CHILD, mod_file, self.sig_path, mark], env=env, cwd=ROOT,
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


def main(mod_file: str, sig_path: str, mark: str) -> None:
    sys.path.insert(0, os.path.dirname(mod_file))  # the step imports its loop modules by name
    name = os.path.basename(mod_file)[:-3]
    spec = importlib.util.spec_from_file_location(name, mod_file)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    with open(sig_path, "rb") as f:
        types = pickle.load(f)
    mod.step.compile(tuple(types))
    tmp = f"{mark}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(repr(types))
    os.replace(tmp, mark)


if __name__ == "__main__":
    main(*sys.argv[1:4])
