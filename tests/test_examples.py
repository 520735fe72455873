"""The README's examples run and learn (the main job must reach 95% test accuracy on digits)."""
import importlib.util
import os
import sys

import numpy as np

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def _load(name: str):
    sys.path.insert(0, EXAMPLES)
    try:
        spec = importlib.util.spec_from_file_location(f"example_{name}", os.path.join(EXAMPLES, f"{name}.py"))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path.remove(EXAMPLES)


def test_mlp_digits_reaches_95_percent():
    acc = _load("mlp_digits").main(epochs=20, progress=False)
    assert acc >= 0.95


def test_linear_regression_recovers_weights():
    out = _load("linear_regression").main(steps=300)
    assert out["last"] < 0.01 * out["first"]
    np.testing.assert_allclose(out["W"].ravel(), [2.0, -3.0, 0.5], atol=0.05)
    assert abs(out["b"] - 1.5) < 0.05


def test_logistic_regression_classifies():
    assert _load("logistic_regression").main(steps=200) >= 0.9


def test_softmax_regression_classifies():
    assert _load("softmax_regression").main(epochs=8) >= 0.9


def test_multiclass_svm_classifies():
    assert _load("multiclass_svm").main(epochs=8) >= 0.9


def test_tf1_batchnorm_tensorboard_learns_and_logs(tmp_path):
    import pytest
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc, logdir = _load("tf1_batchnorm_tensorboard").main(str(tmp_path), training_epochs=2)
    assert acc >= 0.85
    ea = EventAccumulator(logdir)
    ea.Reload()
    assert {"loss", "accuracy"} <= set(ea.Tags()["scalars"]) and ea.Tags()["graph"]
    assert [e.step for e in ea.Scalars("loss")][:3] == [0, 10, 20]


def test_cnn_digits_learns_with_batch_norm_and_logs_for_tensorboard(tmp_path):
    # a short run of the CNN example (the full 15 epochs reach ~99%); the event file read back
    # with TensorBoard's own reader
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    assert _load("cnn_digits").main(epochs=4, progress=False, logdir=str(tmp_path)) >= 0.9
    ea = EventAccumulator(str(tmp_path), size_guidance={"scalars": 0})
    ea.Reload()
    tags = ea.Tags()
    assert {"loss", "accuracy"} <= set(tags["scalars"]) and tags["graph"]
    assert "conv1_kernel" in tags["histograms"] and tags["images"]
    steps = [e.step for e in ea.Scalars("loss")]
    assert steps[:3] == [0, 10, 20] and len(steps) == -(-4 * 45 // 10)   # 45 batches of 32 per epoch
    assert ea.Scalars("loss")[-1].value < ea.Scalars("loss")[0].value
