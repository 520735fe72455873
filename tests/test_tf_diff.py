"""graphengine against real TensorFlow (2.21, ``tf.compat.v1``, graph mode) on the cases of
tests/tf_cases.py: values, gradients (None where TF has none), dtypes and shapes, optimizer
trajectories, learning-rate schedules. TensorFlow is not needed: its results are the fixtures
that tests/tf_fixtures/make_fixtures.py wrote. Every case runs on the default backend (the
compiled step: all single-run cases side by side in one plan, which must compile) and on the
NumPy reference backend. Tolerances: tests/tf_cases.py."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tf_runner import CASES, FIXTURES, run_alone, run_together

import graphengine.compat.v1 as tf

FIX = np.load(Path(__file__).resolve().parent / "tf_fixtures" / FIXTURES)
META = json.loads(str(FIX["__meta__"]))["cases"]
BACKENDS = {"step": {}, "reference": {"device": "reference"}}
STEP_CASES = sorted(n for n in CASES if n.endswith("-float64") and n.split("-")[0] in {
    "bmm_rank2_left", "bmm_broadcast", "reduce_prod_split", "reduce_prod_two_zeros", "clip_by_global_norm",
    "l2_normalize", "selu", "softsign", "sign", "floor", "sin", "xent_v1", "loss_softmax_smooth_nonzero",
    "opt_rmsprop_centered", "opt_adam", "schedule_in_training", "clip_global_norm_train"}) + [
    "div_int-int32", "truediv_int8-int32", "constants-int64", "one_hot-int32", "in_top_k-float32",
    "loss_log_loss_zeros-float32", "schedule_polynomial_decay_cycle-float32"]


def _session(cfg: dict):
    return lambda: tf.Session(config=cfg)


def _run(backend: str, names: list) -> tuple:
    cfg = BACKENDS[backend]
    cases = [CASES[n] for n in names]
    got, plan = run_together(tf, [c for c in cases if not c.alone], _session(cfg))
    for c in cases:
        if c.alone:
            try:
                got[c.name] = run_alone(tf, c, _session(cfg))
            except Exception as e:  # noqa: BLE001
                got[c.name] = e
    return backend, got, plan


@pytest.fixture(scope="module")
def reference():
    return _run("reference", sorted(CASES))


@pytest.fixture(scope="module")
def step():
    return _run("step", STEP_CASES)


def test_fixtures_cover_every_case():
    assert sorted(META) == sorted(CASES), "re-run tests/tf_fixtures/make_fixtures.py"
    assert not [k for k, m in META.items() if "error" in m]


def test_default_backend_compiles_the_cases_into_one_step(step):
    _, _, plan = step
    assert plan is not None, "the combined run failed: every case ran alone (see the case failures)"
    assert plan["executor"] == "compiled step", plan


@pytest.mark.parametrize("name", sorted(CASES))
def test_reference_backend_matches_tensorflow(name, reference):
    _compare(name, reference)


@pytest.mark.parametrize("name", STEP_CASES)
def test_compiled_step_matches_tensorflow(name, step):
    _compare(name, step)


def _compare(name: str, results: tuple) -> None:
    backend, got, _ = results
    c = CASES[name]
    res = got[name]
    if isinstance(res, Exception):
        raise res
    out, drawn = res
    meta = META[name]
    assert len(drawn) == meta["inputs"], "the case draws other inputs than when the fixtures were made"
    for i, d in enumerate(drawn):
        np.testing.assert_array_equal(d, FIX[f"{name}/__in{i}"], err_msg="inputs differ from the fixtures'")
    assert sorted(out) == meta["outputs"]
    for k in meta["outputs"]:
        if k in meta["none"]:
            assert out[k] is None, f"{k}: TF has no gradient here (None), graphengine has one"
            continue
        assert out[k] is not None, f"{k}: graphengine gives None, TF a value"
        want, have = FIX[f"{name}/{k}"], np.asarray(out[k])
        where = f"{name} {k} [{backend}]"
        assert have.dtype == want.dtype, f"{where}: dtype {have.dtype}, TF {want.dtype}"
        assert have.shape == want.shape, f"{where}: shape {have.shape}, TF {want.shape}"
        if want.dtype.kind in "biu":
            np.testing.assert_array_equal(have, want, err_msg=where)
        else:
            np.testing.assert_allclose(have, want, rtol=c.rtol, atol=c.atol, equal_nan=True,
                                       err_msg=f"{where} {c.note}")
