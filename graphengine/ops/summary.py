"""TensorBoard summary ops: each produces a serialized ``Summary`` protobuf (bytes), as TF1's.

They are host ops (kind ``"host"``): their value is a Python ``bytes`` object held in a 0-d object
array, never a numeric buffer, so backends run them on the host after the rest of the step
(``graphengine.runtime.hostops``). The protobuf classes come from the ``tensorboard`` package
(``pip install -e ".[tensorboard]"``), imported only when a summary is built.
"""
from __future__ import annotations

import re
import struct
import zlib
from typing import Any

import numpy as np

from .. import dtypes as _dtypes
from ..dtypes import DType
from ..errors import DTypeError, GraphEngineError, ShapeError
from ..graph import Tensor, get_default_graph
from . import registry as _registry
from .registry import apply1, defop
from .source import as_tensor

# A serialized protobuf: TF1's tf.string (the string dtype of graphengine.dtypes when there is
# one). Values are bytes in 0-d object arrays.
string = getattr(_dtypes, "string", None) or DType("string", np.object_)
_registry.__dict__.setdefault("STRING_OPS", set()).add("summary_merge")  # merge reads strings
SUMMARIES = "summaries"  # TF1's tf.GraphKeys.SUMMARIES
INSTALL_HINT = 'pip install -e ".[tensorboard]"  (or: pip install tensorboard)'


def summary_pb2() -> Any:
    try:
        from tensorboard.compat.proto import summary_pb2 as pb
    except ImportError as e:
        raise GraphEngineError(f"TensorBoard summaries need the tensorboard package ({e}); "
                               f"install it: {INSTALL_HINT}") from None
    return pb


def as_bytes_value(b: bytes) -> np.ndarray:
    out = np.empty((), dtype=object)
    out[()] = bytes(b)
    return out


def _bytes(v: Any) -> bytes:
    v = v[()] if isinstance(v, np.ndarray) else v
    if not isinstance(v, bytes):
        raise TypeError(f"expected a serialized Summary (bytes), got {type(v).__name__}")
    return v


# ----- scalar ------------------------------------------------------------------------------------

def _scalar_infer(s, d, a):
    if s[0] is not None and len(s[0]) != 0:
        raise ShapeError(f"a scalar summary takes a scalar (rank-0) tensor, got shape {s[0]}")
    if not (d[0].is_floating or d[0].is_integer or d[0].is_bool):
        raise DTypeError(f"a scalar summary takes a numeric tensor, got {d[0].name}")
    return [((), string)]


def _scalar_ref(a, x):
    pb = summary_pb2()
    s = pb.Summary(value=[pb.Summary.Value(tag=a["tag"], simple_value=float(np.asarray(x).reshape(())))])
    return as_bytes_value(s.SerializeToString())


# ----- histogram: TF1's default buckets (1e-12 growing by 10% up to 1e20, mirrored, and 0) --------

def _default_limits() -> np.ndarray:
    pos = []
    v = 1.0e-12
    while v < 1.0e20:
        pos.append(v)
        v *= 1.1
    pos.append(np.finfo(np.float64).max)
    pos = np.array(pos)
    return np.concatenate([-pos[::-1], [0.0], pos])


_LIMITS = _default_limits()


def histogram_proto(values: np.ndarray) -> Any:
    """A ``HistogramProto`` as TF1's ``HistogramSummary`` encodes it: counts per default bucket
    (bucket i holds limits[i-1] <= v < limits[i]), runs of empty buckets collapsed into one."""
    pb = summary_pb2()
    v = np.asarray(values, np.float64).reshape(-1)
    if np.isnan(v).any():
        raise ValueError("Nan in summary histogram")
    counts = np.bincount(np.searchsorted(_LIMITS, v, side="right"), minlength=len(_LIMITS))
    counts = counts[:len(_LIMITS)]
    limits, buckets = [], []
    i, n = 0, len(_LIMITS)
    while i < n:
        end, c = _LIMITS[i], counts[i]
        i += 1
        if c <= 0:
            while i < n and counts[i] <= 0:
                end, c = _LIMITS[i], counts[i]
                i += 1
        limits.append(float(end))
        buckets.append(float(c))
    return pb.HistogramProto(min=float(v.min()) if v.size else 0.0, max=float(v.max()) if v.size else 0.0,
                             num=float(v.size), sum=float(v.sum()), sum_squares=float(np.dot(v, v)),
                             bucket_limit=limits, bucket=buckets)


def _any_infer(s, d, a):
    if not (d[0].is_floating or d[0].is_integer or d[0].is_bool):
        raise DTypeError(f"a histogram summary takes a numeric tensor, got {d[0].name}")
    return [((), string)]


def _histogram_ref(a, x):
    pb = summary_pb2()
    s = pb.Summary(value=[pb.Summary.Value(tag=a["tag"], histo=histogram_proto(x))])
    return as_bytes_value(s.SerializeToString())


# ----- image ---------------------------------------------------------------------------------------

def png(image: np.ndarray) -> bytes:
    """PNG bytes of an (h, w, c) uint8 image, c in 1 (gray), 3 (RGB), 4 (RGBA)."""
    h, w, c = image.shape
    color = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    raw = b"".join(b"\x00" + image[r].tobytes() for r in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def to_uint8(image: np.ndarray) -> np.ndarray:
    """TF1's ImageSummary conversion: uint8 as is; floats scaled per image so that the largest
    value is 255 when all are >= 0, else so that 0 is 128 and the largest magnitude 127
    away from it. Non-finite pixels become red (255, 0, 0)."""
    if image.dtype == np.uint8:
        return image
    x = image.astype(np.float64)
    fin = np.isfinite(x)
    lo = float(x[fin].min()) if fin.any() else 0.0
    hi = float(x[fin].max()) if fin.any() else 0.0
    if lo < 0:
        m = max(abs(lo), abs(hi))
        scale, off = (0.0 if m < 1e-6 else 127.0 / m), 128.0
    else:
        scale, off = (0.0 if hi < 1e-6 else 255.0 / hi), 0.0
    out = np.clip(np.where(fin, x, 0) * scale + off, 0, 255).astype(np.uint8)
    bad = ~fin.all(axis=-1)
    if bad.any():
        out[bad] = np.array([255, 0, 0, 255][:x.shape[-1]], np.uint8)
    return out


def _image_infer(s, d, a):
    if s[0] is not None and (len(s[0]) != 4 or s[0][-1] not in (None, 1, 3, 4)):
        raise ShapeError(f"an image summary takes [batch, height, width, channels] with 1, 3 or 4 "
                         f"channels, got shape {s[0]}")
    if not (d[0].is_floating or d[0] == np.uint8):
        raise DTypeError(f"an image summary takes uint8 or float images, got {d[0].name}")
    return [((), string)]


def _image_ref(a, x):
    pb = summary_pb2()
    n = min(int(a["max_outputs"]), x.shape[0])
    values = []
    for i in range(n):
        img = to_uint8(x[i])
        tag = f"{a['tag']}/image" if a["max_outputs"] == 1 else f"{a['tag']}/image/{i}"
        values.append(pb.Summary.Value(tag=tag, image=pb.Summary.Image(
            height=img.shape[0], width=img.shape[1], colorspace=img.shape[2], encoded_image_string=png(img))))
    return as_bytes_value(pb.Summary(value=values).SerializeToString())


# ----- merge ---------------------------------------------------------------------------------------

def _merge_infer(s, d, a):
    for dt in d:
        if dt != string:
            raise DTypeError(f"merge takes serialized summaries (string tensors), got {dt.name}")
    return [((), string)]


def _merge_ref(a, *parts):
    pb = summary_pb2()
    out, seen = pb.Summary(), set()
    for p in parts:
        s = pb.Summary.FromString(_bytes(p))
        for v in s.value:
            if v.tag in seen:
                raise ValueError(f"Duplicate tag {v.tag} found in summary inputs")
            seen.add(v.tag)
            out.value.add().CopyFrom(v)
    return as_bytes_value(out.SerializeToString())


_HOST = dict(differentiable=False, stateful=True,  # stateful: never constant-folded into a buffer
             host_only=True)  # never inside a captured CUDA graph
defop("summary_scalar", "host", _scalar_infer, ref=_scalar_ref, **_HOST)
defop("summary_histogram", "host", _any_infer, ref=_histogram_ref, **_HOST)
defop("summary_image", "host", _image_infer, ref=_image_ref, **_HOST)
defop("summary_merge", "host", _merge_infer, ref=_merge_ref, **_HOST)


# ----- builders (TF1 tf.summary.*) --------------------------------------------------------------

def _summary(kind: str, name: str, tensor: Any, collections: Any, attrs: dict) -> Tensor:
    summary_pb2()  # fail at build time, with the install hint, when tensorboard is missing
    graph = get_default_graph()
    # TF1: the op is named like the summary (uniquified in the name scope) and the tag is that
    # name, characters TensorBoard does not allow replaced by "_"
    t = apply1(kind, [as_tensor(tensor)], {"tag": "", **attrs}, re.sub(r"[^-/\w.]", "_", name))
    t.op.attrs["tag"] = t.op.name  # set once, right after building, before anything reads it
    for key in [SUMMARIES] if collections is None else collections:
        graph.add_to_collection(key, t)
    return t


def scalar(name: str, tensor: Any, collections: Any = None, family: Any = None) -> Tensor:
    """A ``Summary`` with one scalar value tagged ``name`` (TF1 ``tf.summary.scalar``)."""
    return _summary("summary_scalar", name, tensor, collections, {})


def histogram(name: str, values: Any, collections: Any = None, family: Any = None) -> Tensor:
    """A ``Summary`` with a histogram of ``values`` in TF1's default buckets."""
    return _summary("summary_histogram", name, values, collections, {})


def image(name: str, tensor: Any, max_outputs: int = 3, collections: Any = None, family: Any = None) -> Tensor:
    """A ``Summary`` with up to ``max_outputs`` PNG images from a [batch, h, w, c] tensor."""
    return _summary("summary_image", name, tensor, collections, {"max_outputs": int(max_outputs)})


def merge(inputs: list, collections: Any = None, name: str | None = None) -> Tensor:
    """One ``Summary`` holding the values of every summary in ``inputs`` (tags must differ)."""
    if not inputs:
        raise ValueError("merge: no summaries to merge")
    t = apply1("summary_merge", list(inputs), {}, name or "Merge/MergeSummary")
    for key in collections or []:
        get_default_graph().add_to_collection(key, t)
    return t


def merge_all(key: str = SUMMARIES, scope: str | None = None, name: str | None = None) -> Tensor | None:
    """All summaries of the ``key`` collection merged into one, or None when there are none (TF1)."""
    items = get_default_graph().get_collection(key)
    if scope:
        items = [t for t in items if t.name.startswith(scope)]
    return merge(items, name=name) if items else None
