"""GPU backend tests that run on a machine without a GPU.

* the simulator suite (tests/cuda_sim_cases.py) in a subprocess with NUMBA_ENABLE_CUDASIM=1 set
  before Numba loads: every op through Session(device="gpu"), kernels against NumPy, MLP
  training steps against the reference backend;
* PTX compilation of every kernel for sm_90 (tests/cuda_ptx_cases.py), in a subprocess with the
  simulator off, skipped with the reason when NVVM is missing;
* the GPU benchmark script end to end on the simulator, and without a GPU (CPU column only);
* the CPU path never imports numba.cuda or CuPy; asking for the GPU without one explains what is
  missing; the CuPy backend itself, and the simulator suite's cases again on the real GPU
  (skipped with the reason when CuPy or a GPU is missing).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import graphengine as ge

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.join(ROOT, "tests")


def _env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", NUMBA_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([ROOT, TESTS, env.get("PYTHONPATH", "")]), **extra)
    return env


def _pytest(module: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", os.path.join(TESTS, module), "-q", "-rsx",
                           "-p", "no:cacheprovider", "-o", "addopts="],
                          cwd=ROOT, env=_env(**env), capture_output=True, text=True, timeout=900)


def _summary(r: subprocess.CompletedProcess) -> str:
    """pytest's summary line: the last non-empty line of its stdout (stderr may end with
    warnings a library prints at exit)."""
    lines = [line for line in r.stdout.splitlines() if line.strip()]
    return lines[-1] if lines else ""


@pytest.mark.cudasim
def test_cuda_simulator_suite():
    r = _pytest("cuda_sim_cases.py", NUMBA_ENABLE_CUDASIM="1")
    out = r.stdout + r.stderr
    assert r.returncode == 0, f"simulator suite failed (exit {r.returncode}):\n{out[-20000:]}"
    assert " passed" in _summary(r), out[-5000:]


@pytest.mark.cudasim
def test_every_kernel_compiles_to_ptx_for_sm90():
    r = _pytest("cuda_ptx_cases.py")
    out = r.stdout + r.stderr
    if r.returncode == 0 and " passed" not in _summary(r):
        reasons = [line for line in out.splitlines() if line.startswith("SKIPPED")]
        pytest.skip("PTX compilation unavailable: " + (reasons[0] if reasons else out[-500:]))
    assert r.returncode == 0, f"PTX compilation failed (exit {r.returncode}):\n{out[-20000:]}"


BENCH_ARGS = ["--sizes", "6,5,3", "--batches", "4", "--opt", "adam", "--min-steps", "1",
              "--min-seconds", "0", "--xent-shapes", "16x10,2x40"]


@pytest.mark.cudasim
def test_gpu_benchmark_runs_every_column_on_the_simulator(tmp_path):
    # the script a GPU session runs, end to end (timings under the simulator mean nothing)
    code = (f"import simpatch\nfrom bench.gpu_vs_cpu import main\n"
            f"main({BENCH_ARGS + ['--plot', str(tmp_path / 'p.png'), '--json', str(tmp_path / 'r.json')]!r})")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(NUMBA_ENABLE_CUDASIM="1"),
                       capture_output=True, text=True, timeout=600)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-5000:]
    assert "GPU: Numba CUDA simulator" in out and "MISMATCH" not in out, out
    report = json.loads((tmp_path / "r.json").read_text())
    assert set(report["agreement"]) == {"adam/op", "adam/graph", "adam/segments"}
    assert all(a["ok"] for a in report["agreement"].values()), report["agreement"]
    assert [(x["rows"], x["cols"]) for x in report["xent"]] == [(16, 10), (2, 40)]
    (row,) = report["steps"]
    assert all(row[k] > 0 for k in ("cpu", "gpu_op", "gpu_graph", "gpu_segments")), row
    assert (tmp_path / "p.png").stat().st_size > 0


def test_gpu_benchmark_without_a_gpu_measures_the_cpu(tmp_path):
    if _cupy_reason() is None:
        pytest.skip("a GPU is present: the no-GPU path cannot be exercised here")
    r = subprocess.run([sys.executable, "-m", "bench.gpu_vs_cpu", *BENCH_ARGS, "--plot", str(tmp_path / "p.png"),
                        "--json", str(tmp_path / "r.json")],
                       cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-5000:]
    assert "No GPU:" in out and "Measuring the CPU column only" in out, out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["gpu"] is None and report["no_gpu_reason"]
    (row,) = report["steps"]
    assert row["cpu"] > 0 and row["gpu_best"] is None
    assert (tmp_path / "p.png").stat().st_size > 0


def test_cpu_path_never_imports_cuda_or_cupy():
    code = ("import sys, numpy as np, graphengine as ge\n"
            "x = ge.placeholder(ge.float32, (None, 3)); w = ge.Variable(np.ones((3, 2), np.float32))\n"
            "loss = ge.reduce_mean(ge.nn.relu(ge.matmul(x, w)))\n"
            "train = ge.train.AdamOptimizer(0.1).minimize(loss)\n"
            "for dev in ('cpu', 'reference'):\n"
            "    with ge.Session(device=dev) as s:\n"
            "        s.run(ge.global_variables_initializer()); s.run([loss, train], {x: np.ones((4, 3))})\n"
            "bad = sorted(m for m in sys.modules if m.startswith(('numba.cuda', 'cupy')))\n"
            "assert not bad, bad\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(), capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def _cupy_reason() -> str | None:
    try:
        import cupy
    except ImportError as e:
        return f"CuPy is not installed ({e})"
    try:
        if cupy.cuda.runtime.getDeviceCount() == 0:
            return "no CUDA device"
    except Exception as e:  # noqa: BLE001
        return f"{type(e).__name__}: {e}"
    return None


def test_gpu_request_without_gpu_says_what_is_missing():
    reason = _cupy_reason()
    if reason is None:
        pytest.skip("a GPU is present: the missing-GPU error cannot be exercised here")
    code = ("import graphengine as ge\n"
            "try:\n    ge.Session(device='gpu')\nexcept Exception as e:\n"
            "    from graphengine.errors import GraphEngineError\n"
            "    print(type(e).__name__, isinstance(e, GraphEngineError), '|', e)\n"
            "else:\n    print('NO ERROR')\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(), capture_output=True, text=True)
    out = r.stdout + r.stderr
    assert "CudaUnavailableError True" in out, out
    assert 'pip install -e ".[gpu]"' in out and ("CuPy" in out or "CUDA" in out), out


# ----- CuPy on a real GPU -------------------------------------------------------------------------

@pytest.fixture
def gpu():
    reason = _cupy_reason()
    if reason is not None:
        pytest.skip(f"CuPy/GPU not available: {reason}")


def _mlp_steps(device: str, jit: str | None = None, steps: int = 3) -> tuple:
    ge.reset_default_graph()
    rng = np.random.default_rng(0)
    x = ge.placeholder(ge.float32, (None, 20))
    y = ge.placeholder(ge.int64, (None,))
    w1 = ge.Variable((rng.standard_normal((20, 16)) * 0.3).astype(np.float32))
    b1 = ge.Variable(np.zeros(16, np.float32))
    w2 = ge.Variable((rng.standard_normal((16, 4)) * 0.3).astype(np.float32))
    logits = ge.matmul(ge.nn.relu(ge.matmul(x, w1) + b1), w2)
    loss = ge.reduce_mean(ge.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
    grads = ge.gradients(loss, [w1, b1, w2])
    train = ge.train.AdamOptimizer(0.01).minimize(loss)
    data = np.random.default_rng(1)
    xs, ys = data.standard_normal((64, 20)).astype(np.float32), data.integers(0, 4, 64)
    with ge.Session(device=device, jit=jit) as s:
        s.run(ge.global_variables_initializer())
        out = [s.run([loss, grads, train], {x: xs, y: ys})[:2] for _ in range(steps)]
        return out, s.run([w1, b1, w2])


def test_gpu_suite_on_a_real_gpu(gpu):
    # the simulator suite's cases again, on the GPU with the CuPy array layer (cuBLAS, one stream,
    # real CUDA-graph capture)
    r = _pytest("cuda_sim_cases.py", GRAPHENGINE_TEST_GPU="1")
    out = r.stdout + r.stderr
    assert r.returncode == 0, f"GPU suite failed (exit {r.returncode}):\n{out[-20000:]}"
    assert " passed" in _summary(r), out[-5000:]


@pytest.mark.parametrize("jit", [None, "graph", "segments"])
def test_cupy_backend_matches_reference(gpu, jit):
    ref_steps, ref_params = _mlp_steps("reference")
    got_steps, got_params = _mlp_steps("gpu", jit)
    for (lr_, gr), (lg, gg) in zip(ref_steps, got_steps, strict=True):
        np.testing.assert_allclose(lg, lr_, rtol=1e-5)
        for a, b in zip(gg, gr, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(b).max())
    for a, b in zip(got_params, ref_params, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_cupy_variables_live_on_device(gpu):
    import cupy
    v = ge.Variable(np.arange(6, dtype=np.float32).reshape(2, 3))
    with ge.Session(device="gpu") as s:
        s.run(v.initializer)
        assert isinstance(s.state.read(v.op), cupy.ndarray)
        np.testing.assert_array_equal(s.get_value(v), np.arange(6).reshape(2, 3))
        got = s.run(v * 2)
        assert isinstance(got, np.ndarray)
