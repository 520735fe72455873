"""Train a 64-128-64-10 MLP on scikit-learn's bundled digits and print the test accuracy.

    python examples/mlp_digits.py [--epochs 40] [--device cpu|reference|gpu] [--jit step|op]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
from tqdm import tqdm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _data import digits, minibatches  # noqa: E402

import graphengine as ge  # noqa: E402


def build(n_in: int = 64, hidden: tuple = (128, 64), n_out: int = 10, lr: float = 1e-3, seed: int = 0):
    x = ge.placeholder(ge.float32, shape=(None, n_in), name="x")
    y = ge.placeholder(ge.int64, shape=(None,), name="y")
    h, width = x, n_in
    for i, units in enumerate(hidden):
        with ge.name_scope(f"layer{i + 1}"):
            W = ge.get_variable(f"W{i + 1}", (width, units),
                                initializer=ge.initializers.he_normal(seed=seed + i))
            b = ge.Variable(ge.zeros((units,)), name=f"b{i + 1}")
            h = ge.nn.relu(ge.matmul(h, W) + b)
        width = units
    with ge.name_scope("output"):
        W = ge.get_variable("W_out", (width, n_out), initializer=ge.initializers.glorot_uniform(seed=seed + 9))
        b = ge.Variable(ge.zeros((n_out,)), name="b_out")
        logits = h @ W + b
    loss = ge.reduce_mean(ge.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
    train_op = ge.train.AdamOptimizer(learning_rate=lr).minimize(loss)
    acc = ge.reduce_mean(ge.cast(ge.equal(ge.argmax(logits, 1), y), ge.float32))
    return x, y, loss, train_op, acc


def main(epochs: int = 40, batch_size: int = 32, device: str = "cpu", jit: str | None = None,
         seed: int = 0, progress: bool = True) -> float:
    xtr, ytr, xte, yte = digits(seed)
    ge.reset_default_graph()
    ge.set_random_seed(seed)
    x, y, loss, train_op, acc = build(seed=seed)
    rng = np.random.default_rng(seed)
    steps = 0
    with ge.Session(device=device, jit=jit) as sess:
        sess.run(ge.global_variables_initializer())
        t0 = time.perf_counter()
        bar = tqdm(range(epochs), desc="training", unit="epoch", disable=not progress)
        for _ in bar:
            losses = []
            for idx in minibatches(len(xtr), batch_size, rng):
                _, l = sess.run([train_op, loss], feed_dict={x: xtr[idx], y: ytr[idx]})
                losses.append(float(l))
                steps += 1
            bar.set_postfix(loss=f"{np.mean(losses):.4f}")
        dt = time.perf_counter() - t0
        out = sess.run({"loss": loss, "acc": acc}, feed_dict={x: xte, y: yte})
    print(f"test accuracy {out['acc']:.4f}  test loss {out['loss']:.4f}  "
          f"({steps} steps in {dt:.2f}s, {steps / dt:.0f} steps/s incl. feeding)")
    return float(out["acc"])


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--jit", default=None, choices=[None, "step", "op"])
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    main(a.epochs, a.batch_size, a.device, a.jit, a.seed)
