"""A 2-hidden-layer perceptron on the 8x8 digits with Adam, TF1 style.

Weights come from tf.get_variable with xavier_initializer inside variable scopes.
Run: python examples/tf1_mlp.py
"""
# ruff: noqa: UP031, UP032, B905  (written as the classic TF1 tutorials were)
import graphengine.compat.v1 as tf
from graphengine.datasets import batches, load_digits, one_hot


def layer(x, n_in, n_out, name, activation=None):
    with tf.variable_scope(name):
        w = tf.get_variable("weights", [n_in, n_out],
                            initializer=tf.contrib.layers.xavier_initializer())
        b = tf.get_variable("biases", [n_out], initializer=tf.zeros_initializer())
        out = tf.add(tf.matmul(x, w), b)
        return activation(out) if activation is not None else out


def main(training_epochs=15, batch_size=64, learning_rate=0.01, config=None):
    tf.reset_default_graph()
    tf.set_random_seed(1)
    (x_train, y_train), (x_test, y_test) = load_digits(seed=0)
    y_train, y_test = one_hot(y_train, 10), one_hot(y_test, 10)

    n_hidden_1, n_hidden_2, n_input, n_classes = 64, 64, 64, 10
    X = tf.placeholder("float", [None, n_input])
    Y = tf.placeholder("float", [None, n_classes])

    # Create model
    layer_1 = layer(X, n_input, n_hidden_1, "layer_1", tf.nn.relu)
    layer_2 = layer(layer_1, n_hidden_1, n_hidden_2, "layer_2", tf.nn.relu)
    logits = layer(layer_2, n_hidden_2, n_classes, "out")

    # Define loss and optimizer
    loss_op = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(logits=logits, labels=Y))
    optimizer = tf.train.AdamOptimizer(learning_rate=learning_rate)
    train_op = optimizer.minimize(loss_op)

    pred = tf.nn.softmax(logits)
    correct_pred = tf.equal(tf.argmax(pred, 1), tf.argmax(Y, 1))
    accuracy = tf.reduce_mean(tf.cast(correct_pred, tf.float32))

    init = tf.global_variables_initializer()
    history = []
    with tf.Session(config=config) as sess:
        sess.run(init)
        for epoch in range(training_epochs):
            avg_cost, n = 0.0, 0
            for batch_x, batch_y in batches(x_train, y_train, batch_size, seed=epoch):
                _, c = sess.run([train_op, loss_op], feed_dict={X: batch_x, Y: batch_y})
                avg_cost += c
                n += 1
            history.append(avg_cost / n)
            print("Epoch:", "%04d" % (epoch + 1), "cost={:.9f}".format(history[-1]))
        print("Optimization Finished!")
        acc = sess.run(accuracy, feed_dict={X: x_test, Y: y_test})
        print("Testing Accuracy:", acc)
    return history, float(acc)


if __name__ == "__main__":
    main()
