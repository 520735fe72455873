"""ge.losses, l2_loss, regularizers and dropout: forward against NumPy written here, float64
finite-difference gradients (through the same op-database checks), on every backend."""
import numpy as np
import pytest
from opdb import BACKENDS, OpInfo, Sample, _rng, away, check_forward, check_grads, grid, randn, session

import graphengine as ge


def _nonzero_mean(per, w):
    """TF1's default reduction (SUM_BY_NONZERO_WEIGHTS): sum(w * loss) / count of nonzero weights."""
    w = np.broadcast_to(w, per.shape)
    n = np.count_nonzero(w)
    return np.sum(per * w) / n if n else 0.0 * np.sum(per)


def _ls(name, fn, per_example, make_args, weights=(None, "rows", "zeros"), per_row=False, **kw):
    """One entry per weighting: none, per-row weights, and weights with zeros."""
    rng = _rng(name)
    samples = []
    for wkind in weights:
        args = make_args(rng)
        n = args[1].shape[0]
        w = {None: None, "rows": rng.uniform(0.5, 2.0, (n, 1)), "zeros": (np.arange(n) % 2 == 0)[:, None]
             * 1.5}[wkind]
        if w is not None and per_row:
            w = w[:, 0]
        samples.append(Sample(args if w is None else args + (w,), {}, f"weights_{wkind}",
                              grad_args=(0, 1) if args[0].dtype.kind == "f" else (1,)))
    op = lambda labels, pred, w=None: fn(labels, pred) if w is None else fn(labels, pred, weights=w)
    ref = lambda labels, pred, w=None: _nonzero_mean(per_example(labels, pred), 1.0 if w is None else w)
    return OpInfo(name, op, ref, samples, **kw)


def _np_lsm(x):
    m = x.max(-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))


def _hinge_args(rng):
    labels = (rng.random((4, 3)) < 0.5).astype(np.float64)
    # keep 1 - (2l-1)*x away from 0 (the kink)
    return labels, grid(rng, (4, 3), odd=True) * 2.5 + (2 * labels - 1)


def _mc_hinge_args(rng):
    labels = rng.integers(0, 4, 5).astype(np.int32)
    return labels, 0.37 * rng.permuted(np.tile(np.arange(4.0), (5, 1)), axis=1) + randn(rng, (5, 4), 0.01)


LOSS_DB = [
    _ls("mean_squared_error", ge.losses.mean_squared_error, lambda y, p: (p - y) ** 2,
        lambda r: (randn(r, (4, 3)), randn(r, (4, 3)))),
    _ls("absolute_difference", ge.losses.absolute_difference, lambda y, p: np.abs(p - y),
        lambda r: (lambda y: (y, y + away(r, (4, 3))))(randn(r, (4, 3)))),
    _ls("huber_loss", ge.losses.huber_loss,
        lambda y, p: np.where(np.abs(p - y) <= 1, 0.5 * (p - y) ** 2, np.abs(p - y) - 0.5),
        lambda r: (lambda y: (y, y + grid(r, (4, 3), odd=True) * 1.3))(randn(r, (4, 3)))),
    _ls("hinge_loss", ge.losses.hinge_loss, lambda y, x: np.maximum(0, 1 - (2 * y - 1) * x), _hinge_args),
    _ls("multiclass_hinge_loss", ge.losses.multiclass_hinge_loss,
        lambda y, s: np.sum(np.maximum(0, s - s[np.arange(len(y)), y][:, None] + 1)
                            * (np.arange(s.shape[1]) != y[:, None]), axis=1), _mc_hinge_args, per_row=True),
    _ls("sigmoid_cross_entropy", ge.losses.sigmoid_cross_entropy,
        lambda z, x: -z * np.log(1 / (1 + np.exp(-x))) - (1 - z) * np.log(1 - 1 / (1 + np.exp(-x))),
        lambda r: (r.uniform(0, 1, (4, 3)), randn(r, (4, 3), 2.0))),
    _ls("softmax_cross_entropy", ge.losses.softmax_cross_entropy, lambda y, x: -np.sum(y * _np_lsm(x), -1),
        lambda r: (np.eye(5)[r.integers(0, 5, 4)] * 0.8 + 0.04, randn(r, (4, 5))), per_row=True),
    _ls("sparse_softmax_cross_entropy", ge.losses.sparse_softmax_cross_entropy,
        lambda y, x: -_np_lsm(x)[np.arange(len(y)), y],
        lambda r: (r.integers(0, 5, 4).astype(np.int32), randn(r, (4, 5))), per_row=True),
]

# TF1's softmax_cross_entropy passes no gradient to the labels (stop_gradient): check the logits'
for _s in next(i for i in LOSS_DB if i.name == "softmax_cross_entropy").samples:
    _s.grad_args = (1,)

OTHER_DB = [
    OpInfo("l2_loss", ge.nn.l2_loss, lambda x: np.sum(x * x) / 2,
           [Sample((randn(_rng("l2"), (3, 4)),), {}, "3x4"), Sample((np.array(3.0),), {}, "scalar")]),
    OpInfo("l1_regularizer", lambda w: ge.regularizers.l1(0.3)(w), lambda w: 0.3 * np.sum(np.abs(w)),
           [Sample((away(_rng("l1"), (3, 4)),), {}, "3x4")]),
    OpInfo("l2_regularizer", lambda w: ge.regularizers.l2(0.3)(w), lambda w: 0.3 * np.sum(w * w) / 2,
           [Sample((randn(_rng("l2r"), (3, 4)),), {}, "3x4")]),
    OpInfo("apply_regularization",
           lambda a, b: ge.regularizers.apply_regularization(ge.regularizers.l2(0.5), [a, b]),
           lambda a, b: 0.25 * (np.sum(a * a) + np.sum(b * b)),
           [Sample((randn(_rng("ar"), (2, 3)), randn(_rng("ar2"), (4,))), {}, "two")]),
]

DB = LOSS_DB + OTHER_DB
CASES = [pytest.param(i, s, id=f"{i.name}-{s.name}") for i in DB for s in i.samples]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("info,sample", CASES)
def test_loss_forward(info, sample, dtype, backend):
    check_forward(info, sample, backend, dtype)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("info,sample", CASES)
def test_loss_gradient(info, sample, backend):
    check_grads(info, sample, backend)


def test_losses_are_scalars_with_the_logits_dtype():
    p = ge.placeholder(ge.float64, (None, 3))
    for loss in [ge.losses.mean_squared_error(np.zeros((2, 3)), p), ge.losses.huber_loss(p, p),
                 ge.losses.sparse_softmax_cross_entropy(ge.placeholder(ge.int64, (None,)), p),
                 ge.nn.l2_loss(p)]:
        assert loss.shape == () and loss.dtype == ge.float64


# ----- dropout -------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_dropout_training_false_is_identity(backend):
    x = ge.placeholder(ge.float32, (None, 4))
    assert ge.nn.dropout(x, rate=0.5, training=False) is x
    flag = ge.placeholder_with_default(False, ())
    y = ge.nn.dropout(x, rate=0.5, training=flag)
    v = np.arange(1.0, 9.0, dtype=np.float32).reshape(2, 4)
    with session(backend) as s:
        np.testing.assert_array_equal(s.run(y, {x: v}), v)
        on = s.run(y, {x: np.ones((200, 4), np.float32), flag: True})
    assert set(np.unique(on)) == {0.0, 2.0}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("how", ["rate", "keep_prob", "rate_tensor"])
def test_dropout_statistics_and_scaling(how, backend):
    x = ge.placeholder(ge.float64, (None, 100))
    r = ge.placeholder(ge.float64, (), name="r")
    kw = {"rate": 0.3} if how == "rate" else {"keep_prob": 0.7} if how == "keep_prob" else {"rate": r}
    y = ge.nn.dropout(x, seed=1, **kw)
    with session(backend) as s:
        a = s.run(y, {x: np.ones((100, 100)), r: 0.3})
        b = s.run(y, {x: np.ones((100, 100)), r: 0.3})
    for out in (a, b):
        kept = out != 0
        assert abs(kept.mean() - 0.7) < 0.03
        np.testing.assert_allclose(out[kept], 1 / 0.7, rtol=1e-12)
    assert not np.array_equal(a, b)  # a new mask each run


@pytest.mark.parametrize("backend", BACKENDS)
def test_dropout_gradient_is_the_scaled_mask_of_the_same_run(backend):
    x = ge.placeholder(ge.float64, (50, 20))
    y = ge.nn.dropout(x, rate=0.4)
    u = np.random.default_rng(1).standard_normal((50, 20))
    (g,) = ge.gradients(y, [x], grad_ys=ge.constant(u))
    v = np.random.default_rng(2).uniform(1, 2, (50, 20))  # nonzero, so y == 0 exactly where dropped
    with session(backend) as s:
        for _ in range(2):
            yv, gv = s.run([y, g], {x: v})
            mask = yv != 0
            assert 0.5 < mask.mean() < 0.7
            np.testing.assert_allclose(yv, v * mask / 0.6, rtol=1e-12)
            np.testing.assert_allclose(gv, u * mask / 0.6, rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_dropout_seeds(backend):
    def run(graph_seed):
        g = ge.Graph()
        with g.as_default():
            ge.set_random_seed(graph_seed)
            y = ge.nn.dropout(ge.ones((64,)), rate=0.5, seed=5)
            with session(backend, graph=g) as s:
                return s.run(y)
    np.testing.assert_array_equal(run(1), run(1))
    assert not np.array_equal(run(1), run(2))


def test_dropout_rejects_bad_arguments():
    x = ge.placeholder(ge.float32, (2,))
    with pytest.raises(ValueError):
        ge.nn.dropout(x, rate=1.0)
    with pytest.raises(ValueError):
        ge.nn.dropout(x, keep_prob=0.5, rate=0.5)
    with pytest.raises(ValueError):
        ge.nn.dropout(x)
