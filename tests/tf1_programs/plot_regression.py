"""Linear regression in TF1 style, then a matplotlib plot (headless), unmodified."""
import sys

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

rng = np.random.RandomState(0)
train_X = rng.uniform(0, 10, 50).astype(np.float32)
train_Y = (0.5 * train_X + 2 + rng.normal(0, 0.3, 50)).astype(np.float32)

with tf.device("/cpu:0"):
    X = tf.placeholder("float")
    Y = tf.placeholder("float")
    W = tf.Variable(rng.randn(), name="weight")
    b = tf.Variable(rng.randn(), name="bias")
    pred = tf.add(tf.multiply(X, W), b)
    cost = tf.reduce_sum(tf.pow(pred - Y, 2)) / (2 * 50)
    optimizer = tf.train.GradientDescentOptimizer(0.02).minimize(cost)
assert pred.device == "/cpu:0", pred.device

with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    for _ in range(300):
        sess.run(optimizer, feed_dict={X: train_X, Y: train_Y})
    c, w_, b_ = sess.run([cost, W, b], feed_dict={X: train_X, Y: train_Y})
    print(f"cost={c:.4f} W={w_:.3f} b={b_:.3f}")
    assert tf.is_tensor(pred) and not tf.is_tensor(train_X)
    plt.plot(train_X, train_Y, "ro", label="Original data")
    plt.plot(train_X, sess.run(W) * train_X + sess.run(b), label="Fitted line")
    plt.legend()
    plt.savefig(sys.argv[1])
print("backend", matplotlib.get_backend())
