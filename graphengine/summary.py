"""TensorBoard logs (TF1 ``tf.summary``): summary ops and ``FileWriter`` event files.

Summary ops evaluate to serialized ``Summary`` protobufs (``bytes``); ``FileWriter`` writes them
as events with the ``tensorboard`` package's own event-file writer, and ``add_graph`` writes a
``GraphDef`` of graphengine's ops for TensorBoard's graph tab. Needs the optional extra:
``pip install -e ".[tensorboard]"``.

>>> import tempfile, graphengine as ge
>>> with ge.Graph().as_default() as g:
...     x = ge.placeholder(ge.float32, ())
...     loss = ge.summary.scalar("loss", x * 2)
...     merged = ge.summary.merge_all()
...     with ge.Session() as sess, ge.summary.FileWriter(tempfile.mkdtemp(), sess.graph) as writer:
...         writer.add_summary(sess.run(merged, {x: 3.0}), global_step=1)
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from .graph import Graph
from .ops.summary import INSTALL_HINT, SUMMARIES, histogram, image, merge, merge_all, scalar, string


def _protos() -> tuple[Any, Any, Any]:
    try:
        from tensorboard.compat.proto import event_pb2, graph_pb2, summary_pb2
    except ImportError as e:
        raise ImportError(f"FileWriter needs the tensorboard package ({e}); install it: {INSTALL_HINT}") from None
    return event_pb2, graph_pb2, summary_pb2


# graphengine op type -> the TF op name TensorBoard shows (others: CamelCase of the type)
_TF_NAMES = {"matmul": "MatMul", "add": "AddV2", "subtract": "Sub", "multiply": "Mul", "divide": "RealDiv",
             "variable": "VariableV2", "placeholder": "Placeholder", "const": "Const", "relu": "Relu",
             "softmax": "Softmax", "reduce_mean": "Mean", "reduce_sum": "Sum", "reduce_max": "Max",
             "sparse_softmax_xent": "SparseSoftmaxCrossEntropyWithLogits", "assign": "Assign",
             "softmax_xent": "SoftmaxCrossEntropyWithLogits", "apply_adam": "ApplyAdam",
             "apply_gradient_descent": "ApplyGradientDescent", "batch_norm": "FusedBatchNormV3",
             "batch_norm_grad": "FusedBatchNormGradV3", "gather": "GatherV2", "group": "NoOp",
             "summary_scalar": "ScalarSummary", "summary_histogram": "HistogramSummary",
             "summary_image": "ImageSummary", "summary_merge": "MergeSummary"}


def tf_op_name(op_type: str) -> str:
    return _TF_NAMES.get(op_type) or "".join(p.capitalize() for p in op_type.split("_"))


def graph_def(graph: Graph) -> Any:
    """A TensorFlow ``GraphDef`` of ``graph``: every op with its name, TF op type, inputs
    (``name:k``, control inputs as ``^name``), dtype and output shapes (-1 for unknown dims)."""
    _, graph_pb2, _ = _protos()
    from tensorboard.compat.proto import attr_value_pb2, tensor_shape_pb2, types_pb2
    dtypes = {"float16": types_pb2.DT_HALF, "float32": types_pb2.DT_FLOAT, "float64": types_pb2.DT_DOUBLE,
              "int8": types_pb2.DT_INT8, "int16": types_pb2.DT_INT16, "int32": types_pb2.DT_INT32,
              "int64": types_pb2.DT_INT64, "uint8": types_pb2.DT_UINT8, "bool": types_pb2.DT_BOOL,
              "string": types_pb2.DT_STRING}
    gd = graph_pb2.GraphDef()
    for op in graph.get_operations():
        node = gd.node.add(name=op.name, op=tf_op_name(op.type))
        node.input.extend(t.op.name if t.value_index == 0 else f"{t.op.name}:{t.value_index}" for t in op.inputs)
        node.input.extend(f"^{c.name}" for c in op.control_inputs)
        if op.outputs:
            node.attr["T"].CopyFrom(attr_value_pb2.AttrValue(type=dtypes.get(op.outputs[0].dtype.name, 0)))
            shapes = [tensor_shape_pb2.TensorShapeProto(
                unknown_rank=t.shape is None,
                dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=-1 if d is None else d) for d in t.shape or ()])
                for t in op.outputs]
            node.attr["_output_shapes"].CopyFrom(attr_value_pb2.AttrValue(
                list=attr_value_pb2.AttrValue.ListValue(shape=shapes)))
    gd.versions.producer = 27
    return gd


_graph_def_of = graph_def  # FileWriter.add_graph's keyword argument shadows the name


class FileWriter:
    """Writes TensorBoard event files under ``logdir`` (TF1 ``tf.summary.FileWriter``).

    ``graph`` (or ``add_graph``) writes the graph for TensorBoard's graph tab. ``add_summary``
    takes what a summary op evaluated to (``bytes``) or a ``Summary`` protobuf, and the
    ``global_step`` to show it at. Events are written by a background thread; ``flush`` and
    ``close`` (also on leaving a ``with`` block) put everything on disk.
    """

    def __init__(self, logdir: str, graph: Graph | None = None, max_queue: int = 10, flush_secs: int = 120,
                 filename_suffix: str | None = None, session: Any = None, graph_def: Any = None) -> None:
        _protos()
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
        self._writer = EventFileWriter(str(logdir), max_queue_size=max_queue, flush_secs=flush_secs,
                                       filename_suffix=filename_suffix or "")
        self._closed = False
        if graph is not None or graph_def is not None:
            self.add_graph(graph, graph_def=graph_def)

    def get_logdir(self) -> str:
        return self._writer.get_logdir()

    def add_event(self, event: Any) -> None:
        if self._closed:
            raise RuntimeError("this FileWriter is closed")
        self._writer.add_event(event)

    def add_summary(self, summary: Any, global_step: int | None = None) -> None:
        """Write one ``Summary`` (serialized bytes, as ``sess.run(summary_op)`` returns) at a step."""
        event_pb2, _, summary_pb2 = _protos()
        if isinstance(summary, np.ndarray) and summary.dtype == object:
            summary = summary[()]
        if isinstance(summary, bytes | bytearray):
            summary = summary_pb2.Summary.FromString(bytes(summary))
        if not isinstance(summary, summary_pb2.Summary):
            raise TypeError(f"add_summary takes serialized summary bytes or a Summary protobuf, got "
                            f"{type(summary).__name__}")
        ev = event_pb2.Event(wall_time=time.time(), summary=summary)
        if global_step is not None:
            ev.step = int(global_step)
        self.add_event(ev)

    def add_graph(self, graph: Graph | None, global_step: int | None = None, graph_def: Any = None) -> None:
        """Write ``graph`` (a graphengine ``Graph``) or a ``GraphDef`` for the graph tab."""
        event_pb2, _, _ = _protos()
        if graph_def is None and hasattr(graph, "SerializeToString"):  # a GraphDef passed as graph
            graph, graph_def = None, graph
        gd = graph_def if graph_def is not None else _graph_def_of(graph)
        ev = event_pb2.Event(wall_time=time.time(), graph_def=gd.SerializeToString())
        if global_step is not None:
            ev.step = int(global_step)
        self.add_event(ev)

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        if not self._closed:
            self._writer.close()
            self._closed = True

    def reopen(self) -> None:
        """TF1 API: a closed writer cannot reopen here; create a new FileWriter instead."""
        if self._closed:
            raise RuntimeError("FileWriter.reopen is not supported; create a new FileWriter")

    def __enter__(self) -> FileWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


__all__ = ["SUMMARIES", "FileWriter", "graph_def", "histogram", "image", "merge", "merge_all", "scalar",
           "string", "tf_op_name"]
