"""Executables per backend, loaded by name from ``graphengine.runtime.backends`` (never at
``import graphengine``: they import Numba, and the CUDA one CuPy).

* ``cpu``: the whole-step backend — ``stepgen`` writes one Numba function per training step from
  the plan (loops from ``loopgen``, optimizer updates from ``updategen``, per-op code from the
  step emitters registered in ``kernels/``), ``step`` compiles, caches and runs it, ``background``
  compiles the slow parts in a child process.
* ``cuda``: the GPU executable (op by op on the Numba-CUDA/CuPy kernels of ``kernels.cuda``),
  its device-resident state and CUDA-graph capture.

The kernels and code generators themselves live in the leaf library ``kernels/``, which imports
nothing from here.
"""
