"""Linear regression by gradient descent on synthetic data; prints the recovered weights.

    python examples/linear_regression.py
"""
from __future__ import annotations

import numpy as np

import graphengine as ge


def main(steps: int = 300, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    true_w, true_b = np.array([[2.0], [-3.0], [0.5]], np.float32), 1.5
    xs = rng.normal(size=(256, 3)).astype(np.float32)
    ys = (xs @ true_w + true_b + 0.05 * rng.normal(size=(256, 1))).astype(np.float32)

    ge.reset_default_graph()
    x = ge.placeholder(ge.float32, (None, 3), name="x")
    y = ge.placeholder(ge.float32, (None, 1), name="y")
    W = ge.Variable(ge.zeros((3, 1)), name="W")
    b = ge.Variable(0.0, name="b")
    pred = x @ W + b
    loss = ge.losses.mean_squared_error(y, pred)
    train = ge.train.GradientDescentOptimizer(0.1).minimize(loss)
    with ge.Session() as sess:
        sess.run(ge.global_variables_initializer())
        first = sess.run(loss, {x: xs, y: ys})
        for _ in range(steps):
            _, last = sess.run([train, loss], {x: xs, y: ys})
        w_hat, b_hat = sess.run([W, b])
    print(f"loss {float(first):.4f} -> {float(last):.5f}; W={w_hat.ravel().round(3)} b={float(b_hat):.3f} "
          f"(true W={true_w.ravel()} b={true_b})")
    return {"first": float(first), "last": float(last), "W": w_hat, "b": float(b_hat)}


if __name__ == "__main__":
    main()
