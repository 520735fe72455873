"""A small TF1 VAE: run-time shapes (tf.shape, reparameterization with
tf.random_normal(tf.shape(z_std))), random ops with tensor parameters, slicing, tf.range,
tf.unstack, get_shape().as_list() and a device function; unmodified TF1 code."""
import numpy as np
import tensorflow as tf

tf.set_random_seed(1)
rng = np.random.RandomState(0)
data = rng.rand(64, 8).astype(np.float32)


def assign_device(op):
    return "/gpu:0" if op.type == "matmul" else "/cpu:0"


x = tf.placeholder(tf.float32, [None, 8])
n_in = x.get_shape().as_list()[1]
with tf.device(assign_device):
    w_enc = tf.Variable(tf.random_normal([n_in, 6], stddev=tf.constant(0.1)))
    h = tf.nn.tanh(tf.matmul(x, w_enc))
z_mean, z_log_sigma = h[:, :3], h[:, 3:]           # slicing with gradients
z_std = tf.exp(0.5 * z_log_sigma)
eps = tf.random_normal(tf.shape(z_std), 0, 1, dtype=tf.float32)
z = z_mean + z_std * eps
w_dec = tf.Variable(tf.truncated_normal([3, n_in], stddev=0.1))
x_rec = tf.nn.sigmoid(tf.matmul(z, w_dec))
batch = tf.shape(x)[0]
recon = tf.reduce_sum(tf.square(x_rec - x)) / tf.cast(batch, tf.float32)
kl = -0.5 * tf.reduce_mean(tf.reduce_sum(1 + z_log_sigma - tf.square(z_mean) - tf.exp(z_log_sigma), 1))
loss = recon + kl
train = tf.train.AdamOptimizer(0.05).minimize(loss)
noise = tf.random_uniform(tf.shape(x), minval=tf.constant(-0.1), maxval=0.1)
flat = tf.reshape(x, [batch, -1, 2])
cols = tf.unstack(x[::2, -2:], axis=1)
idx = tf.range(batch)
print("static shapes:", eps.get_shape().as_list(), flat.get_shape().as_list(), z.shape)
assert w_enc.op.device == "/cpu:0", w_enc.op.device
assert h.op.inputs[0].op.device == "/gpu:0"

with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    first = sess.run(loss, {x: data})
    for step in range(60):
        sess.run(train, {x: data[(step % 4) * 16:(step % 4 + 1) * 16]})
    last = sess.run(loss, {x: data})
    e1, e2 = sess.run(eps, {x: data[:5]}), sess.run(eps, {x: data[:7]})
    nz, f, c, i = sess.run([noise, flat, cols, idx], {x: data[:6]})
print(f"loss {first:.3f} -> {last:.3f}")
assert last < first
assert e1.shape == (5, 3) and e2.shape == (7, 3)
assert nz.shape == (6, 8) and np.all(np.abs(nz) <= 0.1)
assert f.shape == (6, 4, 2) and len(c) == 2 and c[0].shape == (3,)
assert i.tolist() == list(range(6))
np.testing.assert_array_equal(c[1], data[:6][::2, -1])
print("ok")
