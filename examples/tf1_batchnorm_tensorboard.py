"""A dense network with batch normalization on the 8x8 digits, logged for TensorBoard, TF1 style.

tf.layers.batch_normalization(training=is_training) normalizes with batch statistics while
training and with its moving averages when evaluating; the moving averages are updated by the
ops in tf.GraphKeys.UPDATE_OPS, which the train op runs through tf.control_dependencies. Loss,
accuracy and a weight histogram go to an event file every few steps; the graph too.

Run: python examples/tf1_batchnorm_tensorboard.py [logdir]   then   tensorboard --logdir <logdir>
(needs the tensorboard package: pip install -e ".[tensorboard]")
"""
# ruff: noqa: UP031  (written as the classic TF1 tutorials were)
import sys
import tempfile

import graphengine.compat.v1 as tf
from graphengine.datasets import batches, load_digits


def main(logdir=None, training_epochs=10, batch_size=64, learning_rate=0.01, config=None):
    tf.reset_default_graph()
    tf.set_random_seed(1)
    logdir = logdir or tempfile.mkdtemp(prefix="ge-bn-")
    (x_train, y_train), (x_test, y_test) = load_digits(seed=0)

    X = tf.placeholder(tf.float32, [None, 64], name="X")
    Y = tf.placeholder(tf.int64, [None], name="Y")
    is_training = tf.placeholder_with_default(False, (), name="is_training")

    h = X
    for units in (128, 64):
        h = tf.layers.dense(h, units, use_bias=False)  # batch norm's beta is the bias
        h = tf.layers.batch_normalization(h, training=is_training)
        h = tf.nn.relu(h)
    logits = tf.layers.dense(h, 10)

    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=Y, logits=logits))
    accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, 1), Y), tf.float32))
    update_ops = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
    with tf.control_dependencies(update_ops):
        train_op = tf.train.AdamOptimizer(learning_rate).minimize(loss)

    tf.summary.scalar("loss", loss)
    tf.summary.scalar("accuracy", accuracy)
    tf.summary.histogram("dense/kernel", [v for v in tf.trainable_variables() if v.name == "dense/kernel:0"][0])
    merged = tf.summary.merge_all()

    with tf.Session(config=config) as sess:
        sess.run(tf.global_variables_initializer())
        writer = tf.summary.FileWriter(logdir, sess.graph)
        step = 0
        for epoch in range(training_epochs):
            for batch_x, batch_y in batches(x_train, y_train, batch_size, seed=epoch):
                if step % 10 == 0:
                    summary, _ = sess.run([merged, train_op], {X: batch_x, Y: batch_y, is_training: True})
                    writer.add_summary(summary, step)
                else:
                    sess.run(train_op, {X: batch_x, Y: batch_y, is_training: True})
                step += 1
            print("Epoch: %02d  test accuracy (moving statistics) %.3f"
                  % (epoch + 1, sess.run(accuracy, {X: x_test, Y: y_test})))
        acc = float(sess.run(accuracy, {X: x_test, Y: y_test}))  # is_training defaults to False
        writer.close()
    print("Testing Accuracy:", acc, " TensorBoard log:", logdir)
    return acc, logdir


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
