"""Train a LeNet-style CNN on scikit-learn's bundled 8x8 digits and print the test accuracy.

    python examples/cnn_digits.py [--epochs 15] [--device cpu|reference|gpu] [--jit step|op]

8x8x1 -> conv 3x3x16 SAME + ReLU -> maxpool 2 -> conv 3x3x32 SAME + ReLU -> maxpool 2 ->
fc 64 + ReLU -> fc 10, Adam, mini-batches of 32 through ``graphengine.training.fit`` (a tqdm bar).
"""
from __future__ import annotations

import argparse
import time

import graphengine as ge
from graphengine.datasets import load_digits
from graphengine.training import batch_feeds, fit


def build(lr: float = 2e-3, seed: int = 0):
    x = ge.placeholder(ge.float32, (None, 8, 8, 1), name="x")
    y = ge.placeholder(ge.int64, (None,), name="y")
    init = lambda i: ge.initializers.glorot_uniform(seed=seed + i)  # noqa: E731
    h = ge.layers.conv2d(x, 16, 3, padding="same", activation=ge.nn.relu, kernel_initializer=init(1))
    h = ge.layers.max_pooling2d(h, 2, 2)                                      # 4x4x16
    h = ge.layers.conv2d(h, 32, 3, padding="same", activation=ge.nn.relu, kernel_initializer=init(2))
    h = ge.layers.max_pooling2d(h, 2, 2)                                      # 2x2x32
    h = ge.reshape(h, (-1, 2 * 2 * 32))
    with ge.variable_scope("fc1"):
        h = ge.nn.relu(h @ ge.get_variable("kernel", (128, 64), initializer=init(3))
                       + ge.get_variable("bias", (64,), initializer=ge.initializers.zeros()))
    with ge.variable_scope("logits"):
        logits = h @ ge.get_variable("kernel", (64, 10), initializer=init(4)) \
            + ge.get_variable("bias", (10,), initializer=ge.initializers.zeros())
    loss = ge.reduce_mean(ge.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
    train_op = ge.train.AdamOptimizer(learning_rate=lr).minimize(loss)
    acc = ge.reduce_mean(ge.cast(ge.equal(ge.argmax(logits, 1), y), ge.float32))
    return x, y, loss, train_op, acc


def main(epochs: int = 15, batch_size: int = 32, device: str = "cpu", jit: str | None = None,
         seed: int = 0, progress: bool = True) -> float:
    (xtr, ytr), (xte, yte) = load_digits(seed=seed)
    xtr, xte = xtr.reshape(-1, 8, 8, 1), xte.reshape(-1, 8, 8, 1)
    ge.reset_default_graph()
    ge.set_random_seed(seed)
    x, y, loss, train_op, acc = build(seed=seed)
    with ge.Session(device=device, jit=jit) as sess:
        sess.run(ge.global_variables_initializer())
        t0 = time.perf_counter()
        hist = fit(sess, train_op, loss, batch_feeds(x, y, xtr, ytr, batch_size, seed=seed), epochs,
                   progress=progress, desc="cnn digits")
        dt = time.perf_counter() - t0
        out = sess.run({"loss": loss, "acc": acc}, feed_dict={x: xte, y: yte})
    steps = len(hist.steps)
    print(f"test accuracy {out['acc']:.4f}  test loss {out['loss']:.4f}  "
          f"({steps} steps in {dt:.2f}s, {steps / dt:.0f} steps/s incl. feeding and compiling)")
    return float(out["acc"])


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--jit", default=None, choices=[None, "step", "op"])
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    main(a.epochs, a.batch_size, a.device, a.jit, a.seed)
