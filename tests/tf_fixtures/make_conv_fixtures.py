"""Write conv_pool_tf.npz: TensorFlow's own results for tests/test_conv.py::test_matches_tensorflow.

conv2d (strides, SAME/VALID, dilation) and its gradients, conv2d_transpose (both input sizes a
stride-2 VALID window fits), max/avg pooling of values with ties and their gradients. The cases
go into the file as JSON (``__cases__``), so the test builds the same graphs. CI needs no
TensorFlow; to regenerate: ``/work/venv-tf/bin/python tests/tf_fixtures/make_conv_fixtures.py``.
"""
import json
from pathlib import Path

import numpy as np

CONV = [["valid_s1", 1, "VALID", 1], ["same_s2", 2, "SAME", 1], ["same_d2", 1, "SAME", 2],
        ["valid_s21", [2, 1], "VALID", 1]]
TRANSPOSE = [["same", [2, 6, 6, 2], 2, "SAME"], ["valid7", [2, 7, 7, 2], 2, "VALID"],
             ["valid8", [2, 8, 8, 2], 2, "VALID"]]
POOL = [["k3s2same", 3, 2, "SAME"], ["k2s1valid", 2, 1, "VALID"], ["k2s2same", 2, 2, "SAME"]]


def weights(shape) -> np.ndarray:
    """The cotangent pooling outputs are multiplied by: 0, 1, 2, ... (every window counts)."""
    return np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)


def main() -> None:
    import tensorflow as tf
    rng = np.random.default_rng(0)
    arrays = {"x": rng.standard_normal((2, 7, 6, 3)), "w": rng.standard_normal((3, 2, 3, 4)),
              "v": rng.standard_normal((2, 3, 3, 4)), "wt": rng.standard_normal((3, 3, 2, 4)),
              "xi": rng.integers(-1, 2, (2, 5, 5, 3))}    # many ties: the first maximum must win
    arrays = {k: a.astype(np.float32) for k, a in arrays.items()}
    x, w = tf.constant(arrays["x"]), tf.constant(arrays["w"])
    out = {}
    for name, s, p, d in CONV:
        with tf.GradientTape(persistent=True) as tape:
            tape.watch([x, w])
            y = tf.nn.conv2d(x, w, strides=s, padding=p, dilations=d)
            loss = tf.reduce_sum(y * y)
        out[f"conv_{name}"] = y.numpy()
        if d == 1:  # TF's CPU kernels have no dilated gradients
            out[f"conv_{name}_dx"] = tape.gradient(loss, x).numpy()
            out[f"conv_{name}_dw"] = tape.gradient(loss, w).numpy()
    for name, shape, s, p in TRANSPOSE:
        out[f"transpose_{name}"] = tf.nn.conv2d_transpose(arrays["v"], arrays["wt"], shape, s, p).numpy()
    xi = tf.constant(arrays["xi"])
    for name, k, s, p in POOL:
        for kind, fn in (("max", tf.nn.max_pool2d), ("avg", tf.nn.avg_pool2d)):
            with tf.GradientTape() as tape:
                tape.watch(xi)
                y = fn(xi, k, s, p)
                loss = tf.reduce_sum(y * weights(y.shape))
            out[f"{kind}_{name}"] = y.numpy()
            out[f"{kind}_{name}_dx"] = tape.gradient(loss, xi).numpy()
    cases = {"conv": CONV, "transpose": TRANSPOSE, "pool": POOL, "tensorflow": tf.__version__}
    np.savez(Path(__file__).resolve().parent / "conv_pool_tf.npz", __cases__=np.array(json.dumps(cases)),
             **arrays, **out)


if __name__ == "__main__":
    main()
