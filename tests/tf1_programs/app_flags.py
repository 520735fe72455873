"""tf.app.run with tf.app.flags, as TF1 tutorials parse their command lines (unmodified)."""
import tensorflow as tf

flags = tf.app.flags
flags.DEFINE_integer("steps", 3, "training steps")
flags.DEFINE_float("lr", 0.1, "learning rate")
flags.DEFINE_boolean("verbose", False, "print more")
flags.DEFINE_string("name", "run", "a name")
FLAGS = flags.FLAGS


def main(argv):
    print(FLAGS.steps, FLAGS.lr, FLAGS.verbose, FLAGS.name, argv[1:])
    return 0 if FLAGS.steps == 7 else 4


if __name__ == "__main__":
    tf.app.run()
