"""Variables, assignment, get_variable/variable scopes, initializers and random seeds."""
import numpy as np
import pytest
from opdb import BACKENDS, session

import graphengine as ge

pytestmark = pytest.mark.parametrize("backend", BACKENDS)


def _values(backend, *tensors, graph=None):
    with session(backend, graph=graph) as s:
        s.run(ge.global_variables_initializer())
        return s.run(list(tensors))


def test_variable_basics_and_assign(backend):
    v = ge.Variable([[1.0, 2.0]], name="v")
    assert v.shape == (1, 2) and v.dtype == ge.float32 and v.name == "v:0" and v.trainable
    assert v in ge.global_variables() and v in ge.trainable_variables()
    frozen = ge.Variable(np.int64(3), trainable=False, name="frozen")
    assert frozen not in ge.trainable_variables() and frozen.dtype == ge.int64
    set_v = v.assign([[5.0, 6.0]])
    add_v = ge.assign_add(v, [[1.0, 1.0]])
    with session(backend) as s:
        s.run(ge.global_variables_initializer())
        np.testing.assert_array_equal(s.run(v), [[1, 2]])
        np.testing.assert_array_equal(s.run(set_v), [[5, 6]])
        np.testing.assert_array_equal(s.run(add_v), [[6, 7]])
        np.testing.assert_array_equal(s.run(add_v), [[7, 8]])
        np.testing.assert_array_equal(s.run(v * 2), [[14, 16]])
        s.run(v.initializer)
        np.testing.assert_array_equal(s.run(v), [[1, 2]])
        assert int(s.run(frozen)) == 3
    with pytest.raises(ge.ShapeError, match="'v'"):
        v.assign(np.zeros((2, 2), np.float32))
    with pytest.raises(ge.DTypeError):
        ge.assign(v, ge.zeros((1, 2), ge.float64))


def test_variable_from_initializer_of_another_variable(backend):
    a = ge.Variable(np.arange(3, dtype=np.float32), name="a")
    b = ge.Variable(a.initial_value * 2, name="b")
    got_a, got_b = _values(backend, a, b)
    np.testing.assert_array_equal(got_b, [0, 2, 4])


def test_variables_initializer_subset(backend):
    a = ge.Variable(1.0, name="a")
    b = ge.Variable(2.0, name="b")
    with session(backend) as s:
        s.run(ge.variables_initializer([a]))
        assert float(s.run(a)) == 1.0
        with pytest.raises(ge.FailedPreconditionError, match="'b'"):
            s.run(b)


def test_get_variable_scopes_and_reuse(backend):
    with ge.variable_scope("layer"):
        w = ge.get_variable("w", (2, 3), initializer=ge.initializers.constant(0.5))
    assert w.name == "layer/w:0" and w.shape == (2, 3)
    with ge.variable_scope("layer", reuse=True):
        assert ge.get_variable("w", (2, 3)) is w
        with pytest.raises(ge.GraphEngineError, match="does not exist"):
            ge.get_variable("other", (1,))
    with pytest.raises(ge.GraphEngineError, match="already exists"):
        with ge.variable_scope("layer"):
            ge.get_variable("w", (2, 3))
    with ge.variable_scope("layer", reuse=ge.AUTO_REUSE):
        assert ge.get_variable("w", (2, 3)) is w
        fresh = ge.get_variable("fresh", (4,), initializer=ge.initializers.zeros())
    with pytest.raises(ge.ShapeError):
        with ge.variable_scope("layer", reuse=True):
            ge.get_variable("w", (3, 3))
    got_w, got_f = _values(backend, w, fresh)
    np.testing.assert_array_equal(got_w, np.full((2, 3), 0.5))
    np.testing.assert_array_equal(got_f, np.zeros(4))


def test_variable_scope_public_api(backend):
    """current_variable_scope, variable_scope_reuse and reuse_variables: what compat.v1's
    VariableScope reads and sets."""
    from graphengine.variables import current_variable_scope, reuse_variables, variable_scope_reuse
    assert current_variable_scope() == "" and variable_scope_reuse() is None
    with ge.variable_scope("enc") as enc:
        assert enc == "enc" and current_variable_scope() == "enc"
        with ge.variable_scope("layer", reuse=ge.AUTO_REUSE):
            assert current_variable_scope() == "enc/layer"
            assert variable_scope_reuse() == ge.AUTO_REUSE and variable_scope_reuse("enc") is None
        w = ge.get_variable("w", (2,), initializer=ge.initializers.ones())
        reuse_variables("enc")
        assert variable_scope_reuse("enc") is True and ge.get_variable("w", (2,)) is w
        with ge.variable_scope("inner"):
            assert variable_scope_reuse() is True   # inherited
    assert current_variable_scope() == "" and variable_scope_reuse("enc") is None
    with pytest.raises(ValueError, match="not active"):
        reuse_variables("enc")
    np.testing.assert_array_equal(_values(backend, w)[0], [1, 1])


def test_get_variable_regularizer_collects_losses(backend):
    w = ge.get_variable("w", initializer=np.array([1.0, -2.0], np.float32),
                        regularizer=ge.regularizers.l2(0.1))
    v = ge.get_variable("v", initializer=np.array([3.0], np.float32), regularizer=ge.regularizers.l1(0.5))
    (reg,) = _values(backend, ge.losses.get_regularization_loss())
    np.testing.assert_allclose(reg, 0.1 * (1 + 4) / 2 + 0.5 * 3, rtol=1e-6)
    assert w.shape == (2,) and v.shape == (1,)


@pytest.mark.parametrize("init,check", [
    (ge.initializers.zeros(), lambda x: np.all(x == 0)),
    (ge.initializers.ones(), lambda x: np.all(x == 1)),
    (ge.initializers.constant(2.5), lambda x: np.all(x == 2.5)),
    (ge.initializers.constant([1.0, 2.0, 3.0, 4.0, 5.0]), lambda x: np.all(x == np.arange(1, 6))),
])
def test_constant_initializers(init, check, backend):
    v = ge.get_variable("v", (200, 5), initializer=init)
    (got,) = _values(backend, v)
    assert got.shape == (200, 5) and got.dtype == np.float32 and check(got)


SHAPE = (400, 300)  # fan_in 400, fan_out 300: 120000 draws, so moments are tight


@pytest.mark.parametrize("name,init,std", [
    ("random_normal", ge.initializers.random_normal(1.0, 0.5, seed=1), 0.5),
    ("truncated_normal", ge.initializers.truncated_normal(0.0, 0.5, seed=2), 0.5 * 0.8796),
    ("random_uniform", ge.initializers.random_uniform(-0.3, 0.3, seed=3), 0.6 / np.sqrt(12)),
    ("glorot_uniform", ge.initializers.glorot_uniform(seed=4), np.sqrt(2 / 700)),
    ("xavier_normal", ge.initializers.xavier_normal(seed=5), np.sqrt(2 / 700)),
    ("he_normal", ge.initializers.he_normal(seed=6), np.sqrt(2 / 400)),
    ("he_uniform", ge.initializers.he_uniform(seed=7), np.sqrt(2 / 400)),
    ("lecun_normal", ge.initializers.lecun_normal(seed=8), np.sqrt(1 / 400)),
])
def test_random_initializer_statistics(name, init, std, backend):
    v = ge.get_variable("v", SHAPE, initializer=init)
    (x,) = _values(backend, v)
    assert x.shape == SHAPE and x.dtype == np.float32
    mean = 1.0 if name == "random_normal" else 0.0
    assert abs(x.mean() - mean) < 0.02 * std + 1e-4, x.mean()
    assert abs(x.std() / std - 1) < 0.03, (x.std(), std)
    if name == "truncated_normal":
        assert np.abs(x).max() <= 2 * 0.5 + 1e-6
    if "normal" in name and name != "random_normal":
        assert np.abs(x).max() <= 2 * std / 0.8796 * 1.0001  # truncated at two (pre-truncation) sigma
    if "uniform" in name:
        lim = 0.3 if name == "random_uniform" else std * np.sqrt(3)
        assert np.abs(x).max() <= lim and np.abs(x).max() > 0.99 * lim


def test_random_ops_statistics_and_dtypes(backend):
    n = ge.random_normal((20000,), mean=2.0, stddev=3.0, dtype=ge.float64, seed=1)
    t = ge.truncated_normal((20000,), stddev=2.0, seed=2)
    u = ge.random_uniform((20000,), -1.0, 3.0, seed=3)
    i = ge.random_uniform((20000,), 0, 5, dtype=ge.int32, seed=4)
    vn, vt, vu, vi = _values(backend, n, t, u, i)
    assert vn.dtype == np.float64 and vt.dtype == np.float32 and vi.dtype == np.int32
    assert abs(vn.mean() - 2) < 0.1 and abs(vn.std() - 3) < 0.1
    assert np.abs(vt).max() <= 4.0 and abs(vt.std() - 2 * 0.8796) < 0.05
    assert vu.min() >= -1 and vu.max() < 3 and abs(vu.mean() - 1) < 0.05
    assert set(np.unique(vi)) == {0, 1, 2, 3, 4}


def _seeded_values(backend, graph_seed, op_seed):
    g = ge.Graph()
    with g.as_default():
        if graph_seed is not None:
            ge.set_random_seed(graph_seed)
        a = ge.random_normal((5,), seed=op_seed)
        b = ge.random_uniform((5,))
        with session(backend, graph=g) as s:
            return np.concatenate(s.run([a, b])), np.concatenate(s.run([a, b]))


def test_seeds_make_runs_reproducible(backend):
    first, again = _seeded_values(backend, 42, 7)
    other_graph_first, _ = _seeded_values(backend, 42, 7)
    np.testing.assert_array_equal(first, other_graph_first)  # same seeds: same values in a new graph/session
    assert not np.array_equal(first, again)  # successive runs draw new numbers
    diff_op, _ = _seeded_values(backend, 42, 8)
    diff_graph, _ = _seeded_values(backend, 43, 7)
    assert not np.array_equal(first[:5], diff_op[:5])
    assert not np.array_equal(first, diff_graph)
    unseeded1, _ = _seeded_values(backend, None, None)
    unseeded2, _ = _seeded_values(backend, None, None)
    assert not np.array_equal(unseeded1, unseeded2)


def test_two_sessions_of_one_graph_draw_the_same_seeded_stream(backend):
    ge.set_random_seed(3)
    r = ge.random_normal((4,))
    with session(backend) as s1, session(backend) as s2:
        np.testing.assert_array_equal(s1.run(r), s2.run(r))


def test_constant_zeros_ones_fill(backend):
    fetches = [ge.constant([1, 2]), ge.constant(1.5, shape=(2, 2)), ge.constant([1.0], dtype=ge.float64),
               ge.zeros((2,), ge.int32), ge.ones((1, 2)), ge.fill((2,), 7)]
    got = _values(backend, *fetches)
    want = [np.array([1, 2], np.int32), np.full((2, 2), 1.5, np.float32), np.array([1.0]),
            np.zeros(2, np.int32), np.ones((1, 2), np.float32), np.full(2, 7, np.int32)]  # TF1: int32
    for g, w, t in zip(got, want, fetches, strict=True):
        assert g.dtype == w.dtype == t.dtype.np
        np.testing.assert_array_equal(g, w)
    with pytest.raises(ge.DTypeError):
        ge.constant([1.5], dtype=ge.int32)
