"""Differential cases (see tf_cases.py): losses, optimizer trajectories, gradient clipping and
learning-rate schedules.

TF computes every ``tf.losses`` reduction in float32 (it casts the losses and weights to float32
and back), so float64 loss cases compare at 1e-6. The optimizers' hyperparameters are
float32 tensors in TF (a float64 variable sees lr=0.1 as 0.10000000149...), so the float64
trajectories use values float32 represents exactly (0.125, 0.875, 2**-20, ...) and compare at
1e-10; the default-hyperparameter runs are float32 only.
"""
from __future__ import annotations

import numpy as np
from tf_cases import Spec, case, ph, with_grads

LOSS_TOL = {"float64": (1e-6, 1e-7)}
LOSS_NOTE = "TF reduces tf.losses in float32, whatever the dtype"
# TF 2.21's compat.v1 losses built on other ops than the cross-entropies mix float32 weights into
# float64 graphs and fail to build ("x and y must have the same dtype"): float32 only there
F32_ONLY = ("mean_squared_error", "absolute_difference", "huber_loss", "hinge_loss", "log_loss")


def _loss(kind: str, weights: str = "one", **kw):
    def build(tf, rng, dt):
        feed: dict = {}
        n, c = 6, 4
        if kind in ("softmax_cross_entropy", "sparse_softmax_cross_entropy", "softmax_smooth"):
            x = ph(tf, rng.normal(n, c, scale=2.0).astype(dt), feed)
            if kind == "sparse_softmax_cross_entropy":
                y = ph(tf, rng.integers(0, c, n), feed)
            else:
                y = ph(tf, np.eye(c)[rng.integers(0, c, n)].astype(dt), feed)
            shape = (n,)
        else:
            shape = (n, c)
            if kind in ("log_loss",):
                x = ph(tf, rng.uniform(0.05, 0.95, n, c).astype(dt), feed)
            else:
                x = ph(tf, rng.normal(n, c).astype(dt), feed)
            lab = rng.integers(0, 2, n, c).astype(dt) if kind in ("hinge_loss", "log_loss", "sigmoid_cross_entropy",
                                                                   "sigmoid_smooth") else rng.normal(n, c).astype(dt)
            y = ph(tf, lab, feed)
        if weights == "one":
            w = 1.0
        elif weights == "scalar":
            w = 0.5
        else:  # per element with zeros (SUM_BY_NONZERO_WEIGHTS divides by the nonzero count)
            wv = rng.uniform(0.5, 2.0, *shape) * (rng.integers(0, 2, *shape) > 0)
            if weights == "zeros":
                wv[:] = 0
            w = ph(tf, wv.astype(dt), feed)
        name = kind.replace("_smooth", "_cross_entropy")
        args = dict(weights=w, **kw)
        if kind == "softmax_smooth":
            args["label_smoothing"] = 0.2
        if kind == "sigmoid_smooth":
            args["label_smoothing"] = 0.3
        fn = getattr(tf.losses, name)
        if kind.startswith(("softmax", "sparse")):
            out = fn(y, x, **args)
        elif kind.startswith("sigmoid"):
            out = fn(y, x, **args)
        else:
            out = fn(labels=y, predictions=x, **args) if kind != "hinge_loss" else fn(labels=y, logits=x, **args)
        grad_of = [x] if kind.startswith(("sparse", "softmax", "sigmoid", "hinge", "log")) else [x, y]
        return Spec(with_grads(tf, rng, out, grad_of, dt), feed)
    return build


for _kind in ("mean_squared_error", "absolute_difference", "huber_loss", "hinge_loss", "log_loss",
              "sigmoid_cross_entropy", "softmax_cross_entropy", "sparse_softmax_cross_entropy",
              "softmax_smooth", "sigmoid_smooth"):
    for _w in ("one", "scalar", "nonzero"):
        case(*(("float32",) if _kind in F32_ONLY else ()), name=f"loss_{_kind}_{_w}", tol=LOSS_TOL,
             note=LOSS_NOTE)(_loss(_kind, _w))
case("float32", name="loss_log_loss_zeros")(_loss("log_loss", "zeros"))
case("float32", name="loss_huber_delta")(_loss("huber_loss", "nonzero", delta=0.5))
for _red in ("NONE", "SUM", "MEAN", "SUM_OVER_BATCH_SIZE"):
    case("float32", name=f"loss_reduction_{_red}")(
        lambda tf, rng, dt, _red=_red: _loss("mean_squared_error", "nonzero",
                                              reduction=getattr(tf.losses.Reduction, _red))(tf, rng, dt))


# ----- optimizer trajectories: a few steps on a small least-squares problem --------------------

EXACT = {  # float32 represents these exactly: the float64 runs compare at 1e-10
    "sgd": lambda tf: tf.train.GradientDescentOptimizer(0.125),
    "momentum": lambda tf: tf.train.MomentumOptimizer(0.125, 0.875),
    "nesterov": lambda tf: tf.train.MomentumOptimizer(0.125, 0.875, use_nesterov=True),
    "rmsprop": lambda tf: tf.train.RMSPropOptimizer(0.0625, decay=0.875, momentum=0.5, epsilon=2.0 ** -20),
    "rmsprop_nomomentum": lambda tf: tf.train.RMSPropOptimizer(0.0625, decay=0.875, epsilon=2.0 ** -20),
    "rmsprop_centered": lambda tf: tf.train.RMSPropOptimizer(0.0625, decay=0.875, momentum=0.5,
                                                             epsilon=2.0 ** -20, centered=True),
    "adam": lambda tf: tf.train.AdamOptimizer(0.125, beta1=0.875, beta2=0.9375, epsilon=2.0 ** -20),
    "adagrad": lambda tf: tf.train.AdagradOptimizer(0.25, initial_accumulator_value=0.125),
}
DEFAULTS = {  # TF's defaults and usual values: float32 only
    "sgd_default": lambda tf: tf.train.GradientDescentOptimizer(0.1),
    "momentum_default": lambda tf: tf.train.MomentumOptimizer(0.01, 0.9),
    "rmsprop_default": lambda tf: tf.train.RMSPropOptimizer(0.01),
    "rmsprop_centered_default": lambda tf: tf.train.RMSPropOptimizer(0.01, centered=True),
    "adam_default": lambda tf: tf.train.AdamOptimizer(0.01),
    "adagrad_default": lambda tf: tf.train.AdagradOptimizer(0.1),
}


def _problem(tf, rng, dt):
    feed: dict = {}
    x = ph(tf, rng.normal(8, 3).astype(dt), feed)
    y = ph(tf, rng.normal(8, 2).astype(dt), feed)
    w = tf.Variable(rng.normal(3, 2).astype(dt), name="w")
    b = tf.Variable(rng.normal(2).astype(dt), name="b")
    loss = tf.reduce_mean(tf.square(tf.matmul(tf.tanh(x), w) + b - y))
    return feed, w, b, loss


def _trajectory(make, clip: str = ""):
    def build(tf, rng, dt):
        feed, w, b, loss = _problem(tf, rng, dt)
        opt = make(tf)
        if clip == "global_norm":
            grads, tvars = zip(*opt.compute_gradients(loss, var_list=[w, b]))
            clipped, norm = tf.clip_by_global_norm(grads, 0.5)
            train = opt.apply_gradients(zip(clipped, tvars))
            return Spec({"loss": loss, "w": w, "b": b, "norm": norm}, feed, train, 5)
        if clip == "value":
            gvs = opt.compute_gradients(loss, var_list=[w, b])
            train = opt.apply_gradients([(tf.clip_by_value(g, -0.25, 0.25), v) for g, v in gvs])
        else:
            train = opt.minimize(loss, var_list=[w, b])
        return Spec({"loss": loss, "w": w, "b": b}, feed, train, 5)
    return build


for _nm, _make in EXACT.items():
    case(name=f"opt_{_nm}")(_trajectory(_make))
for _nm, _make in DEFAULTS.items():
    case("float32", name=f"opt_{_nm}")(_trajectory(_make))
case(name="clip_global_norm_train")(_trajectory(EXACT["momentum"], "global_norm"))
case(name="clip_value_train")(_trajectory(EXACT["adam"], "value"))


@case()
def clip_by_global_norm(tf, rng, dt):
    feed: dict = {}
    a = ph(tf, rng.normal(3, 2).astype(dt), feed)
    b = ph(tf, rng.normal(4).astype(dt), feed)
    (ca, cb), norm = tf.clip_by_global_norm([a, b], 1.5)
    big = tf.clip_by_global_norm([a * 0.01], 100.0)[0][0]
    return Spec(with_grads(tf, rng, tf.reduce_sum(ca) * tf.reduce_sum(cb * cb) + tf.reduce_sum(big),
                           [a, b], dt, {"ca": ca, "cb": cb, "norm": norm, "gn": tf.global_norm([a, b])}), feed)


# ----- learning-rate schedules as graph ops of global_step -------------------------------------

STEPS = (0, 1, 4, 5, 9, 10, 11, 23, 40, 100)


def _schedule(fn):
    def build(tf, rng, dt):
        lr = tf.constant(np.array(0.1, dt))
        outs = [fn(tf, lr, tf.constant(s, tf.int64)) for s in STEPS]
        return Spec({"lr": tf.stack(outs)})
    return build


SCHEDULES = {
    "exponential_decay": lambda tf, lr, s: tf.train.exponential_decay(lr, s, 10, 0.5),
    "exponential_decay_staircase": lambda tf, lr, s: tf.train.exponential_decay(lr, s, 10, 0.5, staircase=True),
    # TF converts a Python decay_rate to float32 before exp(-rate), and end_learning_rate to float32
    # before casting to the rate's dtype: float64 compares at 1e-6 there (NOTE below)
    "natural_exp_decay": lambda tf, lr, s: tf.train.natural_exp_decay(lr, s, 10, 0.3),
    "natural_exp_decay_staircase": lambda tf, lr, s: tf.train.natural_exp_decay(lr, s, 10, 0.3, staircase=True),
    "inverse_time_decay": lambda tf, lr, s: tf.train.inverse_time_decay(lr, s, 10, 0.5),
    "inverse_time_decay_staircase": lambda tf, lr, s: tf.train.inverse_time_decay(lr, s, 10, 0.5, staircase=True),
    "polynomial_decay": lambda tf, lr, s: tf.train.polynomial_decay(lr, s, 20, 0.01),
    "polynomial_decay_power": lambda tf, lr, s: tf.train.polynomial_decay(lr, s, 20, 0.01, power=2.0),
    "polynomial_decay_cycle": lambda tf, lr, s: tf.train.polynomial_decay(lr, s, 8, 0.01, power=0.5, cycle=True),
    "cosine_decay": lambda tf, lr, s: tf.train.cosine_decay(lr, s, 30),
    "cosine_decay_alpha": lambda tf, lr, s: tf.train.cosine_decay(lr, s, 30, alpha=0.1),
    "piecewise_constant": lambda tf, lr, s: tf.train.piecewise_constant(s, [5, 10, 40], [1.0, 0.5, 0.25, 0.125]),
}
# TF 2.21 mixes a float32 constant into these with a float64 rate and fails to build
F32_SCHEDULES = ("cosine_decay", "cosine_decay_alpha", "polynomial_decay_cycle")
F32_ATTRS = {"float64": (1e-6, 1e-9)}
NOTE = "TF rounds the Python decay_rate / end_learning_rate to float32 first"
for _nm, _fn in SCHEDULES.items():
    case(*(("float32",) if _nm in F32_SCHEDULES else ()), name=f"schedule_{_nm}",
         tol=F32_ATTRS if _nm.startswith(("natural", "polynomial")) else None,
         note=NOTE if _nm.startswith(("natural", "polynomial")) else "")(_schedule(_fn))


@case()
def schedule_in_training(tf, rng, dt):
    feed, w, b, loss = _problem(tf, rng, dt)
    step = tf.Variable(np.array(0, np.int64), trainable=False, name="global_step")  # own counter per case
    lr = tf.train.exponential_decay(tf.constant(np.array(0.25, dt)), step, 2, 0.5, staircase=True)
    train = tf.train.GradientDescentOptimizer(lr).minimize(loss, global_step=step, var_list=[w, b])
    return Spec({"loss": loss, "w": w, "lr": lr, "step": step}, feed, train, 5)
