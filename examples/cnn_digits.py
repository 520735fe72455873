"""Train a LeNet-style CNN with batch normalization on scikit-learn's bundled 8x8 digits, logged
for TensorBoard, and print the test accuracy.

    python examples/cnn_digits.py [--epochs 15] [--logdir DIR] [--no-log] [--device cpu|reference|gpu]
                                  [--jit step|op]
    tensorboard --logdir DIR        # loss, accuracy, a filter histogram, some inputs, the graph

8x8x1 -> conv 3x3x16 SAME -> batch norm -> ReLU -> maxpool 2 -> conv 3x3x32 SAME -> batch norm ->
ReLU -> maxpool 2 -> fc 64 + ReLU -> fc 10, Adam, mini-batches of 32 (a tqdm bar). Batch norm
normalizes with the batch's statistics while training (``is_training`` fed True) and with its
moving averages when evaluating (the placeholder's default, False); the moving averages are
updated by the ops in the ``UPDATE_OPS`` collection, which the train op runs first through
``control_dependencies``: TF1's idiom. Every 10th step's merged summaries go to an event file
(the tensorboard package writes it: ``pip install -e ".[tensorboard]"``; without it the example
trains without a log and says so).
"""
from __future__ import annotations

import argparse
import importlib.util
import tempfile
import time

from tqdm.auto import tqdm

import graphengine as ge
from graphengine.datasets import batches, load_digits


def build(lr: float = 2e-3, seed: int = 0):
    x = ge.placeholder(ge.float32, (None, 8, 8, 1), name="x")
    y = ge.placeholder(ge.int64, (None,), name="y")
    is_training = ge.placeholder_with_default(False, (), name="is_training")
    init = lambda i: ge.initializers.glorot_uniform(seed=seed + i)  # noqa: E731
    h = x
    for i, filters in enumerate((16, 32)):   # 8x8 -> 4x4x16 -> 2x2x32
        # no conv bias: batch norm's beta is the bias
        h = ge.layers.conv2d(h, filters, 3, padding="same", use_bias=False, kernel_initializer=init(i + 1))
        # momentum 0.9, not TF1's 0.99: 45 steps an epoch are few for a 0.99 moving average
        h = ge.nn.relu(ge.layers.batch_normalization(h, momentum=0.9, training=is_training))
        h = ge.layers.max_pooling2d(h, 2, 2)
    h = ge.layers.dense(ge.layers.flatten(h), 64, activation=ge.nn.relu, kernel_initializer=init(3), name="fc1")
    logits = ge.layers.dense(h, 10, kernel_initializer=init(4), name="logits")
    loss = ge.reduce_mean(ge.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
    with ge.control_dependencies(ge.get_default_graph().get_collection(ge.layers.UPDATE_OPS)):
        train_op = ge.train.AdamOptimizer(learning_rate=lr).minimize(loss)
    acc = ge.reduce_mean(ge.cast(ge.equal(ge.argmax(logits, 1), y), ge.float32))
    ge.summary.scalar("loss", loss)
    ge.summary.scalar("accuracy", acc)
    kernel = [v for v in ge.trainable_variables() if v.name == "conv2d/kernel:0"][0]
    ge.summary.histogram("conv1_kernel", kernel)
    ge.summary.image("inputs", x, max_outputs=3)
    return x, y, is_training, loss, train_op, acc, ge.summary.merge_all()


def main(epochs: int = 15, batch_size: int = 32, device: str = "cpu", jit: str | None = None,
         seed: int = 0, progress: bool = True, logdir: str | None = None, log: bool = True) -> float:
    (xtr, ytr), (xte, yte) = load_digits(seed=seed)
    xtr, xte = xtr.reshape(-1, 8, 8, 1), xte.reshape(-1, 8, 8, 1)
    ge.reset_default_graph()
    ge.set_random_seed(seed)
    x, y, is_training, loss, train_op, acc, merged = build(seed=seed)
    if log and importlib.util.find_spec("tensorboard") is None:
        print('no TensorBoard log: the tensorboard package is not installed (pip install -e ".[tensorboard]")')
        log = False
    steps_per_epoch = -(-len(xtr) // batch_size)
    with ge.Session(device=device, jit=jit) as sess:
        sess.run(ge.global_variables_initializer())
        writer = None
        if log:
            logdir = logdir or tempfile.mkdtemp(prefix="ge-cnn-")
            writer = ge.summary.FileWriter(logdir, sess.graph)
        t0, step = time.perf_counter(), 0
        bar = tqdm(total=epochs * steps_per_epoch, desc="cnn digits", disable=not progress, dynamic_ncols=True)
        try:
            for epoch in range(epochs):
                for bx, by in batches(xtr, ytr, batch_size, seed=seed + epoch):
                    feed = {x: bx, y: by, is_training: True}
                    if writer is not None:   # one plan for every step (a second would compile)
                        summary, _, lv = sess.run([merged, train_op, loss], feed)
                        if step % 10 == 0:
                            writer.add_summary(summary, step)
                    else:
                        _, lv = sess.run([train_op, loss], feed)
                    step += 1
                    bar.update()
                    bar.set_postfix(loss=f"{lv:.4f}", refresh=False)
        finally:
            bar.close()
            if writer is not None:
                writer.close()
        dt = time.perf_counter() - t0
        out = sess.run({"loss": loss, "acc": acc}, feed_dict={x: xte, y: yte})   # moving statistics
    print(f"test accuracy {out['acc']:.4f}  test loss {out['loss']:.4f}  "
          f"({step} steps in {dt:.2f}s, {step / dt:.0f} steps/s incl. feeding, logging and compiling)")
    if writer is not None:
        print(f"TensorBoard log: {logdir}   (tensorboard --logdir {logdir})")
    return float(out["acc"])


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--jit", default=None, choices=[None, "step", "op"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--logdir", default=None, help="where the event file goes (default: a new temporary directory)")
    ap.add_argument("--no-log", action="store_true", help="train without a TensorBoard log")
    a = ap.parse_args()
    main(a.epochs, a.batch_size, a.device, a.jit, a.seed, logdir=a.logdir, log=not a.no_log)
