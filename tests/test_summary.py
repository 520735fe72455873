"""TensorBoard summaries: TF1's tf.summary ops and FileWriter, read back with TensorBoard's own
event reader (scalars and steps, histogram buckets, image sizes, the graph)."""
import numpy as np
import pytest

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.compat.proto import summary_pb2  # noqa: E402

import graphengine as ge  # noqa: E402
import graphengine.compat.v1 as tf  # noqa: E402
from graphengine.ops.summary import _LIMITS  # noqa: E402


def _read(logdir):
    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0, "histograms": 0, "images": 0})
    acc.Reload()
    return acc


def test_training_run_writes_scalars_histograms_images_and_graph(tmp_path):
    tf.reset_default_graph()
    x = tf.placeholder(tf.float32, [None, 3])
    w = tf.Variable(np.ones((3, 1), np.float32), name="w")
    loss = tf.reduce_mean(tf.square(tf.matmul(x, w) - 1.0))
    train = tf.train.GradientDescentOptimizer(0.05).minimize(loss)
    with tf.name_scope("stats"):
        tf.summary.scalar("loss", loss)
    tf.summary.histogram("weights", w)
    tf.summary.image("input", tf.reshape(x, [-1, 1, 3, 1]), max_outputs=2)
    merged = tf.summary.merge_all()
    X = np.random.default_rng(0).standard_normal((8, 3)).astype(np.float32)
    losses = []
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        writer = tf.summary.FileWriter(str(tmp_path), sess.graph)
        for step in range(4):
            summ, lv, _ = sess.run([merged, loss, train], {x: X})
            assert isinstance(summ, bytes)
            writer.add_summary(summ, global_step=step)
            losses.append(lv)
        assert sess.plan_info([merged, loss, train], {x: X})["executor"] == "compiled step"
        w_final = sess.run(w)
        writer.close()
    acc = _read(tmp_path)
    tags = acc.Tags()
    assert tags["scalars"] == ["stats/loss"] and tags["histograms"] == ["weights"]
    assert set(tags["images"]) == {"input/image/0", "input/image/1"}
    scalars = acc.Scalars("stats/loss")
    assert [e.step for e in scalars] == [0, 1, 2, 3]
    np.testing.assert_allclose([e.value for e in scalars], losses, rtol=1e-6)
    h = acc.Histograms("weights")[-1].histogram_value  # w after the last update (fetched with the step)
    assert h.num == 3 and h.min == pytest.approx(w_final.min()) and h.max == pytest.approx(w_final.max())
    assert sum(h.bucket) == 3
    img = acc.Images("input/image/1")[0]
    assert (img.width, img.height) == (3, 1)
    names = {n.name: n for n in acc.Graph().node}
    assert names["w"].op == "VariableV2" and any(n.op == "MatMul" and "w" in n.input for n in names.values())


def test_histogram_buckets_match_tf1_default_buckets():
    values = np.array([-3.0, -3.0, 0.0, 1e-13, 0.5, 0.5, 0.8, 7.0])
    summ = ge.Session().run(ge.summary.histogram("h", ge.constant(values)))
    h = summary_pb2.Summary.FromString(summ).value[0].histo
    assert (h.num, h.sum, h.sum_squares) == (8, values.sum(), pytest.approx((values ** 2).sum()))
    # every value falls in the bucket whose (left-closed) range holds it
    counts = dict(zip(h.bucket_limit, h.bucket))
    for v in values:
        right = _LIMITS[np.searchsorted(_LIMITS, v, side="right")]
        assert counts.get(right, 0) >= 1, (v, right)
    assert counts[_LIMITS[np.searchsorted(_LIMITS, 0.5, side="right")]] == 2
    assert sum(h.bucket) == 8


def test_merge_rejects_duplicate_tags_and_merge_all_is_none_without_summaries():
    with ge.Graph().as_default():
        assert ge.summary.merge_all() is None
        a = ge.summary.scalar("a", ge.constant(1.0))
        b = ge.summary.scalar("b", ge.constant(2.0))
        both = ge.summary.merge([a, b])
        dup = ge.summary.merge([a, a])
        with ge.Session() as s:
            vals = summary_pb2.Summary.FromString(s.run(both)).value
            assert [(v.tag, v.simple_value) for v in vals] == [("a", 1.0), ("b", 2.0)]
            with pytest.raises(ge.GraphEngineError, match="Duplicate tag a"):
                s.run(dup)
        with pytest.raises(ge.ShapeError, match="scalar"):
            ge.summary.scalar("v", ge.constant([1.0, 2.0]))


def test_scalar_of_zero_survives_the_fetch():
    """A serialized Summary may end in NUL bytes (simple_value 0.0): the fetch keeps them."""
    summ = ge.Session().run(ge.summary.scalar("zero", ge.constant(0.0)))
    assert summ.endswith(b"\x00") and summary_pb2.Summary.FromString(summ).value[0].simple_value == 0.0


def test_image_float_scaling_is_tf1s():
    from graphengine.ops.summary import to_uint8
    np.testing.assert_array_equal(to_uint8(np.array([[[0.0], [0.5], [1.0]]]))[..., 0], [[0, 127, 255]])
    np.testing.assert_array_equal(to_uint8(np.array([[[-1.0], [0.0], [0.5]]]))[..., 0], [[1, 128, 191]])


def test_plans_with_summaries_stay_correct_when_not_separable():
    """A numeric op reading a summary keeps the plan whole (op by op, host kernels); a summary
    of a feed alone needs no numeric step at all."""
    with ge.Graph().as_default():
        x = ge.placeholder(ge.float32, (None, 2))
        s = ge.summary.scalar("m", ge.reduce_mean(ge.matmul(x, ge.ones((2, 2)))))
        with ge.control_dependencies([s]):
            y = ge.reduce_sum(x) * 2.0
        img = ge.summary.image("img", ge.placeholder_with_default(np.full((1, 2, 5, 3), 200, np.uint8), None))
        feed = {x: np.ones((3, 2), np.float32)}
        with ge.Session() as sess:
            assert sess.plan_info([y, s], feed)["executor"] == "op by op"
            yv, sv = sess.run([y, s], feed)
            assert yv == 12.0 and summary_pb2.Summary.FromString(sv).value[0].simple_value == 2.0
            v = summary_pb2.Summary.FromString(sess.run(img)).value[0]
    png = v.image.encoded_image_string
    assert v.tag == "img/image/0" and png.startswith(b"\x89PNG")
    assert (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")) == (5, 2)
    assert (v.image.width, v.image.height, v.image.colorspace) == (5, 2, 3)


def test_graph_def_names_types_and_inputs():
    from graphengine.summary import graph_def
    g = ge.Graph()
    with g.as_default():
        a = ge.placeholder(ge.float32, (None, 3), name="a")
        b = ge.nn.softmax(a, name="probs")
        with ge.control_dependencies([b]):
            ge.identity(a, name="after")
    nodes = {n.name: n for n in graph_def(g).node}
    assert nodes["a"].op == "Placeholder" and nodes["probs"].op == "Softmax"
    assert list(nodes["probs"].input) == ["a"] and list(nodes["after"].input) == ["a", "^probs"]
    dims = [d.size for d in nodes["a"].attr["_output_shapes"].list.shape[0].dim]
    assert dims == [-1, 3]
