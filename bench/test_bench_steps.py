"""pytest-benchmark: one training step per engine on the CLI's workloads.

Run: ``pytest bench/test_bench_steps.py --benchmark-enable`` (not part of ``tests/``).
References that are not installed are skipped. Thread settings come from the environment and
every engine shares this process; for numbers that compare engines use ``python -m bench``
(one process per engine).
"""
from __future__ import annotations

import importlib.util

import pytest

from bench import workloads as W

STEP_WORKLOADS = ["tiny", "mlp-b32-sgd", "mlp-b128-sgd", "mlp-b128-adam", "mlp-b1024-sgd", "deep-b256-sgd",
                  "autoencoder", "tf1-softmax-regression"]
ENGINES = ["graphengine", "graphengine-run", "graphengine-op", "torch", "jax", "numpy"]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", STEP_WORKLOADS)
def test_step(benchmark, name, engine):
    mod = W.ENGINE_MODULE.get(engine)
    if mod and importlib.util.find_spec(mod) is None:
        pytest.skip(f"{mod} not installed")
    if engine == "graphengine-op" and name not in ("tiny", "mlp-b128-sgd"):
        pytest.skip("jit=op is benchmarked on the small models only")
    w = W.WORKLOADS[name]
    params = W.make_params(w.layers)
    r = W.BUILDERS[engine](w, params)
    d = r.prep(*W.make_data(w))
    for _ in range(3):  # compile + warm up
        r.step(*d)
    r.finish()
    finish = r.finish

    def step():
        r.step(*d)
        finish()  # JAX: wait for the step (a no-op elsewhere)

    benchmark.group = f"step:{name}"
    benchmark(step)
