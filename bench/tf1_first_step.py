"""A new user's TF1 program, timed from its first import: ``python -m bench first-step`` runs it
in fresh processes (``python bench/tf1_first_step.py '<json args>'``; prints one JSON line).

784-100-10 softmax MLP as the TF1 tutorials write it (``import graphengine.compat.v1 as tf``,
truncated-normal weights, Adam, ``sess.run([train_step, cross_entropy], feed_dict)``, then an
accuracy fetch). ``nonce`` (a float, 0 for none) multiplies the logits by ``1 + nonce``: a
graph that differs from every graph compiled before, with the same work.
"""
import time

T0 = time.perf_counter()
import json  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402

import graphengine.compat.v1 as tf  # noqa: E402

T1 = time.perf_counter()


def main(args: dict) -> dict:
    rng = np.random.default_rng(0)

    def data(n):
        xs = (rng.uniform(0, 1, (n, 784)) * (rng.uniform(size=(n, 784)) < 0.2)).astype(np.float32)
        ys = np.eye(10, dtype=np.float32)[rng.integers(0, 10, n)]
        return xs, ys

    train_x, train_y = data(1000)
    test_x, test_y = data(2000)
    tf.set_random_seed(0)
    x = tf.placeholder(tf.float32, [None, 784])
    y_ = tf.placeholder(tf.float32, [None, 10])
    W1 = tf.Variable(tf.truncated_normal([784, 100], stddev=0.1))
    b1 = tf.Variable(tf.constant(0.1, shape=[100]))
    h = tf.nn.relu(tf.matmul(x, W1) + b1)
    W2 = tf.Variable(tf.truncated_normal([100, 10], stddev=0.1))
    b2 = tf.Variable(tf.constant(0.1, shape=[10]))
    y = tf.matmul(h, W2) + b2
    if args["nonce"]:
        y = y * tf.constant(1.0 + args["nonce"])
    cross_entropy = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=y_, logits=y))
    train_step = tf.train.AdamOptimizer(1e-3).minimize(cross_entropy)
    correct = tf.equal(tf.argmax(y, 1), tf.argmax(y_, 1))
    accuracy = tf.reduce_mean(tf.cast(correct, tf.float32))
    sess = tf.Session()
    sess.run(tf.global_variables_initializer())
    t2 = time.perf_counter()
    batch = lambda i: {x: train_x[i % 10 * 100:][:100], y_: train_y[i % 10 * 100:][:100]}
    _, loss = sess.run([train_step, cross_entropy], feed_dict=batch(0))
    t3 = time.perf_counter()
    done_wall = time.time()
    acc = sess.run(accuracy, feed_dict={x: test_x, y_: test_y})
    t4 = time.perf_counter()
    # steady state: warm up by time, and until the background compiles are done (the steps
    # before run the interim step: graphengine.backends.cpu.background), then time
    from graphengine.backends.cpu import background
    i, t = 1, time.perf_counter()
    while time.perf_counter() - t < args["warmup_s"] or background.pending():
        sess.run([train_step, cross_entropy], feed_dict=batch(i))
        i += 1
    sess.run(accuracy, feed_dict={x: test_x, y_: test_y})   # its switch too
    interim_steps = i - 1
    n, t = 0, time.perf_counter()
    while n < 3 or time.perf_counter() - t < args["timed_s"]:
        sess.run([train_step, cross_entropy], feed_dict=batch(i + n))
        n += 1
    steady = n / (time.perf_counter() - t)
    background.wait_all()   # untimed: no child of this sample compiles beside the next one
    return {"import_s": T1 - T0, "build_s": t2 - T1, "first_step_s": t3 - t2, "eval_s": t4 - t3,
            "to_first_step_s": t3 - T0, "first_step_done_wall": done_wall, "steady_steps_per_s": steady,
            "loss": float(loss), "accuracy": float(acc), "steps_before_steady": interim_steps}


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))), flush=True)
