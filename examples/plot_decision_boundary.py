"""Train a small MLP on 2-D "two moons" data with graphengine.training.fit, then save a PNG loss
curve and a decision-boundary plot (needs matplotlib: pip install 'graphengine[viz]').

Run: python examples/plot_decision_boundary.py [output_dir]
"""
import os
import sys

import numpy as np
from sklearn.datasets import make_moons

import graphengine as ge
from graphengine.training import batch_feeds, fit
from graphengine.viz import plot_decision_boundary, plot_loss, to_dot


def main(epochs=60, out_dir=".", progress=True, config=None):
    ge.reset_default_graph()
    ge.set_random_seed(0)
    x_data, y_data = make_moons(n_samples=300, noise=0.2, random_state=0)
    x_data, y_data = x_data.astype(np.float32), y_data.astype(np.int64)

    x = ge.placeholder(ge.float32, (None, 2), name="x")
    y = ge.placeholder(ge.int64, (None,), name="y")
    with ge.variable_scope("hidden"):
        w1 = ge.get_variable("W", (2, 16), initializer=ge.initializers.he_normal())
        b1 = ge.get_variable("b", (16,), initializer=ge.initializers.zeros())
        h = ge.nn.relu(ge.matmul(x, w1) + b1)
    with ge.variable_scope("logits"):
        w2 = ge.get_variable("W", (16, 2))
        b2 = ge.get_variable("b", (2,), initializer=ge.initializers.zeros())
        logits = ge.matmul(h, w2) + b2
    loss = ge.losses.sparse_softmax_cross_entropy(labels=y, logits=logits)
    train_op = ge.train.AdamOptimizer(0.03).minimize(loss)

    os.makedirs(out_dir, exist_ok=True)
    with ge.Session(config=config) as sess:
        sess.run(ge.global_variables_initializer())
        history = fit(sess, train_op, loss, batch_feeds(x, y, x_data, y_data, batch_size=32, seed=0),
                      epochs=epochs, progress=progress)
        loss_png = plot_loss(history, os.path.join(out_dir, "moons_loss.png"), smooth=10)
        boundary_png = plot_decision_boundary(lambda pts: sess.run(logits, {x: pts}), x_data, y_data,
                                              os.path.join(out_dir, "moons_boundary.png"), resolution=100)
        accuracy = float(np.mean(sess.run(logits, {x: x_data}).argmax(1) == y_data))
    with open(os.path.join(out_dir, "moons_graph.dot"), "w") as f:
        f.write(to_dot(loss))
    print(f"final loss {history.epochs[-1]:.4f}, train accuracy {accuracy:.3f}")
    print("wrote", loss_png, boundary_png, os.path.join(out_dir, "moons_graph.dot"))
    return history, accuracy, loss_png, boundary_png


if __name__ == "__main__":
    main(out_dir=sys.argv[1] if len(sys.argv) > 1 else ".")
