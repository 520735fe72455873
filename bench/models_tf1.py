"""The two TF1-tutorial workloads, for every engine: the classic autoencoder and MNIST softmax
regression (see ``bench/workloads.py`` for the weights and data every engine shares).

graphengine's models are written with ``graphengine.compat.v1`` exactly as the TF1 tutorials
write them (``tf.Variable`` dicts, ``tf.nn.sigmoid(tf.add(tf.matmul(...)))``,
``tf.reduce_mean(tf.pow(y_true - y_pred, 2))``, ``tf.train.RMSPropOptimizer(lr).minimize``),
only with the weights taken from the shared NumPy arrays instead of ``tf.random_normal``.
The references implement TF1's RMSProp, which ``torch.optim.RMSprop`` does not (it puts eps
outside the square root and starts the mean square at zero):

    ms = rho * ms + (1 - rho) * g^2;  mom = momentum * mom + lr * g / sqrt(ms + eps);  var -= mom

with rho 0.9, momentum 0, eps 1e-10 and ``ms`` starting at ones, as TF1 and graphengine's
``RMSPropOptimizer`` do.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .workloads import RMSPROP, Runner, Workload, graphengine_session_runner, jax_step_runner


# graphengine, TF1 style --------------------------------------------------------------------
def graphengine_tf1_runner(w: Workload, params: list[np.ndarray], mode: str = "run",
                           jit: str = "step", timings: dict | None = None) -> Runner:
    import time

    import graphengine.compat.v1 as tf

    tm = timings if timings is not None else {}
    t0 = time.perf_counter()
    g = tf.Graph()
    with g.as_default():
        if w.kind == "autoencoder":
            feeds, train, loss = _tf1_autoencoder(tf, w, params)
        else:
            feeds, train, loss = _tf1_softmax_regression(tf, w, params)
        init = tf.global_variables_initializer()
    t1 = time.perf_counter()
    sess = tf.Session(graph=g, jit=jit)
    sess.run(init)
    tm.update(graph_s=t1 - t0, session_init_s=time.perf_counter() - t1)
    return graphengine_session_runner(sess, train, loss, feeds, mode, tm)


def _tf1_autoencoder(tf: Any, w: Workload, params: list[np.ndarray]) -> tuple:
    num_input, num_hidden_1, num_hidden_2 = w.layers[0], w.layers[1], w.layers[2]
    assert w.layers == (num_input, num_hidden_1, num_hidden_2, num_hidden_1, num_input)
    X = tf.placeholder("float", [None, num_input])
    names = ["encoder_h1", "encoder_h2", "decoder_h1", "decoder_h2"]
    weights = {k: tf.Variable(params[2 * i]) for i, k in enumerate(names)}
    biases = {k.replace("_h", "_b"): tf.Variable(params[2 * i + 1]) for i, k in enumerate(names)}

    def encoder(x):
        layer_1 = tf.nn.sigmoid(tf.add(tf.matmul(x, weights["encoder_h1"]), biases["encoder_b1"]))
        layer_2 = tf.nn.sigmoid(tf.add(tf.matmul(layer_1, weights["encoder_h2"]), biases["encoder_b2"]))
        return layer_2

    def decoder(x):
        layer_1 = tf.nn.sigmoid(tf.add(tf.matmul(x, weights["decoder_h1"]), biases["decoder_b1"]))
        layer_2 = tf.nn.sigmoid(tf.add(tf.matmul(layer_1, weights["decoder_h2"]), biases["decoder_b2"]))
        return layer_2

    encoder_op = encoder(X)
    decoder_op = decoder(encoder_op)
    y_pred = decoder_op
    y_true = X
    loss = tf.reduce_mean(tf.pow(y_true - y_pred, 2))
    optimizer = tf.train.RMSPropOptimizer(w.lr).minimize(loss)
    return [X], optimizer, loss


def _tf1_softmax_regression(tf: Any, w: Workload, params: list[np.ndarray]) -> tuple:
    x = tf.placeholder(tf.float32, [None, w.layers[0]])
    W = tf.Variable(params[0])
    b = tf.Variable(params[1])
    y = tf.matmul(x, W) + b
    y_ = tf.placeholder(tf.float32, [None, w.layers[1]])
    cross_entropy = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=y_, logits=y))
    train_step = tf.train.GradientDescentOptimizer(w.lr).minimize(cross_entropy)
    return [x, y_], train_step, cross_entropy


# PyTorch eager -----------------------------------------------------------------------------
def torch_tf1_runner(w: Workload, params: list[np.ndarray]) -> Runner:
    import torch
    import torch.nn.functional as F

    ps = [torch.tensor(p, requires_grad=True) for p in params]
    n = len(ps) // 2
    if w.kind == "softmax":
        opt = torch.optim.SGD(ps, lr=w.lr)

        def step(x, y):
            loss = F.cross_entropy(torch.addmm(ps[1], x, ps[0]), y)   # y: class probabilities
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return loss.item()

        return Runner(step, lambda x, y: (torch.from_numpy(x), torch.from_numpy(y)))

    rho, mu, eps, lr = RMSPROP["rho"], RMSPROP["momentum"], RMSPROP["eps"], w.lr
    ms = [torch.full_like(p, RMSPROP["ms_init"]) for p in ps]
    mom = [torch.zeros_like(p) for p in ps]

    def step(x):
        h = x
        for i in range(n):
            h = torch.sigmoid(torch.addmm(ps[2 * i + 1], h, ps[2 * i]))
        loss = torch.mean(torch.pow(x - h, 2))
        for p in ps:
            p.grad = None
        loss.backward()
        with torch.no_grad():   # TF1's RMSProp, in place
            for p, m, v in zip(ps, ms, mom, strict=True):
                g = p.grad
                m.mul_(rho).addcmul_(g, g, value=1 - rho)
                v.mul_(mu).addcdiv_(g, torch.sqrt(m + eps), value=lr)
                p.sub_(v)
        return loss.item()

    return Runner(step, lambda x: (torch.from_numpy(x),))


# JAX jit -----------------------------------------------------------------------------------
def jax_tf1_runner(w: Workload, params: list[np.ndarray]) -> Runner:
    import jax
    import jax.numpy as jnp

    ps = [jnp.asarray(p) for p in params]
    n = len(ps) // 2
    lr = w.lr
    if w.kind == "softmax":
        def loss_fn(ps, x, y):
            return jnp.mean(-jnp.sum(y * jax.nn.log_softmax(x @ ps[0] + ps[1]), axis=1))

        grad = jax.value_and_grad(loss_fn)

        def step_fn(state, x, y):
            loss, gs = grad(state, x, y)
            return [p - lr * g for p, g in zip(state, gs, strict=True)], loss

        return jax_step_runner(step_fn, ps, lambda x, y: (jnp.asarray(x), jnp.asarray(y)))

    rho, mu, eps = RMSPROP["rho"], RMSPROP["momentum"], RMSPROP["eps"]

    def loss_fn(ps, x):
        h = x
        for i in range(n):
            h = jax.nn.sigmoid(h @ ps[2 * i] + ps[2 * i + 1])
        return jnp.mean(jnp.power(x - h, 2))

    grad = jax.value_and_grad(loss_fn)

    def step_fn(state, x):
        ps, ms, mom = state
        loss, gs = grad(ps, x)
        ms = [rho * m + (1 - rho) * g * g for m, g in zip(ms, gs, strict=True)]
        mom = [mu * v + lr * g / jnp.sqrt(m + eps) for v, g, m in zip(mom, gs, ms, strict=True)]
        return ([p - v for p, v in zip(ps, mom, strict=True)], ms, mom), loss

    state = (ps, [jnp.full_like(p, RMSPROP["ms_init"]) for p in ps], [jnp.zeros_like(p) for p in ps])
    return jax_step_runner(step_fn, state, lambda x: (jnp.asarray(x),))


# hand-written NumPy (also the correctness reference) ---------------------------------------
def _sigmoid(z: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        np.negative(z, out=z)
        np.exp(z, out=z)
        z += 1
        np.reciprocal(z, out=z)
    return z


def numpy_tf1_runner(w: Workload, params: list[np.ndarray]) -> Runner:
    ps = [p.copy() for p in params]
    n = len(ps) // 2
    lr = w.lr
    if w.kind == "softmax":
        def step(x, y):
            z = x @ ps[0]
            z += ps[1]
            z -= z.max(axis=1, keepdims=True)
            e = np.exp(z)
            s = e.sum(axis=1, keepdims=True)
            loss = float(np.mean(-np.sum(y * (z - np.log(s)), axis=1)))
            d = e / s
            d -= y
            d /= x.shape[0]
            ps[0] -= lr * (x.T @ d)
            ps[1] -= lr * d.sum(axis=0)
            return loss

        return Runner(step)

    rho, mu, eps = RMSPROP["rho"], RMSPROP["momentum"], RMSPROP["eps"]
    ms = [np.full_like(p, RMSPROP["ms_init"]) for p in ps]
    mom = [np.zeros_like(p) for p in ps]

    def step(x):
        hs = [x]
        for i in range(n):
            z = hs[-1] @ ps[2 * i]
            z += ps[2 * i + 1]
            hs.append(_sigmoid(z))
        r = x - hs[-1]
        loss = float(np.mean(r * r))
        d = (-2.0 / r.size) * r * hs[-1] * (1 - hs[-1])   # through the last sigmoid
        grads = [None] * len(ps)
        for i in reversed(range(n)):
            grads[2 * i] = hs[i].T @ d
            grads[2 * i + 1] = d.sum(axis=0)
            if i > 0:
                d = (d @ ps[2 * i].T) * hs[i] * (1 - hs[i])
        for p, g, m, v in zip(ps, grads, ms, mom, strict=True):
            m *= rho
            m += (1 - rho) * g * g
            v *= mu
            v += lr * g / np.sqrt(m + eps)
            p -= v
        return loss

    return Runner(step)
