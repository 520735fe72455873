"""Basic operations with constants and placeholders, TF1 style.

Run: python examples/tf1_basic_operations.py
"""
# ruff: noqa: UP031, UP032, B905  (written as the classic TF1 tutorials were)
import numpy as np

import graphengine.compat.v1 as tf


def main(config=None):
    tf.reset_default_graph()

    # Constants: the value is part of the graph.
    a = tf.constant(2)
    b = tf.constant(3)
    with tf.Session(config=config) as sess:
        print("a=2, b=3")
        print("Addition with constants: %i" % sess.run(a + b))
        print("Multiplication with constants: %i" % sess.run(a * b))
        const_sum = sess.run(a + b)

    # Placeholders: the value is fed at run time.
    a = tf.placeholder(tf.int16)
    b = tf.placeholder(tf.int16)
    add = tf.add(a, b)
    mul = tf.multiply(a, b)
    with tf.Session(config=config) as sess:
        added = sess.run(add, feed_dict={a: 2, b: 3})
        multiplied = sess.run(mul, feed_dict={a: 2, b: 3})
        print("Addition with variables: %i" % added)
        print("Multiplication with variables: %i" % multiplied)

    # Matrix multiplication, and float math by TF1 names.
    matrix1 = tf.constant([[3., 3.]])
    matrix2 = tf.constant([[2.], [2.]])
    product = tf.matmul(matrix1, matrix2)
    x = tf.placeholder("float", [None, 3])
    stats = [tf.reduce_mean(x), tf.reduce_sum(x, reduction_indices=1), tf.argmax(x, 1),
             tf.log(tf.exp(x)), tf.pow(x, 2), tf.sqrt(tf.square(x))]
    with tf.Session(config=config) as sess:
        result = sess.run(product)
        print("matmul:", result)
        feed = np.array([[1., 2., 3.], [6., 5., 4.]], np.float32)
        mean, sums, arg, logexp, squares, absval = sess.run(stats, feed_dict={x: feed})
        print("mean", mean, "row sums", sums, "argmax", arg)

    # An InteractiveSession makes Tensor.eval() and Operation.run() work without `with`.
    sess = tf.InteractiveSession(config=config)
    v = tf.Variable(tf.zeros([2]), name="counter")
    increment = tf.assign_add(v, tf.ones([2]))
    tf.global_variables_initializer().run()
    increment.op.run()
    counter = v.eval()
    sess.close()
    return {"const_sum": int(const_sum), "added": int(added), "multiplied": int(multiplied),
            "product": result, "mean": float(mean), "sums": sums, "argmax": arg,
            "logexp": logexp, "squares": squares, "abs": absval, "counter": counter}


if __name__ == "__main__":
    main()
