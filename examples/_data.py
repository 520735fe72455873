"""Small helpers shared by the examples: bundled scikit-learn data, standardized, split."""
from __future__ import annotations

import numpy as np


def split(x: np.ndarray, y: np.ndarray, test_fraction: float = 0.2, seed: int = 0):
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(x))
    n_test = int(len(x) * test_fraction)
    te, tr = idx[:n_test], idx[n_test:]
    mu, sd = x[tr].mean(0), x[tr].std(0) + 1e-6
    return ((x[tr] - mu) / sd).astype(np.float32), y[tr], ((x[te] - mu) / sd).astype(np.float32), y[te]


def digits(seed: int = 0):
    from sklearn.datasets import load_digits
    d = load_digits()
    return split(d.data, d.target.astype(np.int64), seed=seed)


def minibatches(n: int, batch_size: int, rng: np.random.Generator):
    idx = rng.permutation(n)
    for i in range(0, n, batch_size):
        yield idx[i:i + batch_size]


def train_and_score(sess, train, acc, x, y, data, epochs: int, batch_size: int = 64, seed: int = 0) -> float:
    """Mini-batch training for ``epochs``, then accuracy on the test split."""
    xtr, ytr, xte, yte = data
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        for idx in minibatches(len(xtr), batch_size, rng):
            sess.run(train, {x: xtr[idx], y: ytr[idx]})
    return float(sess.run(acc, {x: xte, y: yte}))
