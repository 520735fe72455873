"""BLAS thread policy for the CPU backends: use the cores that are free, never spin on a busy one.

A GEMM split over two OpenBLAS threads runs as fast as its slower half: when another process
keeps one of two cores busy, the step takes 2-3x longer than with one thread. So the compiled
steps re-check five times a second how much CPU other processes use (``/proc/stat`` minus this
process's own time) and give BLAS the cores left over, at least one and at most the user's count
(``OPENBLAS_NUM_THREADS``/``OMP_NUM_THREADS``/``MKL_NUM_THREADS``, or ``ConfigProto(
intra_op_parallelism_threads=N)``; default: every core this process may run on). Idle OpenBLAS
threads spin for ~0.4 ms (long enough to bridge the elementwise loops between a step's GEMMs)
and then sleep, instead of spinning for ~0.1 s (``OPENBLAS_THREAD_TIMEOUT``, read when the BLAS
library loads: ``kernels.cpu.blas``). Where the GEMMs run on MKL (``kernels.cpu.mkl``) the policy
sets MKL's thread count instead, and its OpenMP threads spin 1 ms (``KMP_BLOCKTIME``).

While other processes hold cores, the thread that calls the steps is pinned to the cores they
leave idle, and gets its affinity back when they leave.

``GRAPHENGINE_BLAS_POLICY=fixed`` turns the adaptation off (the BLAS default then applies).
"""
from __future__ import annotations

import math
import os
import threading
import time
from typing import Any

_USER_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
INTERVAL = 0.2  # seconds between checks (a read of /proc/stat: ~20 us)


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
        self._last: tuple | None = None  # (wall, busy jiffies, own cpu s, busy jiffies per core)
        try:
            self._allowed = frozenset(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            self._allowed = frozenset()
        self._pinned: tuple[int, frozenset] | None = None  # (thread id, cores) while pinned
        self._gave_up = False   # pinning did not help during this busy spell
        self._setter: Any = None
        self._tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        if self.cores < 2 or not os.path.exists("/proc/stat"):
            self.enabled = False

    def limit(self, n: int | None) -> None:
        """``ConfigProto(intra_op_parallelism_threads=n)``: at most n BLAS threads (0/None: all)."""
        if n:
            self.cap = max(1, min(int(n), self.cores))
            self._apply(self.cap)

    def _busy(self) -> tuple[float, dict[int, float]]:
        """Busy jiffies of the machine and of each core (``/proc/stat``)."""
        total, per = 0.0, {}
        with open("/proc/stat") as f:
            for line in f:
                if not line.startswith("cpu"):
                    break
                name, *parts = line.split()
                vals = [int(x) for x in parts]
                b = float(sum(vals[:8]) - vals[3] - (vals[4] if len(vals) > 4 else 0))
                if name == "cpu":
                    total = b
                else:
                    per[int(name[3:])] = b
        return total, per

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
            busy, per = self._busy()
        except (OSError, ValueError):
            self.enabled = False
            return
        t = os.times()
        self.update(now, busy, t.user + t.system, per)

    def update(self, now: float, busy: float, own: float, per: dict | None = None) -> None:
        """One sample: wall time, the machine's busy jiffies, this process's CPU seconds (and
        the busy jiffies of each core, for the stepping thread's placement)."""
        last, self._last = self._last, (now, busy, own, per)
        if last is None or now <= last[0]:
            return
        others = max(0.0, (busy - last[1]) / self._tick - (own - last[2])) / (now - last[0])
        taken = max(0, math.ceil(others - 0.3))  # a core busy a third of the time or more is taken
        want = max(1, min(self.cap, self.cores - taken))
        if want != self.current:
            self._apply(want)
        if per is not None and last[3] is not None:
            self._place(taken, per, last[3], now - last[0], (own - last[2]) / (now - last[0]))

    def _place(self, taken: int, per: dict, old: dict, dt: float, own_rate: float) -> None:
        """While other processes hold cores, keep the stepping thread (the caller) off them: the
        scheduler may leave it on a busy core next to an idle one (measured: 22-25 steps/s there
        vs 47-82 on the free core). Pins it to the idle cores when some are idle, and gives it
        back its affinity when the others leave."""
        me = threading.get_ident()
        if taken == 0:
            self.release()
            self._gave_up = False
            return
        load = {c: (per.get(c, 0.0) - old.get(c, 0.0)) / self._tick / dt for c in self._allowed}
        if self._pinned is not None and self._pinned[0] == me:
            # someone else moved onto the cores we took (say another process that pins the same
            # way): give them back to the scheduler for the rest of this busy spell, no ping-pong
            if sum(load[c] for c in self._pinned[1]) - own_rate > 0.3:
                self.release()
                self._gave_up = True
            return
        if self._gave_up:
            return
        idle = frozenset(c for c in self._allowed if load[c] < 0.5)
        if not idle or idle == self._allowed or self._pinned == (me, idle):
            return
        if self._pinned is None or self._pinned[0] == me:   # one pinned thread at a time
            if self._set_affinity(idle):
                self._pinned = (me, idle)

    def release(self) -> None:
        """Give the calling thread back its affinity if the policy pinned it (``Session.close``:
        a thread that stops stepping must not stay on one core)."""
        if self._pinned is not None and self._pinned[0] == threading.get_ident():
            self._set_affinity(self._allowed)
            self._pinned = None

    def _set_affinity(self, cores: frozenset) -> bool:
        try:
            os.sched_setaffinity(0, cores)   # 0: the calling thread (Linux)
            return True
        except (AttributeError, OSError, ValueError):
            return False

    def use_setter(self, setter: Any) -> None:
        """Steer this thread count setter (the BLAS the GEMMs call) instead of looking one up."""
        if setter is not None and setter is not self._setter:
            self._setter = setter
            if self.current is not None:
                setter(self.current)

    def _apply(self, n: int) -> None:
        if self._setter is None:
            self._setter = _find_setter()
        if self._setter is not False:
            self._setter(n)
        self.current = n


def pick_scipy_openblas(paths: list[str]) -> int | None:
    """Which of the loaded OpenBLAS libraries (their paths) is SciPy's, the one Numba's np.dot
    calls: the file in ``scipy.libs`` (a wheel), else any but NumPy's own (``numpy.libs``, whose
    file is also named ``libscipy_openblas64_``), else the first; None when there is none."""
    norm = [p.replace(os.sep, "/") for p in paths]
    for i, p in enumerate(norm):
        if "/scipy.libs/" in p:
            return i
    for i, p in enumerate(norm):
        if "/numpy.libs/" not in p:
            return i
    return 0 if paths else None


def _find_setter() -> Any:
    """set_num_threads of the OpenBLAS that SciPy (and so Numba's np.dot) uses, or False. (Where
    the GEMMs run on MKL the backend loading hands the policy MKL's setter: ``use_setter``.)"""
    try:
        from threadpoolctl import ThreadpoolController
        ctl = ThreadpoolController()
    except Exception:  # noqa: BLE001 - no threadpoolctl: leave BLAS alone
        return False
    libs = [lib for lib in ctl.lib_controllers if lib.internal_api == "openblas"]
    lib = pick_scipy_openblas([lib.filepath or "" for lib in libs])
    if lib is None:
        return False
    lib = libs[lib]
    return lib.set_num_threads


POLICY = BlasThreads()
