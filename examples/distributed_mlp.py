"""Data-parallel training on MPI, Horovod style: the TF1 MLP on the 8x8 digits, one shard of
every epoch per rank, gradients averaged across ranks inside the compiled step.

Run: mpiexec -n 2 python examples/distributed_mlp.py      (also runs alone, as one rank)
Needs: pip install -e ".[mpi]"
"""
import sys

import graphengine.compat.v1 as tf
import graphengine.distributed as hvd
from graphengine.datasets import batches, load_digits


def main(epochs=20, batch_size=32, learning_rate=0.01):
    hvd.init()
    tf.reset_default_graph()
    tf.set_random_seed(1)
    (x_train, y_train), (x_test, y_test) = load_digits(seed=0)

    x = tf.placeholder(tf.float32, [None, 64])
    y = tf.placeholder(tf.int64, [None])
    hidden = tf.layers.dense(x, 64, activation=tf.nn.relu)
    logits = tf.layers.dense(hidden, 10)
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
    # each rank sees batch_size rows a step: the global batch is batch_size * size
    opt = hvd.DistributedOptimizer(tf.train.AdamOptimizer(learning_rate))
    train_op = opt.minimize(loss)
    correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, 1), y), tf.float32))
    # metrics: every rank scores its shard of the test set, allreduce sums the counts
    total_correct = hvd.allreduce(correct, op=hvd.Sum)
    bcast = hvd.broadcast_global_variables(0)

    rank, size = hvd.rank(), hvd.size()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(bcast)  # the same starting point on every rank
        for epoch in range(epochs):
            losses = [sess.run([train_op, loss], {x: xb, y: yb})[1]
                      for xb, yb in batches(x_train, y_train, batch_size, seed=epoch, shard=(rank, size))]
            if rank == 0 and (epoch + 1) % 5 == 0:
                print(f"epoch {epoch + 1}: rank 0 mean loss {sum(losses) / len(losses):.4f}")
        shard = slice(rank, None, size)
        acc = sess.run(total_correct, {x: x_test[shard], y: y_test[shard]}) / len(x_test)
    if rank == 0:
        print(f"{size} rank(s): test accuracy {acc:.3f}")
    return float(acc)


if __name__ == "__main__":
    main(epochs=int(sys.argv[1]) if len(sys.argv) > 1 else 20)
