"""An autoencoder (64 -> 32 -> 16 -> 32 -> 64) on the 8x8 digits with RMSProp, TF1 style.

Run: python examples/tf1_autoencoder.py
"""
# ruff: noqa: UP031, UP032, B905  (written as the classic TF1 tutorials were)
import graphengine.compat.v1 as tf
from graphengine.datasets import batches, load_digits


def main(num_steps=300, batch_size=64, learning_rate=0.01, display_step=50, config=None):
    tf.reset_default_graph()
    tf.set_random_seed(2)
    (x_train, _), (x_test, _) = load_digits(seed=0)

    num_hidden_1, num_hidden_2, num_input = 32, 16, 64
    X = tf.placeholder("float", [None, num_input])

    weights = {
        "encoder_h1": tf.Variable(tf.random_normal([num_input, num_hidden_1], stddev=0.1)),
        "encoder_h2": tf.Variable(tf.random_normal([num_hidden_1, num_hidden_2], stddev=0.1)),
        "decoder_h1": tf.Variable(tf.random_normal([num_hidden_2, num_hidden_1], stddev=0.1)),
        "decoder_h2": tf.Variable(tf.random_normal([num_hidden_1, num_input], stddev=0.1)),
    }
    biases = {
        "encoder_b1": tf.Variable(tf.random_normal([num_hidden_1], stddev=0.1)),
        "encoder_b2": tf.Variable(tf.random_normal([num_hidden_2], stddev=0.1)),
        "decoder_b1": tf.Variable(tf.random_normal([num_hidden_1], stddev=0.1)),
        "decoder_b2": tf.Variable(tf.random_normal([num_input], stddev=0.1)),
    }

    def encoder(x):
        layer_1 = tf.nn.sigmoid(tf.add(tf.matmul(x, weights["encoder_h1"]), biases["encoder_b1"]))
        return tf.nn.sigmoid(tf.add(tf.matmul(layer_1, weights["encoder_h2"]), biases["encoder_b2"]))

    def decoder(x):
        layer_1 = tf.nn.sigmoid(tf.add(tf.matmul(x, weights["decoder_h1"]), biases["decoder_b1"]))
        return tf.nn.sigmoid(tf.add(tf.matmul(layer_1, weights["decoder_h2"]), biases["decoder_b2"]))

    encoder_op = encoder(X)
    decoder_op = decoder(encoder_op)
    y_pred, y_true = decoder_op, X

    loss = tf.reduce_mean(tf.pow(y_true - y_pred, 2))
    optimizer = tf.train.RMSPropOptimizer(learning_rate).minimize(loss)

    init = tf.global_variables_initializer()
    history = []
    with tf.Session(config=config) as sess:
        sess.run(init)
        step = 0
        while step < num_steps:
            for batch_x in batches(x_train, None, batch_size, seed=step):
                _, l = sess.run([optimizer, loss], feed_dict={X: batch_x})
                history.append(float(l))
                step += 1
                if step % display_step == 0 or step == 1:
                    print("Step %i: Minibatch Loss: %f" % (step, l))
                if step >= num_steps:
                    break
        test_loss = sess.run(loss, feed_dict={X: x_test})
        print("Test reconstruction loss:", test_loss)
    return history, float(test_loss)


if __name__ == "__main__":
    main()
