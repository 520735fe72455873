"""The benchmark workloads and one model builder per engine.

Three model kinds, every engine on the same float32 weights (Glorot-uniform, zero biases, drawn
once from one NumPy seed) and one fixed synthetic batch:

* ``mlp``: ReLU hidden layers, sparse softmax cross-entropy (mean), SGD or TF1's Adam;
* ``autoencoder``: the classic TF1 tutorial autoencoder, sigmoid on every layer,
  ``tf.reduce_mean(tf.pow(x - y_pred, 2))``, TF1's RMSProp (mean-square slot starting at ones);
* ``softmax``: TF1's MNIST softmax regression, one dense layer, softmax cross-entropy on one-hot
  labels, gradient descent.

A builder returns a ``Runner``: ``step(*prep(*data))`` runs one training step on that batch and
returns the loss (whatever the engine returns; ``float()`` works). MLP builders live here, the
two TF1-tutorial models in ``bench/models_tf1.py``. torch and jax are imported inside builders.
"""
from __future__ import annotations

import dataclasses
import importlib.util
from collections.abc import Callable
from typing import Any

import numpy as np

LR = {"sgd": 0.01, "adam": 0.001, "rmsprop": 0.01, "gd0.5": 0.5}
ADAM = dict(beta1=0.9, beta2=0.999, eps=1e-8)
RMSPROP = dict(rho=0.9, momentum=0.0, eps=1e-10, ms_init=1.0)   # TF1's (graphengine's) choice


@dataclasses.dataclass(frozen=True)
class Workload:
    name: str
    layers: tuple[int, ...]   # (inputs, hidden..., outputs): the dense layers, also the GEMM list
    batch: int
    optimizer: str            # "sgd" | "adam" | "rmsprop" | "gd0.5"
    kind: str = "mlp"         # "mlp" | "autoencoder" | "softmax"

    @property
    def lr(self) -> float:
        return LR[self.optimizer]

    def describe(self) -> str:
        what = {"mlp": "", "autoencoder": " sigmoid, pow loss,", "softmax": " softmax xent,"}[self.kind]
        opt = {"gd0.5": "GD lr 0.5", "rmsprop": "RMSProp"}.get(self.optimizer, self.optimizer)
        return f"{'-'.join(map(str, self.layers))}{what} B={self.batch} {opt}"


def _mlp(batch: int, opt: str) -> Workload:
    return Workload(f"mlp-b{batch}-{opt}", (784, 512, 512, 10), batch, opt)


WORKLOADS: dict[str, Workload] = {w.name: w for w in [
    Workload("tiny", (2, 16, 2), 4, "sgd"),
    _mlp(32, "sgd"), _mlp(32, "adam"),
    _mlp(128, "sgd"), _mlp(128, "adam"),
    _mlp(1024, "sgd"), _mlp(1024, "adam"),
    Workload("deep-b256-sgd", (784, 1024, 1024, 1024, 10), 256, "sgd"),
    Workload("autoencoder", (784, 256, 128, 256, 784), 256, "rmsprop", "autoencoder"),
    Workload("tf1-softmax-regression", (784, 10), 100, "gd0.5", "softmax"),
]}
QUICK = ["tiny", "mlp-b128-sgd", "autoencoder", "tf1-softmax-regression"]


def make_params(layers: tuple[int, ...], seed: int = 0) -> list[np.ndarray]:
    """[W1, b1, W2, b2, ...]: Glorot-uniform weights (fan_in, fan_out), zero biases."""
    rng = np.random.default_rng(seed)
    out = []
    for n_in, n_out in zip(layers[:-1], layers[1:], strict=True):
        lim = np.sqrt(6.0 / (n_in + n_out))
        out.append(rng.uniform(-lim, lim, (n_in, n_out)).astype(np.float32))
        out.append(np.zeros(n_out, np.float32))
    return out


def make_data(w: Workload, batch: int | None = None, seed: int = 1) -> tuple[np.ndarray, ...]:
    """The batch a step trains on: (x, int labels) for ``mlp``, (x,) for ``autoencoder``,
    (x, one-hot float32 labels) for ``softmax``; x of the last two is MNIST-like, in [0, 1]."""
    rng = np.random.default_rng(seed)
    b = w.batch if batch is None else batch
    if w.kind == "mlp":
        x = rng.standard_normal((b, w.layers[0])).astype(np.float32)
        return x, rng.integers(0, w.layers[-1], b).astype(np.int64)
    # MNIST-like pixels: in [0, 1], about 20% nonzero
    x = (rng.uniform(0.0, 1.0, (b, w.layers[0])) * (rng.uniform(size=(b, w.layers[0])) < 0.2))
    x = x.astype(np.float32)
    if w.kind == "autoencoder":
        return (x,)
    # learnable labels (a fixed random linear teacher), so the loss falls as on MNIST
    teacher = np.random.default_rng(seed + 1).standard_normal((w.layers[0], w.layers[-1]))
    return x, np.eye(w.layers[-1], dtype=np.float32)[np.argmax(x @ teacher, axis=1)]


@dataclasses.dataclass
class Runner:
    """``step(*prep(*data))`` runs one training step on a batch and returns its loss."""
    step: Callable[..., Any]
    prep: Callable[..., tuple] = lambda *d: d             # NumPy -> engine arrays
    finish: Callable[[], Any] = lambda: None             # wait for async work (JAX)
    run_n: Callable[[int], Any] | None = None            # n steps in one call (the GEMM floor)
    plan_info: Callable[..., dict] | None = None         # graphengine: Session.plan_info on the data


def available(engine: str) -> bool:
    mod = ENGINE_MODULE.get(engine)
    return mod is None or importlib.util.find_spec(mod) is not None


# graphengine -------------------------------------------------------------------------------
def graphengine_session_runner(sess: Any, train: Any, loss: Any, feeds: list, mode: str,
                               timings: dict) -> Runner:
    """``make_callable([train, loss], feeds)`` or plain ``sess.run([train, loss], feed_dict)``."""
    import time
    t0 = time.perf_counter()
    fetches = [train, loss]
    info = lambda *d: sess.plan_info(fetches, dict(zip(feeds, d, strict=True)))
    if mode == "callable":
        f = sess.make_callable(fetches, feeds)
        timings["make_callable_s"] = time.perf_counter() - t0
        return Runner(lambda *d: f(*d)[1], plan_info=info)
    if len(feeds) == 1:
        (p,) = feeds
        return Runner(lambda x: sess.run(fetches, feed_dict={p: x})[1], plan_info=info)
    p, q = feeds
    return Runner(lambda x, y: sess.run(fetches, feed_dict={p: x, q: y})[1], plan_info=info)


def graphengine_runner(w: Workload, params: list[np.ndarray], mode: str = "callable",
                       jit: str = "step", timings: dict | None = None) -> Runner:
    """mode "callable": ``make_callable([train_op, loss], feeds)``; "run": ``sess.run`` with a
    ``feed_dict``. ``timings`` (optional) receives the seconds spent building, initializing and
    planning."""
    if w.kind != "mlp":
        from .models_tf1 import graphengine_tf1_runner
        return graphengine_tf1_runner(w, params, mode, jit, timings)
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
    tm.update(graph_s=t1 - t0, session_init_s=time.perf_counter() - t1)
    return graphengine_session_runner(sess, train, loss, [xp, yp], mode, tm)


# PyTorch eager -----------------------------------------------------------------------------
def torch_runner(w: Workload, params: list[np.ndarray]) -> Runner:
    if w.kind != "mlp":
        from .models_tf1 import torch_tf1_runner
        return torch_tf1_runner(w, params)
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
def jax_step_runner(step_fn: Callable, state: Any, prep: Callable) -> Runner:
    """One jitted function per step (state donated). The loss comes back as a device array;
    the timer blocks on the last one (``finish``), as JAX benchmarks do."""
    import jax
    jitted = jax.jit(step_fn, donate_argnums=0)
    box = [state, None]

    def step(*d):
        box[0], box[1] = jitted(box[0], *d)
        return box[1]

    def finish():
        if box[1] is not None:
            box[1].block_until_ready()

    return Runner(step, prep, finish)


def jax_runner(w: Workload, params: list[np.ndarray]) -> Runner:
    if w.kind != "mlp":
        from .models_tf1 import jax_tf1_runner
        return jax_tf1_runner(w, params)
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
    return jax_step_runner(step_fn, state,
                           lambda x, y: (jnp.asarray(x), jnp.asarray(y.astype(np.int32))))


# hand-written NumPy (also the correctness reference) ---------------------------------------
def numpy_runner(w: Workload, params: list[np.ndarray]) -> Runner:
    if w.kind != "mlp":
        from .models_tf1 import numpy_tf1_runner
        return numpy_tf1_runner(w, params)
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


ENGINES = ["graphengine-run", "graphengine", "graphengine-op", "graphengine-run-openblas", "torch", "jax", "numpy"]
DEFAULT_ENGINES = ["graphengine-run", "graphengine", "torch", "jax", "numpy"]
ENGINE_MODULE = {"torch": "torch", "jax": "jax"}
LABEL = {"graphengine": "graphengine make_callable", "graphengine-run": "graphengine sess.run",
         "graphengine-op": "graphengine jit=op", "torch": "PyTorch eager", "jax": "JAX jit",
         "numpy": "NumPy", "floor": "GEMM floor", "floor-torch": "torch/MKL GEMM floor",
         "graphengine-run-openblas": "graphengine sess.run on OpenBLAS", "floor-openblas": "OpenBLAS GEMM floor"}
# engines whose name ends in -openblas run with GRAPHENGINE_BLAS=openblas (where graphengine's
# BLAS would be MKL: the same run then shows both)
OPENBLAS_ENV = {"GRAPHENGINE_BLAS": "openblas"}
BUILDERS: dict[str, Callable[..., Runner]] = {
    "graphengine": graphengine_runner,
    "graphengine-run": lambda w, p: graphengine_runner(w, p, mode="run"),
    "graphengine-run-openblas": lambda w, p: graphengine_runner(w, p, mode="run"),
    "graphengine-op": lambda w, p: graphengine_runner(w, p, jit="op"),
    "torch": torch_runner,
    "jax": jax_runner,
    "numpy": numpy_runner,
}
