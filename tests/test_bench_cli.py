"""The benchmark CLI end to end (one process per engine), on tiny sizes: numbers are not checked,
the harness, the loss check against NumPy and the tables are."""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

from bench.harness import check_losses

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_loss_check_flags_the_engine_that_differs():
    ref = [1.0, 0.9]
    c = check_losses({"a": [1.0 + 5e-5, 0.9], "b": [1.0, 0.9 * (1 + 2e-3)], "c": [1.0 + 2e-4, 0.9]}, ref)
    assert not c["ok"] and c["failed"] == ["b", "c"]
    assert check_losses({"a": [1.0, 0.9]}, ref)["ok"]


def test_cli_runs_every_graphengine_column_and_checks_losses(tmp_path):
    out = tmp_path / "r.json"
    env = {**os.environ, "GRAPHENGINE_BENCH_SMOKE": "1", "PYTHONPATH": ROOT}
    p = subprocess.run([sys.executable, "-m", "bench", "--workloads", "tiny,tf1-softmax-regression",
                        "--engines", "graphengine-run,graphengine,numpy", "--threads", "1", "--json", str(out)],
                       capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    rep = json.loads(out.read_text())
    for name in ("tiny", "tf1-softmax-regression"):
        r = rep["steps"][name]
        assert r["check"]["ok"] and set(r["check"]["rel_err_step1_step2"]) == {"graphengine-run", "graphengine"}
        assert set(r["steps_per_s"]) == {"graphengine-run", "graphengine", "numpy", "floor"}
        assert r["derived"]["run_percall_vs_callable"] > 0
    assert "| tf1-softmax-regression (784-10" in p.stdout and "issue 10 targets" in p.stdout
    assert rep["threads"]["OMP_NUM_THREADS"] == "1" and "OMP_WAIT_POLICY" not in rep["threads"]


def test_procs_pools_the_rounds_of_every_process_per_engine(tmp_path):
    out = tmp_path / "r.json"
    env = {**os.environ, "GRAPHENGINE_BENCH_SMOKE": "1", "PYTHONPATH": ROOT}
    p = subprocess.run([sys.executable, "-m", "bench", "--workloads", "tiny", "--engines", "graphengine,numpy",
                        "--threads", "1", "--procs", "2", "--rounds", "3", "--json", str(out)],
                       capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    r = json.loads(out.read_text())["steps"]["tiny"]
    assert r["procs"] == 2 and set(r["steps_per_s"]) == {"graphengine", "numpy", "floor"}
    for e in r["steps_per_s"]:   # 2 processes x 3 rounds, pooled; each process's median kept
        assert len(r["all_rates"][e]) == 6 and len(r["process_medians"][e]) == 2
        assert r["steps_per_s"][e] == statistics.median(r["all_rates"][e])
    assert set(r["check"]["rel_err_step1_step2"]) == {"graphengine", "graphengine#2", "numpy#2"} and r["check"]["ok"]
    assert "2 processes per engine" in p.stdout and "per process " in p.stdout


def test_contention_reports_the_one_core_bound(monkeypatch):
    """The contention run times two GEMM-floor workers (all threads, one BLAS thread) in the same
    rounds and reports each engine's one-core bound from them; floors are not engine rows."""
    from bench import tables as T
    from bench.children import contention
    monkeypatch.setenv("PYTHONPATH", ROOT)
    c = contention(["graphengine-run"], rounds=1, target_s=0.02, gap_s=0.0, workload="tiny")
    assert not c["errors"], c["errors"]
    assert set(c["rows"]) == {"graphengine-run"} and set(c["floors"]) == {"floor", "floor-1t"}
    r = c["rows"]["graphengine-run"]
    f2, f1 = c["floors"]["floor"]["quiet"], c["floors"]["floor-1t"]["loaded"]
    want = 1 / (1 / r["quiet"] - 1 / f2 + 1 / f1)
    assert abs(r["one_core_bound"] - want) <= 1e-9 * want and abs(r["bound_ratio"] - want / r["quiet"]) <= 1e-9
    assert "one-core bound" in T.contention_table(c)
    assert "the same step's one-core bound" in T.targets_table({"contention": c})


def test_header_names_library_settings_the_environment_keeps(monkeypatch):
    """A library setting in the environment (e.g. OPENBLAS_CORETYPE, which picks OpenBLAS's
    kernels) changes the numbers: the header shows it, but not the thread counts it sets itself."""
    from bench import cli
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    monkeypatch.delenv("OPENBLAS_L2_SIZE", raising=False)
    kept = cli._kept({"OPENBLAS_NUM_THREADS": "2"})
    assert "OPENBLAS_CORETYPE=Haswell" in kept
    assert not any(k.startswith("OPENBLAS_NUM_THREADS") for k in kept)
    head = cli._header({"OPENBLAS_NUM_THREADS": "2"}, {"torch": True},
                       {"rounds": 1, "target_s": 0.1, "gap_s": 0.1, "smoke": False})
    assert "kept from the environment (every engine sees them): " in head
    assert "OPENBLAS_CORETYPE=Haswell" in head
    assert "CPU: " in head and cli._cpu().split(", ")[-1] in ("AVX-512", "AVX2", "AVX", "SSE", "?")


def test_targets_table_says_what_share_of_the_floor_the_autoencoder_target_needs():
    from bench import tables as T
    rep = {"steps": {"autoencoder": {"steps_per_s": {"torch": 60.0, "floor": 100.0},
                                     "derived": {"run_vs_torch": 1.2, "run_vs_floor": 0.72}}}}
    row = [line for line in T.targets_table(rep).splitlines() if "share of the autoencoder's" in line]
    assert len(row) == 1 and "| 84% |" in row[0]   # 1.4 x 60 / 100
    assert "share of the autoencoder's" in T.targets_table({}) and T._needed({}, "autoencoder", 1.4) is None
