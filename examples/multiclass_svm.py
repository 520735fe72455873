"""A linear multiclass SVM (Weston-Watkins hinge loss + L2) on scikit-learn's bundled digits.

    python examples/multiclass_svm.py
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _data import digits, train_and_score  # noqa: E402

import graphengine as ge  # noqa: E402


def main(epochs: int = 15, seed: int = 0) -> float:
    data = digits(seed)
    ge.reset_default_graph()
    x = ge.placeholder(ge.float32, (None, 64), name="x")
    y = ge.placeholder(ge.int64, (None,), name="y")
    W = ge.get_variable("W", (64, 10), initializer=ge.initializers.zeros(),
                        regularizer=ge.regularizers.l2(1e-3))
    b = ge.Variable(ge.zeros((10,)), name="b")
    scores = x @ W + b
    loss = ge.losses.multiclass_hinge_loss(y, scores) + ge.losses.get_regularization_loss()
    train = ge.train.AdamOptimizer(0.01).minimize(loss)
    acc = ge.reduce_mean(ge.cast(ge.equal(ge.argmax(scores, 1), y), ge.float32))
    with ge.Session() as sess:
        sess.run(ge.global_variables_initializer())
        test_acc = train_and_score(sess, train, acc, x, y, data, epochs, seed=seed)
    print(f"test accuracy {test_acc:.4f}")
    return test_acc


if __name__ == "__main__":
    main()
