"""Binary logistic regression (sigmoid cross-entropy) on scikit-learn's bundled breast-cancer data.

    python examples/logistic_regression.py
"""
from __future__ import annotations

import numpy as np

import graphengine as ge


def main(steps: int = 300, seed: int = 0) -> float:
    from sklearn.datasets import load_breast_cancer
    d = load_breast_cancer()
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(d.data))
    tr, te = idx[:450], idx[450:]
    mu, sd = d.data[tr].mean(0), d.data[tr].std(0)
    X = ((d.data - mu) / sd).astype(np.float32)
    Y = d.target.astype(np.float32)[:, None]

    ge.reset_default_graph()
    x = ge.placeholder(ge.float32, (None, X.shape[1]), name="x")
    y = ge.placeholder(ge.float32, (None, 1), name="y")
    W = ge.get_variable("W", (X.shape[1], 1), initializer=ge.initializers.zeros())
    b = ge.Variable(ge.zeros((1,)), name="b")
    logits = x @ W + b
    loss = ge.reduce_mean(ge.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=logits))
    train = ge.train.GradientDescentOptimizer(0.5).minimize(loss)
    acc = ge.reduce_mean(ge.cast(ge.equal(ge.cast(logits > 0, ge.float32), y), ge.float32))
    with ge.Session() as sess:
        sess.run(ge.global_variables_initializer())
        for _ in range(steps):
            sess.run(train, {x: X[tr], y: Y[tr]})
        test_acc = float(sess.run(acc, {x: X[te], y: Y[te]}))
    print(f"test accuracy {test_acc:.4f}")
    return test_acc


if __name__ == "__main__":
    main()
