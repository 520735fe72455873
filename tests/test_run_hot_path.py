"""Session.run's hot path: the entry found by the ids of the fetch and feed-key objects must
give the same answers as the long way whatever changes between calls (dtypes, ranks, shapes,
values that are not arrays, a mutated fetch list, names built anew, a closed session)."""
import numpy as np
import pytest

import graphengine as ge
from graphengine.errors import FeedError
from graphengine.runtime.session import MISS


def _model():
    g = ge.Graph()
    with g.as_default():
        x = ge.placeholder(ge.float32, (None, 3), name="x")
        k = ge.placeholder(ge.float32, (), name="k")
        w = ge.Variable(np.arange(6, dtype=np.float32).reshape(3, 2), name="w")
        y = ge.matmul(x, w) * k
        s = ge.reduce_sum(y, name="s")
        init = ge.global_variables_initializer()
    return g, x, k, w, y, s, init


@pytest.fixture(params=["step", "op"])
def setup(request):
    g, x, k, w, y, s, init = _model()
    sess = ge.Session(graph=g, jit=request.param)
    sess.run(init)
    return sess, x, k, w, y, s


def _ref(xv, kv):
    return (np.asarray(xv, np.float64) @ np.arange(6).reshape(3, 2)) * kv


def test_repeated_calls_take_the_hot_path_and_stay_right(setup):
    sess, x, k, w, y, s = setup
    rng = np.random.default_rng(0)
    for i in range(5):
        xv = rng.standard_normal((2 + i, 3)).astype(np.float32)
        got_y, got_s = sess.run([y, s], feed_dict={x: xv, k: np.float32(i)})
        np.testing.assert_allclose(got_y, _ref(xv, i), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(got_s, _ref(xv, i).sum(), rtol=1e-5, atol=1e-4)
    mine = [e for e in sess._id_runs.values() if e[1] is not None and type(e[1]) is list]
    assert len(mine) == 1   # one fetch list, one pair of feed keys: one hot entry


def test_values_of_other_dtypes_and_non_arrays_are_converted(setup):
    sess, x, k, w, y, s = setup
    xv = [[1.0, 2.0, 3.0]]
    for xin, kin in [(np.array(xv, np.float32), 2.0), (np.array(xv, np.float64), 2.0),
                     (xv, np.float64(2.0)), (np.array(xv, np.float32), 2), (xv, 2.0)]:
        got = sess.run(y, feed_dict={x: xin, k: kin})
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, _ref(xv, 2.0))


def test_a_wrong_known_dim_on_the_hot_path_names_the_placeholder(setup):
    sess, x, k, w, y, s = setup
    sess.run(y, feed_dict={x: np.ones((2, 3), np.float32), k: 1.0})
    with pytest.raises(FeedError, match="'x'"):
        sess.run(y, feed_dict={x: np.ones((2, 4), np.float32), k: 1.0})
    with pytest.raises(FeedError, match="'x'"):   # another rank: the long way, same error
        sess.run(y, feed_dict={x: np.ones(3, np.float32), k: 1.0})
    np.testing.assert_allclose(sess.run(y, feed_dict={x: np.ones((1, 3), np.float32), k: 1.0}),
                               _ref(np.ones((1, 3)), 1.0))


def test_non_contiguous_feeds_are_copied(setup):
    sess, x, k, w, y, s = setup
    big = np.arange(24, dtype=np.float32).reshape(4, 6)
    sess.run(y, feed_dict={x: big[:, :3].copy(), k: 1.0})
    view = big[:, ::2]
    assert not view.flags.c_contiguous
    np.testing.assert_allclose(sess.run(y, feed_dict={x: view, k: 1.0}), _ref(view, 1.0))


def test_a_mutated_fetch_list_and_names_built_anew(setup):
    sess, x, k, w, y, s = setup
    fetches = [y, s]
    xv = np.ones((2, 3), np.float32)
    sess.run(fetches, feed_dict={x: xv, k: 1.0})
    fetches[1] = y   # the same list object, another element
    a, b = sess.run(fetches, feed_dict={x: xv, k: 1.0})
    np.testing.assert_allclose(b, a)
    for i in range(3):   # equal names, new string objects: the same answers
        name = "".join(["s", ":", "0"])
        feeds = {"".join(["x", ":0"]): xv, "k:0": float(i)}
        np.testing.assert_allclose(sess.run(name, feed_dict=feeds), _ref(xv, i).sum(), rtol=1e-5)


def test_variable_updates_between_calls_are_seen(setup):
    sess, x, k, w, y, s = setup
    xv = np.ones((1, 3), np.float32)
    sess.run(y, feed_dict={x: xv, k: 1.0})
    sess.set_value(w, np.ones((3, 2), np.float32))
    np.testing.assert_allclose(sess.run(y, feed_dict={x: xv, k: 1.0}), [[3.0, 3.0]])


def test_a_closed_session_refuses_the_hot_path(setup):
    sess, x, k, w, y, s = setup
    sess.run(y, feed_dict={x: np.ones((1, 3), np.float32), k: 1.0})
    sess.close()
    with pytest.raises(RuntimeError, match="closed Session"):
        sess.run(y, feed_dict={x: np.ones((1, 3), np.float32), k: 1.0})


def test_an_entry_answers_miss_for_values_it_was_not_built_for(setup):
    sess, x, k, w, y, s = setup
    sess.run(y, feed_dict={x: np.ones((1, 3), np.float32), k: 1.0})
    (entry,) = [e[0] for e in sess._id_runs.values() if e[1] is y]
    assert entry([np.ones((1, 3), np.float64), np.float32(1)], False) is MISS   # another dtype
    assert entry([np.ones((1, 1, 3), np.float32), np.float32(1)], False) is MISS   # another rank
    np.testing.assert_allclose(entry([np.ones((1, 3), np.float32), np.float32(2)], False),
                               _ref(np.ones((1, 3)), 2.0))


def test_fetch_structures_that_do_not_hash_and_fresh_lists(setup):
    """The hot table keys by the fetch and feed-key objects; structures that do not hash (a list
    inside the list, a dict) look up by their ids instead, and give the same answers; a fresh
    list of the same tensors is the same key."""
    sess, x, k, w, y, s = setup
    xv = np.ones((2, 3), np.float32)
    nested = [s, [y, s]]
    named = {"y": y, "s": s}
    for i in range(3):
        a, (b, c) = sess.run(nested, feed_dict={x: xv, k: float(i)})
        d = sess.run(named, feed_dict={x: xv, k: float(i)})
        np.testing.assert_allclose(a, _ref(xv, i).sum(), rtol=1e-5)
        np.testing.assert_allclose(b, _ref(xv, i), rtol=1e-5)
        np.testing.assert_allclose(c, a)
        np.testing.assert_allclose(d["y"], b)
        np.testing.assert_allclose(d["s"], a)
    # a fresh list of the same tensors hashes to the same key: no second entry
    n = len(sess._id_runs)
    for _ in range(2):
        sess.run([y, s], feed_dict={x: xv, k: 1.0})
    assert len(sess._id_runs) == n + 1
