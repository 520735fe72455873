"""Save and restore a model with tf.train.Saver, TF1 style (the model uses tf.layers.dense).

Run: python examples/tf1_save_restore.py
"""
# ruff: noqa: UP031, UP032, B905  (written as the classic TF1 tutorials were)
import os
import tempfile

import graphengine.compat.v1 as tf
from graphengine.datasets import batches, load_iris


def build_model():
    x = tf.placeholder(tf.float32, [None, 4], name="x")
    y = tf.placeholder(tf.int64, [None], name="y")
    hidden = tf.layers.dense(x, 16, activation=tf.nn.relu, name="hidden")
    logits = tf.layers.dense(hidden, 3, name="logits")
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
    accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, 1), y), tf.float32))
    return x, y, logits, loss, accuracy


def main(training_epochs=20, model_dir=None, config=None):
    model_dir = model_dir or tempfile.mkdtemp(prefix="ge_tf1_saver_")
    model_path = os.path.join(model_dir, "model.ckpt")
    (x_train, y_train), (x_test, y_test) = load_iris(seed=0)

    # 1. train and save
    tf.reset_default_graph()
    tf.set_random_seed(3)
    x, y, logits, loss, accuracy = build_model()
    global_step = tf.train.get_or_create_global_step()
    train_op = tf.train.AdamOptimizer(0.05).minimize(loss, global_step=global_step)
    saver = tf.train.Saver(max_to_keep=2)
    history = []
    with tf.Session(config=config) as sess:
        sess.run(tf.global_variables_initializer())
        for epoch in range(training_epochs):
            for bx, by in batches(x_train, y_train, 32, seed=epoch):
                sess.run(train_op, feed_dict={x: bx, y: by})
            history.append(float(sess.run(loss, feed_dict={x: x_train, y: y_train})))
            if (epoch + 1) % 5 == 0:
                save_path = saver.save(sess, model_path, global_step=global_step)
        trained_logits = sess.run(logits, feed_dict={x: x_test})
        acc_before = sess.run(accuracy, feed_dict={x: x_test, y: y_test})
        print("Model saved in file: %s" % save_path, "test accuracy", acc_before)

    # 2. a fresh graph and session: restore instead of initializing
    tf.reset_default_graph()
    x, y, logits, loss, accuracy = build_model()
    saver = tf.train.Saver()
    with tf.Session(config=config) as sess:
        latest = tf.train.latest_checkpoint(model_dir)
        saver.restore(sess, latest)
        print("Model restored from file: %s" % latest)
        restored_logits = sess.run(logits, feed_dict={x: x_test})
        acc_after = sess.run(accuracy, feed_dict={x: x_test, y: y_test})
        print("Test accuracy after restore:", acc_after)
    return history, trained_logits, restored_logits, latest


if __name__ == "__main__":
    main()
