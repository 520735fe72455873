"""Softmax (multinomial logistic) regression on the 8x8 digits, TF1 style, with tf.log.

Run: python examples/tf1_logistic_regression.py
"""
# ruff: noqa: UP031, UP032, B905  (written as the classic TF1 tutorials were)
import graphengine.compat.v1 as tf
from graphengine.datasets import batches, load_digits, one_hot


def main(training_epochs=25, batch_size=100, learning_rate=0.5, config=None):
    tf.reset_default_graph()
    (x_train, y_train), (x_test, y_test) = load_digits(seed=0)
    y_train, y_test = one_hot(y_train, 10), one_hot(y_test, 10)

    # tf Graph Input
    x = tf.placeholder(tf.float32, [None, 64])  # 8x8 images
    y = tf.placeholder(tf.float32, [None, 10])  # 10 classes

    # Set model weights
    W = tf.Variable(tf.zeros([64, 10]))
    b = tf.Variable(tf.zeros([10]))

    # Construct model
    pred = tf.nn.softmax(tf.matmul(x, W) + b)

    # Minimize error using cross entropy
    cost = tf.reduce_mean(-tf.reduce_sum(y * tf.log(pred), reduction_indices=1))
    optimizer = tf.train.GradientDescentOptimizer(learning_rate).minimize(cost)

    correct_prediction = tf.equal(tf.argmax(pred, 1), tf.argmax(y, 1))
    accuracy = tf.reduce_mean(tf.cast(correct_prediction, tf.float32))

    init = tf.global_variables_initializer()
    history = []
    with tf.Session(config=config) as sess:
        sess.run(init)
        for epoch in range(training_epochs):
            avg_cost, total_batch = 0.0, 0
            for batch_xs, batch_ys in batches(x_train, y_train, batch_size, seed=epoch):
                _, c = sess.run([optimizer, cost], feed_dict={x: batch_xs, y: batch_ys})
                avg_cost += c
                total_batch += 1
            history.append(avg_cost / total_batch)
            print("Epoch:", "%04d" % (epoch + 1), "cost=", "{:.9f}".format(history[-1]))
        print("Optimization Finished!")
        acc = accuracy.eval({x: x_test, y: y_test})
        print("Accuracy:", acc)
    return history, float(acc)


if __name__ == "__main__":
    main()
