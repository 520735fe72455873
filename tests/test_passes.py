"""Compiler passes preserve results: the reference executor with and without ``simplify``."""
import numpy as np
import opdb  # noqa: I001
import pytest
import test_fuzz
from hypothesis import given, settings

import graphengine as ge
from graphengine.compiler import PIPELINE, compile_program, prune, schedule, simplify
from graphengine.runtime.executor import OpExecutor
from graphengine.runtime.state import State
from kernels.registry import get_kernel

UNSIMPLIFIED = [prune, schedule]


def _run(fetch, feeds, pipeline):
    p = compile_program(fetch, [], list(feeds), pipeline)
    vals = OpExecutor(p, lambda op: get_kernel(op, "reference")).run(dict(feeds), State())
    return [vals[p.resolve(t)] for t in fetch], p


def _compare(fetch, feeds):
    with np.errstate(all="ignore"):
        want, p0 = _run(fetch, feeds, UNSIMPLIFIED)
        got, p1 = _run(fetch, feeds, PIPELINE)
    assert len(p1.ops) <= len(p0.ops)
    for w, g in zip(want, got):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12, equal_nan=True)
    return p0, p1


@pytest.mark.parametrize("info, sample", opdb.cases(opdb.BINARY + opdb.UNARY + opdb.MATMUL + opdb.REDUCE
                                                   + opdb.MOVEMENT + opdb.NN))
def test_simplify_preserves_op_database(info, sample):
    args = opdb.cast_args(sample.args, "float64" if "float64" in info.dtypes else info.dtypes[0])
    phs = opdb.placeholders(args)
    y = info.op(*phs, **sample.kwargs)
    fetch = [y]
    if info.grad and sample.grad and y.dtype.is_floating:
        fetch += [g for g in ge.gradients(ge.reduce_sum(ge.square(y)), phs) if g is not None]
    _compare(fetch, dict(zip(phs, args)))


@settings(test_fuzz.FUZZ, max_examples=200)
@given(recipe=test_fuzz.dags())
def test_simplify_preserves_random_graphs(recipe):
    xs, outs, loss = test_fuzz.build(recipe)
    grads = [g for g in ge.gradients(loss, xs) if g is not None]
    _compare([loss, *outs, *grads], test_fuzz._feeds(xs, 0))


def test_cse_folding_and_identities():
    x = ge.placeholder(ge.float32, (2, 3), name="x")
    a = ge.exp(x) + 1.0
    b = ge.exp(x) + 1.0                      # same expression: merged
    c = ge.constant(2.0) * ge.constant(3.0)  # folded to a constant
    d = (a * 1.0) + 0.0                      # identities: gone
    fetch = [a, b, c, d]
    p0, p1 = _compare(fetch, {x: np.ones((2, 3), np.float32)})
    types = [op.type for op in p1.ops]
    assert types.count("exp") == 1 and types.count("add") == 1 and "multiply" not in types
    assert p1.resolve(b) is p1.resolve(a) and p1.resolve(d) is p1.resolve(a)
    assert p1.resolve(c).op.type == "const"
    with ge.Session() as s:  # the session resolves fetches through the aliases
        ra, rb, rc, rd = s.run(fetch, {x: np.zeros((2, 3))})
    assert float(rc) == 6.0 and np.array_equal(ra, rb) and np.array_equal(ra, rd)


def test_fed_constant_is_not_folded():
    c = ge.constant(2.0)
    y = c * 3.0
    with ge.Session() as s:
        assert float(s.run(y)) == 6.0
        assert float(s.run(y, {c: 5.0})) == 15.0


def test_random_ops_are_never_merged():
    u1 = ge.random_uniform((4,), seed=1)
    u2 = ge.random_uniform((4,), seed=1)
    p = compile_program([u1, u2], [], [], [prune, simplify, schedule])
    assert sum(op.type == "random" for op in p.ops) == 2
