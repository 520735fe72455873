"""The TF1-style example programs run to completion (small step counts) with losses decreasing."""
import ast
import importlib.util
import os

import numpy as np
import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
TF1_PROGRAMS = sorted(f for f in os.listdir(EXAMPLES) if f.startswith("tf1_") and f.endswith(".py"))


def _load(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", os.path.join(EXAMPLES, name + ".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_all_six_programs_exist():
    assert TF1_PROGRAMS == ["tf1_autoencoder.py", "tf1_basic_operations.py", "tf1_batchnorm_tensorboard.py",
                            "tf1_linear_regression.py", "tf1_logistic_regression.py", "tf1_mlp.py",
                            "tf1_save_restore.py"]


@pytest.mark.parametrize("fname", TF1_PROGRAMS)
def test_programs_use_only_the_tf1_surface(fname):
    """Apart from data helpers, each program talks to graphengine only through `tf`."""
    tree = ast.parse(open(os.path.join(EXAMPLES, fname)).read())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {(a.name, a.asname) for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module, None))
    assert ("graphengine.compat.v1", "tf") in imported
    ge_modules = {m for m, _ in imported if m and m.startswith("graphengine")}
    assert ge_modules <= {"graphengine.compat.v1", "graphengine.datasets"}


def test_basic_operations():
    r = _load("tf1_basic_operations").main()
    assert (r["const_sum"], r["added"], r["multiplied"]) == (5, 5, 6)
    assert r["product"].tolist() == [[12.0]]
    assert r["mean"] == 3.5 and r["sums"].tolist() == [6, 15] and r["argmax"].tolist() == [2, 0]
    feed = np.array([[1., 2., 3.], [6., 5., 4.]])
    np.testing.assert_allclose(r["logexp"], feed, rtol=1e-5)
    np.testing.assert_allclose(r["squares"], feed ** 2)
    assert r["counter"].tolist() == [1.0, 1.0]


def test_linear_regression_gradient_descent():
    history = _load("tf1_linear_regression").main(training_epochs=5, display_step=5)
    assert len(history) == 6 and history[-1] < history[0]
    assert all(b <= a for a, b in zip(history, history[1:], strict=False))


def test_logistic_regression_softmax_log():
    history, acc = _load("tf1_logistic_regression").main(training_epochs=3)
    assert len(history) == 3 and history[-1] < history[0]
    assert acc > 0.7


def test_mlp_adam():
    history, acc = _load("tf1_mlp").main(training_epochs=3)
    assert history[-1] < history[0] and acc > 0.7


def test_autoencoder_rmsprop():
    history, test_loss = _load("tf1_autoencoder").main(num_steps=60, display_step=30)
    assert len(history) == 60
    assert np.mean(history[-10:]) < np.mean(history[:10])
    assert test_loss < history[0]


def test_save_restore_with_saver(tmp_path):
    history, trained, restored, latest = _load("tf1_save_restore").main(training_epochs=10,
                                                                       model_dir=str(tmp_path))
    assert history[-1] < history[0]
    np.testing.assert_array_equal(trained, restored)
    assert latest.startswith(str(tmp_path)) and os.path.exists(latest + ".npz")
    kept = sorted(f for f in os.listdir(tmp_path) if f.endswith(".npz"))
    assert len(kept) == 2  # Saver(max_to_keep=2)


def test_plot_decision_boundary_example(tmp_path):
    pytest.importorskip("matplotlib", reason="the plot example needs the [viz] extra")
    history, accuracy, loss_png, boundary_png = _load("plot_decision_boundary").main(
        epochs=8, out_dir=str(tmp_path), progress=False)
    assert history.epochs[-1] < history.epochs[0] and accuracy > 0.8
    for p in (loss_png, boundary_png):
        assert open(p, "rb").read(4) == b"\x89PNG"
    assert (tmp_path / "moons_graph.dot").read_text().startswith("digraph")
