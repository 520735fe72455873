"""TF1 hello world and string tensors, unmodified (run by tests/test_tf1_runner.py)."""
import tensorflow as tf

hello = tf.constant('Hello, TensorFlow!')
sess = tf.Session()
print(sess.run(hello))

name = tf.placeholder(tf.string, shape=[None], name="name")
greeting = tf.string_join([tf.constant("Hi"), name], separator=", ")
count = tf.as_string(tf.shape(name)[0])
line = tf.strings.join(["greeted ", count, " people"])
out, n = sess.run([greeting, line], feed_dict={name: ["Ada", "Grace"]})
print(out.tolist(), n)
assert isinstance(sess.run(tf.identity(hello)), bytes)
try:
    sess.run(hello + 1)
except TypeError as e:  # string math: a DTypeError naming the op and this line
    print("error:", str(e).split(":")[0], "line" if "hello_strings.py" in str(e) else "no line")
sess.close()
