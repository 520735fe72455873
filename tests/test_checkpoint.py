"""Checkpoints: exact round trips, atomic writes, mismatch reports, Saver bookkeeping."""
import os

import numpy as np
import pytest

import graphengine as ge
from graphengine.checkpoint import (
    META_KEY,
    CheckpointError,
    Saver,
    latest_checkpoint,
    load_checkpoint,
    restore_state,
    save_state,
)


def _model(shape=(3, 4), dtype=ge.float32, extra=False):
    with ge.variable_scope("layer"):
        w = ge.get_variable("W", shape, dtype=dtype)
        b = ge.get_variable("b", (shape[-1],), dtype=dtype, initializer=ge.initializers.zeros())
    step = ge.Variable(np.int64(0), trainable=False, name="step")
    scalar = ge.Variable(np.float64(1.5), name="scalar")
    out = [w, b, step, scalar]
    if extra:
        out.append(ge.Variable(np.ones(2, np.float32), name="extra"))
    return out


def _randomize(sess, variables, seed=0):
    rng = np.random.default_rng(seed)
    vals = {}
    for v in variables:
        a = rng.standard_normal(v.shape) * 100
        a = a.astype(v.dtype.np) if v.dtype.is_floating else np.asarray(rng.integers(-2**40, 2**40, v.shape))
        sess.set_value(v, a)
        vals[v.op.name] = sess.get_value(v)
    return vals


def test_round_trip_is_exact(tmp_path):
    variables = _model()
    with ge.Session() as s:
        s.run(ge.global_variables_initializer())
        before = _randomize(s, variables)
        path = s.save(str(tmp_path / "model"))
    assert path == str(tmp_path / "model.npz") and os.path.exists(path)
    with ge.Session() as s2:  # a fresh session: nothing initialized
        s2.restore(path)
        for v in variables:
            got = s2.get_value(v)
            assert got.dtype == before[v.op.name].dtype and got.shape == v.shape
            np.testing.assert_array_equal(got, before[v.op.name])


def test_file_is_plain_npz_with_metadata(tmp_path):
    variables = _model()
    with ge.Session() as s:
        s.run(ge.global_variables_initializer())
        path = save_state(s, str(tmp_path / "m.npz"))
    with np.load(path) as z:
        assert set(z.files) == {"layer/W", "layer/b", "step", "scalar", META_KEY}
        assert z["layer/W"].shape == (3, 4)
    assert set(load_checkpoint(path)) == {v.op.name for v in variables}


def test_interrupted_save_leaves_previous_checkpoint_readable(tmp_path, monkeypatch):
    (w, *_rest) = _model()
    path = str(tmp_path / "model.npz")
    with ge.Session() as s:
        s.run(ge.global_variables_initializer())
        s.set_value(w, np.full(w.shape, 1.0, np.float32))
        s.save(path)
        s.set_value(w, np.full(w.shape, 2.0, np.float32))

        def crash(src, dst):
            assert os.path.exists(src)  # the temp file was fully written before the "crash"
            raise OSError("simulated crash during rename")
        monkeypatch.setattr(os, "replace", crash)
        with pytest.raises(OSError, match="simulated crash"):
            s.save(path)
        monkeypatch.undo()
        assert sorted(os.listdir(tmp_path)) == ["model.npz"]  # temp file cleaned up
        s.restore(path)
        assert s.get_value(w).tolist() == np.full(w.shape, 1.0).tolist()


def test_mismatched_shape_names_the_variable(tmp_path):
    _model(shape=(3, 4))
    with ge.Session() as s:
        s.run(ge.global_variables_initializer())
        path = s.save(str(tmp_path / "m"))
    ge.reset_default_graph()
    variables = _model(shape=(3, 5))
    with ge.Session() as s:
        s.run(ge.global_variables_initializer())
        before = s.get_value(variables[0])
        with pytest.raises(CheckpointError) as info:
            s.restore(path)
        assert np.array_equal(s.get_value(variables[0]), before)  # nothing was written
    msg = str(info.value)
    assert "layer/W: shape differs: checkpoint (3, 4), graph (3, 5)" in msg
    assert "layer/b: shape differs" in msg
    assert "step" not in msg.split("\n", 1)[1]


def test_missing_extra_and_dtype_mismatches_are_each_named(tmp_path):
    _model(dtype=ge.float32, extra=False)
    with ge.Session() as s:
        s.run(ge.global_variables_initializer())
        path = s.save(str(tmp_path / "m"))
    ge.reset_default_graph()
    with ge.variable_scope("layer"):
        ge.get_variable("W", (3, 4), dtype=ge.float64)
    ge.Variable(np.int64(0), name="step")
    ge.Variable(np.ones(2, np.float32), name="extra")
    with ge.Session() as s:
        with pytest.raises(CheckpointError) as info:
            s.restore(path)
    msg = str(info.value)
    assert "layer/W: dtype differs: checkpoint float32, graph float64" in msg
    assert "extra: missing in checkpoint" in msg
    assert "layer/b: in checkpoint but not in graph" in msg
    assert "scalar: in checkpoint but not in graph" in msg


def test_partial_restore_with_var_list(tmp_path):
    w, b, step, scalar = _model()
    with ge.Session() as s:
        s.run(ge.global_variables_initializer())
        vals = _randomize(s, [w, b, step, scalar])
        path = s.save(str(tmp_path / "m"))
        s.set_value(w, np.zeros(w.shape, np.float32))
        s.set_value(b, np.ones(b.shape, np.float32))
        restore_state(s, path, var_list=[w])  # extras in the file are fine with a var_list
        np.testing.assert_array_equal(s.get_value(w), vals["layer/W"])
        assert s.get_value(b).tolist() == [1, 1, 1, 1]
        save_state(s, str(tmp_path / "renamed"), var_list={"weights": w})
        assert set(load_checkpoint(str(tmp_path / "renamed"))) == {"weights"}


def test_unreadable_and_foreign_files(tmp_path):
    _model()
    with ge.Session() as s:
        s.run(ge.global_variables_initializer())
        with pytest.raises(CheckpointError, match="does not exist"):
            s.restore(str(tmp_path / "nope"))
        np.savez(tmp_path / "foreign.npz", a=np.zeros(2))
        with pytest.raises(CheckpointError, match="without graphengine metadata"):
            s.restore(str(tmp_path / "foreign.npz"))
        (tmp_path / "junk.npz").write_bytes(b"not a zip")
        with pytest.raises(CheckpointError, match="not a readable checkpoint"):
            s.restore(str(tmp_path / "junk.npz"))


def test_saver_steps_max_to_keep_and_latest(tmp_path):
    w = ge.Variable(np.zeros(3, np.float32), name="w")
    gs = ge.train.create_global_step()
    inc = ge.assign_add(gs, 1)
    saver = Saver(max_to_keep=2)
    prefix = str(tmp_path / "model.ckpt")
    assert latest_checkpoint(str(tmp_path)) is None
    with ge.Session() as s:
        s.run(ge.global_variables_initializer())
        paths = []
        for i in range(3):
            s.run(inc.op)
            s.set_value(w, np.full(3, i, np.float32))
            paths.append(saver.save(s, prefix, global_step=gs))
        assert paths == [f"{prefix}-1", f"{prefix}-2", f"{prefix}-3"]
        assert saver.last_checkpoints == paths[1:]
        assert not os.path.exists(paths[0] + ".npz")  # beyond max_to_keep: deleted
        assert os.path.exists(paths[1] + ".npz") and os.path.exists(paths[2] + ".npz")
        assert latest_checkpoint(str(tmp_path)) == paths[2]
        saver.restore(s, paths[1])
        assert s.get_value(w).tolist() == [1, 1, 1] and s.run(gs) == 2
    state = (tmp_path / "checkpoint").read_text()
    assert 'model_checkpoint_path: "model.ckpt-3"' in state


def test_saver_restore_ignores_optimizer_slots_but_not_missing_variables(tmp_path):
    w = ge.Variable(np.ones((2, 2), np.float32), name="w")
    train = ge.train.AdamOptimizer(0.1).minimize(ge.reduce_sum(ge.square(w)))
    with ge.Session() as s:
        s.run(ge.global_variables_initializer())
        s.run(train)
        trained = s.get_value(w)
        path = Saver().save(s, str(tmp_path / "m"))
    ge.reset_default_graph()
    w = ge.Variable(np.zeros((2, 2), np.float32), name="w")
    with ge.Session() as s:
        Saver().restore(s, path)  # the file's Adam slots are not in this graph: fine, as TF1
        np.testing.assert_array_equal(s.get_value(w), trained)
    ge.reset_default_graph()
    ge.Variable(np.zeros((2, 2), np.float32), name="other")
    with ge.Session() as s, pytest.raises(CheckpointError, match="other: missing in checkpoint"):
        Saver().restore(s, path)


def test_saver_validates_arguments():
    with pytest.raises(ValueError, match="empty"):
        Saver(var_list=[])
    ge.Variable(1.0, name="v")
    with ge.Session() as s, pytest.raises(ValueError, match="latest_checkpoint"):
        Saver().restore(s, None)
