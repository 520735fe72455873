"""graphengine.viz: DOT export (parsed by pydot / dot), rendering, plots."""
import shutil
import subprocess

import numpy as np
import pytest

import graphengine as ge
from graphengine import viz


def _model():
    x = ge.placeholder(ge.float32, (None, 3), name="x")
    with ge.name_scope("layer1"):
        w = ge.Variable(np.ones((3, 2), np.float32), name="W")
        h = ge.nn.relu(ge.matmul(x, w))
    with ge.name_scope("loss"):
        loss = ge.reduce_mean(h)
    unrelated = ge.constant(1.0, name="unrelated")
    train = ge.train.GradientDescentOptimizer(0.1).minimize(loss)
    return x, w, h, loss, unrelated, train


def _parse(dot):
    pydot = pytest.importorskip("pydot", reason="pydot is in the dev extra: pip install pydot")
    graphs = pydot.graph_from_dot_data(dot)
    assert graphs and len(graphs) == 1
    return graphs[0]


def _all_nodes(g):
    out = [n.get_name().strip('"') for n in g.get_nodes()]
    for sg in g.get_subgraphs():
        out += _all_nodes(sg)
    return [n for n in out if n not in ("node", "edge", "graph")]


def test_fetch_subgraph_parses_with_scopes_as_clusters():
    x, w, h, loss, unrelated, _ = _model()
    g = _parse(viz.to_dot(loss))
    nodes = _all_nodes(g)
    assert "x" in nodes and w.op.name in nodes and loss.op.name in nodes
    assert unrelated.op.name not in nodes
    clusters = {sg.get_name(): sg.get_label().strip('"') for sg in g.get_subgraphs()}
    assert set(clusters.values()) >= {"layer1", "loss"}
    layer = next(sg for sg in g.get_subgraphs() if sg.get_label().strip('"') == "layer1")
    assert w.op.name in _all_nodes(layer) and "x" not in _all_nodes(layer)
    dot = viz.to_dot(loss)
    assert "(?, 2) float32" in dot and "matmul" in dot
    assert len(g.get_edges()) >= 4


def test_gradients_only_on_request():
    *_, train = _model()
    plain = viz.to_dot(train)
    full = viz.to_dot(train, include_gradients=True)
    assert "gradients/" not in plain
    assert "gradients/" in full and "#fde2e2" in full
    _parse(full)
    whole = viz.to_dot(ge.get_default_graph())
    assert "unrelated" in whole and "gradients/" not in whole


def test_odd_names_are_quoted():
    ge.constant(1.0, name='we"ird\\name')
    dot = viz.to_dot(ge.get_default_graph(), show_shapes=False)
    g = _parse(dot)
    assert len(_all_nodes(g)) == 1


def test_to_dot_rejects_non_graph_objects():
    with pytest.raises(TypeError, match="cannot draw"):
        viz.to_dot([42])


def test_dot_binary_renders_svg(tmp_path):
    if shutil.which("dot") is None:
        pytest.skip("Graphviz 'dot' binary not installed; DOT validity is checked with pydot instead")
    _, _, _, loss, _, _ = _model()
    dot = viz.to_dot(loss)
    out = subprocess.run(["dot", "-Tsvg"], input=dot.encode(), capture_output=True, check=True)
    assert b"<svg" in out.stdout
    path = viz.render(dot, str(tmp_path / "g.svg"))
    assert (tmp_path / "g.svg").read_bytes().lstrip().startswith(b"<?xml") and path.endswith("g.svg")


def test_render_without_graphviz_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="install Graphviz"):
        viz.render("digraph { a -> b }", str(tmp_path / "g.png"))


def test_plot_loss_and_decision_boundary_write_pngs(tmp_path):
    pytest.importorskip("matplotlib", reason="plots need the [viz] extra (matplotlib)")
    from graphengine.training import History
    p = viz.plot_loss(History(steps=[3, 2, 1.5, 1, 0.8, 0.7], epochs=[2.17, 0.83]),
                      str(tmp_path / "loss.png"), smooth=2, log_scale=True)
    assert open(p, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    viz.plot_loss([1.0, 0.5], str(tmp_path / "l2.png"))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((30, 2)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    calls = []

    def predict(pts):
        calls.append(pts.shape)
        return np.stack([-pts[:, 0], pts[:, 0]], 1)
    q = viz.plot_decision_boundary(predict, x, y, str(tmp_path / "b.png"), resolution=20)
    assert open(q, "rb").read(4) == b"\x89PNG" and calls == [(400, 2)]
    viz.plot_decision_boundary(lambda pts: (pts[:, :1] > 0).astype(np.float32), x, y,
                               str(tmp_path / "b2.png"), resolution=10)
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        viz.plot_decision_boundary(predict, np.zeros((3, 3)), y[:3], str(tmp_path / "c.png"))
