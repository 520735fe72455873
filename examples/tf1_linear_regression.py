"""Linear regression with gradient descent, TF1 style (one example per step, as the classic).

Run: python examples/tf1_linear_regression.py
"""
# ruff: noqa: UP031, UP032, B905  (written as the classic TF1 tutorials were)
import numpy as np

import graphengine.compat.v1 as tf


def main(training_epochs=100, display_step=20, learning_rate=0.01, config=None):
    tf.reset_default_graph()
    rng = np.random

    # Training data
    train_X = np.asarray([3.3, 4.4, 5.5, 6.71, 6.93, 4.168, 9.779, 6.182, 7.59, 2.167,
                          7.042, 10.791, 5.313, 7.997, 5.654, 9.27, 3.1])
    train_Y = np.asarray([1.7, 2.76, 2.09, 3.19, 1.694, 1.573, 3.366, 2.596, 2.53, 1.221,
                          2.827, 3.465, 1.65, 2.904, 2.42, 2.94, 1.3])
    n_samples = train_X.shape[0]

    # tf Graph Input
    X = tf.placeholder("float")
    Y = tf.placeholder("float")

    # Set model weights
    rng.seed(0)
    W = tf.Variable(rng.randn(), name="weight", dtype=tf.float32)
    b = tf.Variable(rng.randn(), name="bias", dtype=tf.float32)

    # Construct a linear model
    pred = tf.add(tf.multiply(X, W), b)

    # Mean squared error
    cost = tf.reduce_sum(tf.pow(pred - Y, 2)) / (2 * n_samples)
    optimizer = tf.train.GradientDescentOptimizer(learning_rate).minimize(cost)

    init = tf.global_variables_initializer()
    history = []
    with tf.Session(config=config) as sess:
        sess.run(init)
        history.append(float(sess.run(cost, feed_dict={X: train_X, Y: train_Y})))
        for epoch in range(training_epochs):
            for (x, y) in zip(train_X, train_Y):
                sess.run(optimizer, feed_dict={X: x, Y: y})
            c = sess.run(cost, feed_dict={X: train_X, Y: train_Y})
            history.append(float(c))
            if (epoch + 1) % display_step == 0:
                print("Epoch:", "%04d" % (epoch + 1), "cost=", "{:.9f}".format(c),
                      "W=", sess.run(W), "b=", sess.run(b))
        print("Optimization Finished!")
        print("Training cost=", history[-1], "W=", sess.run(W), "b=", sess.run(b))
    return history


if __name__ == "__main__":
    main()
