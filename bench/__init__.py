"""Benchmarks: graphengine vs PyTorch eager, JAX jit and hand-written NumPy on CPU, each engine
in its own process (``bench/harness.py``).

``python -m bench --quick`` (or ``graphengine-bench``) prints the comparison table;
``pytest bench --benchmark-enable`` runs the pytest-benchmark suites. Nothing here is imported
by graphengine, and torch/jax are optional.
"""
