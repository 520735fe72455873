"""The benchmark workloads and one model builder per engine.

Every engine trains the same MLP: float32, ReLU hidden layers, sparse softmax cross-entropy
with a mean over the batch, Glorot-uniform weights and zero biases drawn once from one NumPy
seed, one fixed synthetic batch. A builder returns a ``Runner``: ``step()`` runs one training
step on that batch and returns the loss (as whatever the engine returns; ``float()`` works).

Optional engines (torch, jax) are imported inside their builders only.
"""
from __future__ import annotations

import dataclasses
import importlib.util
from collections.abc import Callable
from typing import Any

import numpy as np

LR = {"sgd": 0.01, "adam": 0.001}
ADAM = dict(beta1=0.9, beta2=0.999, eps=1e-8)


@dataclasses.dataclass(frozen=True)
class Workload:
    name: str
    layers: tuple[int, ...]   # (inputs, hidden..., classes)
    batch: int
    optimizer: str            # "sgd" | "adam"

    @property
    def lr(self) -> float:
        return LR[self.optimizer]

    def describe(self) -> str:
        return f"{'-'.join(map(str, self.layers))} B={self.batch} {self.optimizer}"


def _mlp(batch: int, opt: str) -> Workload:
    return Workload(f"mlp-b{batch}-{opt}", (784, 512, 512, 10), batch, opt)


WORKLOADS: dict[str, Workload] = {w.name: w for w in [
    Workload("tiny", (2, 16, 2), 4, "sgd"),
    _mlp(32, "sgd"), _mlp(32, "adam"),
    _mlp(128, "sgd"), _mlp(128, "adam"),
    _mlp(1024, "sgd"), _mlp(1024, "adam"),
    Workload("deep-b256-sgd", (784, 1024, 1024, 1024, 10), 256, "sgd"),
]}
QUICK = ["tiny", "mlp-b128-sgd", "mlp-b128-adam"]


def make_params(layers: tuple[int, ...], seed: int = 0) -> list[np.ndarray]:
    """[W1, b1, W2, b2, ...]: Glorot-uniform weights (fan_in, fan_out), zero biases."""
    rng = np.random.default_rng(seed)
    out = []
    for n_in, n_out in zip(layers[:-1], layers[1:], strict=True):
        lim = np.sqrt(6.0 / (n_in + n_out))
        out.append(rng.uniform(-lim, lim, (n_in, n_out)).astype(np.float32))
        out.append(np.zeros(n_out, np.float32))
    return out


def make_data(layers: tuple[int, ...], batch: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, layers[0])).astype(np.float32)
    y = rng.integers(0, layers[-1], batch).astype(np.int64)
    return x, y


@dataclasses.dataclass
class Runner:
    """``step(*prep(x, y))`` runs one training step on a batch and returns its loss."""
    step: Callable[..., Any]
    prep: Callable[[np.ndarray, np.ndarray], tuple] = lambda x, y: (x, y)  # NumPy -> engine arrays
    finish: Callable[[], Any] = lambda: None                # wait for async work (JAX)


def available(engine: str) -> bool:
    mod = ENGINE_MODULE.get(engine)
    return mod is None or importlib.util.find_spec(mod) is not None


# graphengine -------------------------------------------------------------------------------
def graphengine_runner(w: Workload, params: list[np.ndarray], mode: str = "callable",
                       jit: str = "step", timings: dict | None = None) -> Runner:
    """mode "callable": ``make_callable([train_op, loss], [x, y])``; "run": ``sess.run``.
    ``timings`` (optional) receives the seconds spent building, initializing and planning."""
    import time

    import graphengine as ge

    tm = timings if timings is not None else {}
    t0 = time.perf_counter()
    g = ge.Graph()
    with g.as_default():
        xp = ge.placeholder(ge.float32, (None, w.layers[0]), name="x")
        yp = ge.placeholder(ge.int64, (None,), name="y")
        h = xp
        vs = [ge.Variable(p, name=f"p{i}") for i, p in enumerate(params)]
        n = len(vs) // 2
        for i in range(n):
            h = ge.matmul(h, vs[2 * i]) + vs[2 * i + 1]
            if i < n - 1:
                h = ge.nn.relu(h)
        loss = ge.reduce_mean(ge.nn.sparse_softmax_cross_entropy_with_logits(labels=yp, logits=h))
        if w.optimizer == "sgd":
            opt = ge.train.GradientDescentOptimizer(w.lr)
        else:
            opt = ge.train.AdamOptimizer(w.lr, ADAM["beta1"], ADAM["beta2"], ADAM["eps"])
        train = opt.minimize(loss)
        init = ge.global_variables_initializer()
    t1 = time.perf_counter()
    sess = ge.Session(graph=g, jit=jit)
    sess.run(init)
    t2 = time.perf_counter()
    tm.update(graph_s=t1 - t0, session_init_s=t2 - t1)
    if mode == "callable":
        f = sess.make_callable([train, loss], [xp, yp])
        tm["make_callable_s"] = time.perf_counter() - t2
        return Runner(lambda x, y: f(x, y)[1])
    fetches = [train, loss]
    return Runner(lambda x, y: sess.run(fetches, {xp: x, yp: y})[1])


# PyTorch eager -----------------------------------------------------------------------------
def torch_runner(w: Workload, params: list[np.ndarray]) -> Runner:
    import torch
    import torch.nn.functional as F

    ps = [torch.tensor(p, requires_grad=True) for p in params]
    if w.optimizer == "sgd":
        opt = torch.optim.SGD(ps, lr=w.lr)
    else:
        opt = torch.optim.Adam(ps, lr=w.lr, betas=(ADAM["beta1"], ADAM["beta2"]), eps=ADAM["eps"])
    n = len(ps) // 2

    def step(x, y):
        h = x
        for i in range(n):
            h = torch.addmm(ps[2 * i + 1], h, ps[2 * i])
            if i < n - 1:
                h = torch.relu(h)
        loss = F.cross_entropy(h, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    return Runner(step, lambda x, y: (torch.from_numpy(x), torch.from_numpy(y)))


# JAX jit -----------------------------------------------------------------------------------
def jax_runner(w: Workload, params: list[np.ndarray]) -> Runner:
    """One jitted function per step (params donated). The loss comes back as a device array;
    the timer blocks on the last one (``finish``), as JAX benchmarks do."""
    import jax
    import jax.numpy as jnp

    n = len(params) // 2
    lr = w.lr

    def loss_fn(ps, x, y):
        h = x
        for i in range(n):
            h = h @ ps[2 * i] + ps[2 * i + 1]
            if i < n - 1:
                h = jax.nn.relu(h)
        logp = jax.nn.log_softmax(h)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    grad = jax.value_and_grad(loss_fn)
    ps = [jnp.asarray(p) for p in params]
    if w.optimizer == "sgd":
        def step_fn(state, x, y):
            loss, gs = grad(state, x, y)
            return [p - lr * g for p, g in zip(state, gs, strict=True)], loss
        state: Any = ps
    else:
        b1, b2, eps = ADAM["beta1"], ADAM["beta2"], ADAM["eps"]

        def step_fn(state, x, y):   # TF1's Adam (eps outside the bias correction)
            ps, ms, vs, t = state
            loss, gs = grad(ps, x, y)
            t = t + 1
            lr_t = lr * jnp.sqrt(1 - b2 ** t) / (1 - b1 ** t)
            ms = [b1 * m + (1 - b1) * g for m, g in zip(ms, gs, strict=True)]
            vs = [b2 * v + (1 - b2) * g * g for v, g in zip(vs, gs, strict=True)]
            ps = [p - lr_t * m / (jnp.sqrt(v) + eps) for p, m, v in zip(ps, ms, vs, strict=True)]
            return (ps, ms, vs, t), loss
        state = (ps, [jnp.zeros_like(p) for p in ps], [jnp.zeros_like(p) for p in ps], jnp.float32(0))
    jitted = jax.jit(step_fn, donate_argnums=0)
    box = [state, None]

    def step(x, y):
        box[0], box[1] = jitted(box[0], x, y)
        return box[1]

    def finish():
        if box[1] is not None:
            box[1].block_until_ready()

    return Runner(step, lambda x, y: (jnp.asarray(x), jnp.asarray(y.astype(np.int32))), finish)


# hand-written NumPy (also the correctness reference) ---------------------------------------
def numpy_runner(w: Workload, params: list[np.ndarray]) -> Runner:
    ps = [p.copy() for p in params]
    n = len(ps) // 2
    lr = w.lr
    adam = w.optimizer == "adam"
    b1, b2, eps = ADAM["beta1"], ADAM["beta2"], ADAM["eps"]
    ms = [np.zeros_like(p) for p in ps]
    vs = [np.zeros_like(p) for p in ps]
    t = [0]

    def step(x, y):
        rows = np.arange(x.shape[0])
        hs = [x]
        h = x
        for i in range(n):
            h = h @ ps[2 * i]
            h += ps[2 * i + 1]
            if i < n - 1:
                np.maximum(h, 0, out=h)
            hs.append(h)
        z = h - h.max(axis=1, keepdims=True)
        e = np.exp(z)
        s = e.sum(axis=1, keepdims=True)
        loss = float(np.mean(np.log(s[:, 0]) - z[rows, y]))
        d = e / s
        d[rows, y] -= 1
        d /= x.shape[0]
        grads = [None] * len(ps)
        for i in reversed(range(n)):
            grads[2 * i] = hs[i].T @ d
            grads[2 * i + 1] = d.sum(axis=0)
            if i > 0:
                d = d @ ps[2 * i].T
                d *= hs[i] > 0
        if adam:
            t[0] += 1
            lr_t = np.float32(lr * np.sqrt(1 - b2 ** t[0]) / (1 - b1 ** t[0]))
            for p, g, m, v in zip(ps, grads, ms, vs, strict=True):
                m *= b1
                m += (1 - b1) * g
                v *= b2
                v += (1 - b2) * g * g
                p -= lr_t * m / (np.sqrt(v) + eps)
        else:
            for p, g in zip(ps, grads, strict=True):
                p -= lr * g
        return loss

    return Runner(step)


ENGINES = ["graphengine", "graphengine-run", "graphengine-op", "torch", "jax", "numpy"]
ENGINE_MODULE = {"torch": "torch", "jax": "jax"}
LABEL = {"graphengine": "graphengine make_callable", "graphengine-run": "graphengine sess.run",
         "graphengine-op": "graphengine jit=op", "torch": "PyTorch eager", "jax": "JAX jit",
         "numpy": "NumPy"}
BUILDERS: dict[str, Callable[..., Runner]] = {
    "graphengine": graphengine_runner,
    "graphengine-run": lambda w, p: graphengine_runner(w, p, mode="run"),
    "graphengine-op": lambda w, p: graphengine_runner(w, p, jit="op"),
    "torch": torch_runner,
    "jax": jax_runner,
    "numpy": numpy_runner,
}
