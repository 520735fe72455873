"""BLAS thread policy for the CPU backends: use the cores that are free, never spin on a busy one.

A GEMM split over two OpenBLAS threads runs as fast as its slower half: when another process
keeps one of two cores busy, the step takes 2-3x longer than with one thread. So the compiled
steps re-check five times a second how much CPU other processes use (``/proc/stat`` minus this
process's own time) and give BLAS the cores left over, at least one and at most the user's count
(``OPENBLAS_NUM_THREADS``/``OMP_NUM_THREADS``/``MKL_NUM_THREADS``, or ``ConfigProto(
intra_op_parallelism_threads=N)``; default: every core this process may run on). Idle OpenBLAS
threads are also told to sleep at once instead of spinning for ~0.1 s
(``OPENBLAS_THREAD_TIMEOUT``, read when the BLAS library loads; restored afterwards).

``GRAPHENGINE_BLAS_POLICY=fixed`` turns the adaptation off (the BLAS default then applies).
"""
from __future__ import annotations

import math
import os
import time
from typing import Any

_USER_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
INTERVAL = 0.2  # seconds between checks (a read of /proc/stat: ~20 us)


def quiet_blas_import() -> None:
    """Load the BLAS that Numba's np.dot calls with idle threads that sleep instead of spin."""
    key = "OPENBLAS_THREAD_TIMEOUT"
    had = key in os.environ
    old = os.environ.get(key)
    if not had:
        os.environ[key] = "1"
    try:
        import scipy.linalg.cython_blas  # noqa: F401  (the library Numba binds np.dot to)
    finally:
        if not had:
            os.environ.pop(key, None)
        elif old is not None:
            os.environ[key] = old


class BlasThreads:
    """Adapts the BLAS thread count to the cores other processes leave free."""

    def __init__(self) -> None:
        self.enabled = os.environ.get("GRAPHENGINE_BLAS_POLICY", "adaptive") != "fixed"
        try:
            self.cores = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            self.cores = os.cpu_count() or 1
        self.cap = self.cores
        for v in _USER_VARS:  # the user's thread count is the most BLAS ever gets
            try:
                self.cap = max(1, min(self.cap, int(os.environ.get(v, ""))))
                break
            except ValueError:
                continue
        if self.cap < 2:
            self.enabled = False  # nothing to adapt
        self.current: int | None = None
        self._next = 0.0
        self._last: tuple[float, float, float] | None = None  # (wall, busy jiffies, own cpu s)
        self._setter: Any = None
        self._tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        if self.cores < 2 or not os.path.exists("/proc/stat"):
            self.enabled = False

    def limit(self, n: int | None) -> None:
        """``ConfigProto(intra_op_parallelism_threads=n)``: at most n BLAS threads (0/None: all)."""
        if n:
            self.cap = max(1, min(int(n), self.cores))
            self._apply(self.cap)

    def _busy(self) -> float:
        with open("/proc/stat") as f:
            parts = f.readline().split()[1:]
        vals = [int(x) for x in parts]
        idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
        return float(sum(vals[:8]) - idle)

    def tick(self) -> None:
        """Called before each compiled step; does real work about every ``INTERVAL`` seconds."""
        now = time.monotonic()
        if now < self._next or not self.enabled:
            return
        self._next = now + INTERVAL
        if self._last is not None and now - self._last[0] > 3 * INTERVAL:
            # no step for a while (the program did other work, or waited): what other processes
            # did meanwhile says little about now. Start a fresh sample and decide on it soon.
            self._last = None
            self._next = now + INTERVAL / 4
        try:
            busy = self._busy()
        except OSError:
            self.enabled = False
            return
        t = os.times()
        self.update(now, busy, t.user + t.system)

    def update(self, now: float, busy: float, own: float) -> None:
        """One sample: wall time, the machine's busy jiffies, this process's CPU seconds."""
        last, self._last = self._last, (now, busy, own)
        if last is None or now <= last[0]:
            return
        others = max(0.0, (busy - last[1]) / self._tick - (own - last[2])) / (now - last[0])
        taken = max(0, math.ceil(others - 0.3))  # a core busy a third of the time or more is taken
        want = max(1, min(self.cap, self.cores - taken))
        if want != self.current:
            self._apply(want)

    def _apply(self, n: int) -> None:
        if self._setter is None:
            self._setter = _find_setter()
        if self._setter is not False:
            self._setter(n)
        self.current = n


def _find_setter() -> Any:
    """set_num_threads of the OpenBLAS that SciPy (and so Numba's np.dot) uses, or False."""
    try:
        from threadpoolctl import ThreadpoolController
        ctl = ThreadpoolController()
    except Exception:  # noqa: BLE001 - no threadpoolctl: leave BLAS alone
        return False
    libs = [lib for lib in ctl.lib_controllers if lib.internal_api == "openblas"]
    scipy_libs = [lib for lib in libs if "scipy" in (lib.filepath or "")] or libs
    if not scipy_libs:
        return False
    lib = scipy_libs[0]
    return lib.set_num_threads


POLICY = BlasThreads()
