"""Full-width vectors on AVX-512 hosts.

LLVM tunes code for Intel's AVX-512 cores (Skylake-X through Sapphire Rapids, Rocket Lake) with
``prefer-256-bit``: loops it vectorizes use 256-bit ``ymm`` registers, half the machine's width,
to dodge the clock drop that 512-bit instructions cost on the first of those chips. Numba passes
the host CPU's name and features to LLVM as they are, so every graphengine loop runs at half
width there. Measured on a 2-core AVX-512 Xeon with AMX (LLVM 22 names it rocketlake), 200k float32 elements,
one thread: ``vexp`` 76 -> 54 us, ``vsigmoid`` 86 -> 66, ``vtanh`` 132 -> 97, with ``zmm``
registers; the polynomials then also build ``2**n`` with one ``vscalefps`` (see ``simd._scale2``).

``configure()`` (run when ``kernels.cpu`` is imported, so in every process that compiles its
kernels, the background compiler's included) sets Numba's ``CPU_FEATURES`` to the host's
features plus ``-prefer-256-bit`` when the host has AVX-512F. It changes nothing when:

- the host has no AVX-512 (nothing to widen; the features stay Numba's default);
- ``NUMBA_CPU_NAME`` or ``NUMBA_CPU_FEATURES`` is set (the user chose the target);
- ``GRAPHENGINE_WIDE_VECTORS=0`` is set (opt out: LLVM's default tuning);
- Numba has already built its CPU code generator in this process (something compiled before
  ``kernels.cpu`` was imported): the features are fixed from then on, so it says so in the log
  and leaves them.

Numba's disk cache keys its entries by CPU name and features, so code compiled with one setting
is never loaded under the other; a background compile's child gets this process's features in
``NUMBA_CPU_FEATURES`` (``graphengine.backends.cpu.background.child_env``), so what it caches is
what this process loads, whichever way ``configure()`` decided here. Results do not change:
the loops have no reassociation (elementwise results are the same at any width, and float sums
are not vectorized).
"""
from __future__ import annotations

import logging
import os

log = logging.getLogger("graphengine.vectors")

_STATE: dict = {"done": False, "applied": None}


def configure() -> str | None:
    """Apply the setting once; the features string set (None when left as it was)."""
    if _STATE["done"]:
        return _STATE["applied"]
    _STATE["done"] = True
    if os.environ.get("GRAPHENGINE_WIDE_VECTORS", "1").strip() == "0":
        return None
    from numba.core import config
    if os.environ.get("NUMBA_CPU_NAME") or os.environ.get("NUMBA_CPU_FEATURES") \
            or config.CPU_NAME is not None or config.CPU_FEATURES is not None:
        return None
    import llvmlite.binding as ll
    feats = ll.get_host_cpu_features()
    if not feats.get("avx512f", False):
        return None
    from numba.core.registry import cpu_target
    if "_toplevel_target_context" in cpu_target.__dict__:
        log.info("Numba's CPU code generator exists already: loops keep LLVM's 256-bit "
                 "preference on this AVX-512 host (import graphengine before compiling other "
                 "Numba code to use the full width)")
        return None
    flat = feats.flatten() + ",-prefer-256-bit"
    config.CPU_FEATURES = flat
    _STATE["applied"] = flat
    return flat


def active_features() -> str:
    """The features string Numba's CPU code generator uses (builds it if needed)."""
    from numba.core.registry import cpu_target
    return getattr(cpu_target.target_context.codegen(), "_tm_features", "")
