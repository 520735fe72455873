"""Session.run: fetch structures, names, feeds, plan caching, pruning, default sessions and graphs."""
import collections

import numpy as np
import pytest
from opdb import BACKENDS, session

import graphengine as ge

pytestmark = pytest.mark.parametrize("backend", BACKENDS)

Pair = collections.namedtuple("Pair", ["first", "second"])


def test_nested_fetch_structures(backend):
    x = ge.placeholder(ge.float32, (2,), name="x")
    a, b = x * 2, x + 1
    v = ge.Variable(np.zeros(2, np.float32), name="v")
    noop = ge.no_op()
    with session(backend) as s:
        s.run(ge.global_variables_initializer())
        got = s.run({"l": [a, (b, noop)], "p": Pair(a, {"inner": [b]}), "op": noop, "v": v}, {x: [1.0, 2.0]})
    assert set(got) == {"l", "p", "op", "v"}
    assert isinstance(got["l"], list) and isinstance(got["l"][1], tuple)
    np.testing.assert_array_equal(got["l"][0], [2, 4])
    np.testing.assert_array_equal(got["l"][1][0], [2, 3])
    assert got["l"][1][1] is None and got["op"] is None
    assert isinstance(got["p"], Pair)
    np.testing.assert_array_equal(got["p"].first, [2, 4])
    np.testing.assert_array_equal(got["p"].second["inner"][0], [2, 3])
    np.testing.assert_array_equal(got["v"], [0, 0])


def test_single_fetches_and_same_tensor_twice(backend):
    x = ge.constant([1.0, 2.0])
    y = x * 3
    with session(backend) as s:
        one = s.run(y)
        twice = s.run([y, y])
        empty = s.run([])
    assert isinstance(one, np.ndarray) and one.dtype == np.float32
    np.testing.assert_array_equal(one, [3, 6])
    np.testing.assert_array_equal(twice[0], twice[1])
    assert empty == []


def test_fetch_and_feed_by_name(backend):
    x = ge.placeholder(ge.float32, (None,), name="inp")
    with ge.name_scope("layer"):
        y = ge.multiply(x, 2.0, name="double")
    assert y.name == "layer/double:0" and y.op.name == "layer/double"
    ge.no_op(name="nothing")
    with session(backend) as s:
        got = s.run("layer/double:0", {"inp:0": [1.0, 2.0]})
        np.testing.assert_array_equal(got, [2, 4])
        np.testing.assert_array_equal(s.run(y, {"inp": [3.0]}), [6])
        assert s.run("nothing") is None
        with pytest.raises(KeyError, match="nope"):
            s.run("nope:0")


def test_plan_cache_reuses_plans_across_batch_sizes(backend):
    x = ge.placeholder(ge.float32, (None, 3))
    w = ge.Variable(np.ones((3, 2), np.float32))
    y = ge.reduce_sum(ge.matmul(x, w), axis=1)
    with session(backend) as s:
        s.run(w.initializer)
        n0 = len(s._plans)
        for batch in (4, 4, 1, 7):
            got = s.run(y, {x: np.ones((batch, 3), np.float32)})
            np.testing.assert_array_equal(got, np.full(batch, 6.0))
        assert len(s._plans) == n0 + 1  # a smaller last batch must not recompile
        s.run([y, x * 2], {x: np.ones((2, 3), np.float32)})
        assert len(s._plans) == n0 + 2  # different fetches: a new plan


def test_only_the_needed_subgraph_runs(backend):
    x = ge.placeholder(ge.float32, (2,), name="needed")
    unused = ge.placeholder(ge.float32, (2,), name="unused")
    uninit = ge.Variable(np.ones(2, np.float32), name="never_initialized")
    y = x * 2
    _ = unused + uninit  # not on y's path: neither a feed nor an initialized value is needed
    with session(backend) as s:
        np.testing.assert_array_equal(s.run(y, {x: [1.0, 2.0]}), [2, 4])


def test_fed_intermediate_tensor_cuts_the_graph(backend):
    x = ge.placeholder(ge.float32, (2,), name="x")
    h = x * 2
    y = h + 1
    with session(backend) as s:
        np.testing.assert_array_equal(s.run(y, {h: [10.0, 20.0]}), [11, 21])  # x need not be fed


def test_placeholder_with_default(backend):
    d = ge.placeholder_with_default(np.array([1.0, 2.0], np.float32), (None,))
    y = d * 10
    with session(backend) as s:
        np.testing.assert_array_equal(s.run(y), [10, 20])
        np.testing.assert_array_equal(s.run(y, {d: [5.0, 6.0, 7.0]}), [50, 60, 70])
        np.testing.assert_array_equal(s.run(y), [10, 20])


def test_variable_get_set_and_load(backend):
    v = ge.Variable(np.zeros((2, 2), np.float32), name="v")
    with session(backend) as s:
        s.run(v.initializer)
        s.set_value(v, np.eye(2))
        np.testing.assert_array_equal(s.get_value(v), np.eye(2))
        v.load([[1, 2], [3, 4]], s)
        np.testing.assert_array_equal(s.run(v), [[1, 2], [3, 4]])
        assert s.get_value(v).dtype == np.float32
        with pytest.raises(ge.FeedError, match="v"):
            v.load(np.zeros(3), s)  # wrong shape
        np.testing.assert_array_equal(s.get_value(v), [[1, 2], [3, 4]])


def test_variables_are_per_session(backend):
    v = ge.Variable(np.zeros(2, np.float32), name="v")
    inc = v.assign_add(np.ones(2, np.float32))
    with session(backend) as s1, session(backend) as s2:
        s1.run(v.initializer)
        s2.run(v.initializer)
        s1.run(inc)
        s1.run(inc)
        np.testing.assert_array_equal(s1.run(v), [2, 2])
        np.testing.assert_array_equal(s2.run(v), [0, 0])


def test_fetched_arrays_are_copies(backend):
    v = ge.Variable(np.zeros(3, np.float32), name="v")
    c = ge.constant([1.0, 2.0, 3.0])
    with session(backend) as s:
        s.run(v.initializer)
        got = s.run(v)
        got[:] = 7
        np.testing.assert_array_equal(s.run(v), [0, 0, 0])
        k = s.run(c)
        k[:] = 0
        np.testing.assert_array_equal(s.run(c), [1, 2, 3])
        g = s.get_value(v)
        g[:] = 9
        np.testing.assert_array_equal(s.get_value(v), [0, 0, 0])


def test_uninitialized_variable_raises_naming_it(backend):
    v = ge.Variable(np.zeros(2, np.float32), name="my_weights")
    with session(backend) as s:
        with pytest.raises(ge.FailedPreconditionError, match="my_weights"):
            s.run(v * 2)
        with pytest.raises(ge.FailedPreconditionError, match="my_weights"):
            s.get_value(v)
        s.run(v.initializer)
        np.testing.assert_array_equal(s.run(v * 2), [0, 0])


def test_eval_and_run_inside_with_session(backend):
    x = ge.placeholder(ge.float32, ())
    v = ge.Variable(1.0, name="v")
    bump = v.assign(5.0).op
    with session(backend) as s:
        assert ge.get_default_session() is s
        v.initializer.run()
        assert float((x * 2).eval({x: 4.0})) == 8.0
        assert float(v.eval()) == 1.0
        bump.run()
        assert float(v.eval()) == 5.0
    with pytest.raises(ValueError, match="default session"):
        (x * 2).eval({x: 1.0})


def test_interactive_session(backend):
    x = ge.constant(3.0)
    s = ge.InteractiveSession(**__import__("opdb").SESSION_KWARGS[backend])
    try:
        assert ge.get_default_session() is s
        assert float((x * x).eval()) == 9.0
    finally:
        s.close()
    with pytest.raises(ValueError):
        ge.get_default_session()
    with pytest.raises(RuntimeError, match="closed"):
        s.run(x)


def test_graph_as_default_and_reset(backend):
    g = ge.Graph()
    with g.as_default():
        assert ge.get_default_graph() is g
        a = ge.constant(2.0) * 3
    outer = ge.get_default_graph()
    assert outer is not g and a.graph is g
    assert not outer.get_operations()
    with session(backend, graph=g) as s:
        assert float(s.run(a)) == 6.0
    with session(backend) as s, pytest.raises(ValueError, match="another graph"):
        s.run(a)  # a session of the default graph cannot run g's tensor
    b = ge.constant(1.0)
    with pytest.raises(ge.GraphEngineError, match="different graph"):
        ge.add(a, b)
    ge.reset_default_graph()
    assert ge.get_default_graph() is not outer and not ge.get_default_graph().get_operations()
    with g.as_default(), pytest.raises(RuntimeError):
        ge.reset_default_graph()


def test_group_and_control_dependencies(backend):
    v = ge.Variable(0.0, name="counter")
    w = ge.Variable(0.0, name="other")
    both = ge.group(v.assign_add(1.0), [w.assign_add(2.0)])
    with ge.control_dependencies([v.assign_add(10.0)]):
        after = ge.no_op(name="after")
    with session(backend) as s:
        s.run(ge.global_variables_initializer())
        assert s.run(both) is None
        assert (float(s.run(v)), float(s.run(w))) == (1.0, 2.0)
        s.run(after)
        assert float(s.run(v)) == 11.0


def test_names_are_unique_and_scoped(backend):
    a = ge.constant(1.0, name="c")
    b = ge.constant(1.0, name="c")
    with ge.name_scope("outer"):
        with ge.name_scope("inner"):
            c = ge.add(a, b, name="sum")
    assert a.op.name == "c" and b.op.name == "c_1"
    assert c.name == "outer/inner/sum:0"
    with session(backend) as s:
        assert float(s.run("outer/inner/sum:0")) == 2.0
