"""Small datasets and a mini-batch iterator. Nothing here downloads anything.

- ``batches``: shuffled (seeded) mini-batches of one or two arrays, optional ``drop_last``.
- ``load_digits`` / ``load_iris``: scikit-learn's bundled data as float32 features (scaled) and
  int64 labels, split into ``(x_train, y_train), (x_test, y_test)`` with a seed.
- ``read_idx`` / ``write_idx`` / ``load_mnist``: the MNIST IDX format, for users who have the files.
- ``load_csv``: a CSV file to float32 features and a label array.
"""
from __future__ import annotations

import csv
import gzip
import os
import struct
from collections.abc import Iterator
from typing import Any

import numpy as np

Split = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def batches(x: Any, y: Any = None, batch_size: int = 32, *, shuffle: bool = True,
            seed: int | np.random.Generator | None = None, drop_last: bool = False,
            shard: tuple[int, int] | None = None) -> Iterator[Any]:
    """Yield mini-batches ``(x_batch, y_batch)`` (or ``x_batch`` when ``y`` is None), one epoch.

    ``seed`` fixes the shuffle; pass one ``np.random.Generator`` to get a different but
    reproducible order every epoch. The last batch is smaller unless ``drop_last``.

    ``shard=(rank, size)`` (data-parallel training, ``graphengine.distributed``): every rank
    shuffles alike (give all ranks the same ``seed``) and takes every ``size``-th row of that
    order from row ``rank`` on, after dropping the ``n % size`` last ones so that all ranks run
    the same number of steps. Step k's batches of all ranks together are then batch k of
    ``batch_size * size`` rows in one process.

    >>> import numpy as np
    >>> x, y = np.arange(10).reshape(5, 2), np.arange(5)
    >>> [yb.tolist() for _, yb in batches(x, y, 2, shuffle=False)]
    [[0, 1], [2, 3], [4]]
    >>> len(list(batches(x, y, 2, seed=0, drop_last=True)))
    2
    >>> [yb.tolist() for _, yb in batches(x, y, 2, shuffle=False, shard=(1, 2))]
    [[1, 3]]
    """
    x = np.asarray(x)
    n = len(x)
    if y is not None:
        y = np.asarray(y)
        if len(y) != n:
            raise ValueError(f"batches: x has {n} rows but y has {len(y)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if shuffle:
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        order = rng.permutation(n)
    else:
        order = np.arange(n)
    if shard is not None:
        rank, size = (int(v) for v in shard)
        if not 0 <= rank < size:
            raise ValueError(f"batches: shard={shard} needs 0 <= rank < size")
        order = order[:n - n % size][rank::size]
        n = len(order)
    stop = n - n % batch_size if drop_last else n
    for i in range(0, stop, batch_size):
        idx = order[i:i + batch_size]
        yield x[idx] if y is None else (x[idx], y[idx])


def num_batches(n: int, batch_size: int, drop_last: bool = False) -> int:
    """How many batches ``batches`` yields for ``n`` rows.

    >>> num_batches(10, 4), num_batches(10, 4, drop_last=True)
    (3, 2)
    """
    return n // batch_size if drop_last else -(-n // batch_size)


def one_hot(labels: Any, depth: int | None = None) -> np.ndarray:
    """float32 one-hot rows for integer labels (TF1 tutorials feed labels this way).

    >>> one_hot([0, 2], 3).tolist()
    [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    """
    labels = np.asarray(labels, dtype=np.int64)
    depth = int(labels.max()) + 1 if depth is None else depth
    return np.eye(depth, dtype=np.float32)[labels]


def _split(x: np.ndarray, y: np.ndarray, test_size: float, seed: int | None) -> Split:
    from sklearn.model_selection import train_test_split
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=test_size, random_state=seed, stratify=y)
    return (xtr, ytr), (xte, yte)


def load_digits(test_size: float = 0.2, seed: int | None = 0) -> Split:
    """scikit-learn's 8x8 digits (1797 images, 10 classes), bundled: no download.

    Features are the 64 pixels scaled to [0, 1] (float32); labels are int64 in 0..9.
    Returns ``(x_train, y_train), (x_test, y_test)``, stratified, split by ``seed``.

    >>> (xtr, ytr), (xte, yte) = load_digits()
    >>> xtr.shape, xtr.dtype, ytr.dtype, float(xtr.max())
    ((1437, 64), dtype('float32'), dtype('int64'), 1.0)
    """
    from sklearn.datasets import load_digits as sk_digits
    d = sk_digits()
    return _split((d.data / 16.0).astype(np.float32), d.target.astype(np.int64), test_size, seed)


def load_iris(test_size: float = 0.2, seed: int | None = 0) -> Split:
    """scikit-learn's iris (150 flowers, 4 features, 3 classes), bundled: no download.

    Features are standardized with the training split's mean and std (float32); labels int64.

    >>> (xtr, ytr), (xte, yte) = load_iris()
    >>> xtr.shape, yte.shape, sorted(set(ytr.tolist()))
    ((120, 4), (30,), [0, 1, 2])
    """
    from sklearn.datasets import load_iris as sk_iris
    d = sk_iris()
    (xtr, ytr), (xte, yte) = _split(d.data, d.target.astype(np.int64), test_size, seed)
    mean, std = xtr.mean(0), xtr.std(0)
    return ((((xtr - mean) / std).astype(np.float32), ytr),
            (((xte - mean) / std).astype(np.float32), yte))


# ----- IDX (MNIST) -------------------------------------------------------------------------

_IDX_TYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_IDX_CODES = {dt.newbyteorder("=").kind + str(dt.itemsize): code for code, dt in _IDX_TYPES.items()}


def _open(path: str):
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gz else open(path, "rb")


def read_idx(path: str) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzip-compressed or raw, into a native-endian array.

    >>> # images = read_idx("train-images-idx3-ubyte.gz")   # (60000, 28, 28) uint8
    """
    with _open(path) as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise ValueError(f"{path!r} is not an IDX file (bad magic number {data[:4]!r})")
    dt, ndim = _IDX_TYPES[data[2]], data[3]
    head = 4 + 4 * ndim
    if len(data) < head:
        raise ValueError(f"{path!r}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", data[4:head])
    expected = int(np.prod(shape)) * dt.itemsize
    if len(data) - head != expected:
        raise ValueError(f"{path!r}: IDX header says shape {shape} ({expected} bytes of data) "
                         f"but the file holds {len(data) - head}")
    return np.frombuffer(data, dt, offset=head).reshape(shape).astype(dt.newbyteorder("="))


def write_idx(path: str, array: Any) -> None:
    """Write ``array`` as an IDX file (gzip-compressed when ``path`` ends in .gz).

    >>> # write_idx("labels-idx1-ubyte", np.array([3, 1, 4], np.uint8))
    """
    a = np.asarray(array)
    key = a.dtype.kind + str(a.dtype.itemsize)
    if key not in _IDX_CODES:
        raise TypeError(f"IDX cannot store dtype {a.dtype}; use uint8, int8, int16, int32, float32 "
                        "or float64")
    code = _IDX_CODES[key]
    blob = bytes([0, 0, code, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
    blob += a.astype(_IDX_TYPES[code]).tobytes()
    with (gzip.open(path, "wb") if os.fspath(path).endswith(".gz") else open(path, "wb")) as f:
        f.write(blob)


_MNIST = {"x_train": "train-images", "y_train": "train-labels",
          "x_test": "t10k-images", "y_test": "t10k-labels"}


def _find_idx(directory: str, stem: str) -> str | None:
    kind = "idx3" if "images" in stem else "idx1"
    for sep in ("-", "."):  # "train-images-idx3-ubyte" and Kaggle's "train-images.idx3-ubyte"
        for ext in (".gz", ""):
            p = os.path.join(directory, f"{stem}{sep}{kind}-ubyte{ext}")
            if os.path.exists(p):
                return p
    return None


def load_mnist(directory: str, flatten: bool = True) -> Split:
    """MNIST (or Fashion-MNIST) from the four IDX files in ``directory`` (.gz or raw).

    Images become float32 in [0, 1], shape (n, 784) (or (n, 28, 28) with ``flatten=False``);
    labels int64. Nothing is downloaded: get the files yourself.

    >>> # (x_train, y_train), (x_test, y_test) = load_mnist("~/data/mnist")
    """
    directory = os.path.expanduser(os.fspath(directory))
    paths = {k: _find_idx(directory, stem) for k, stem in _MNIST.items()}
    missing = [f"{_MNIST[k]}-idx{'3' if k[0] == 'x' else '1'}-ubyte[.gz]"
               for k, p in paths.items() if p is None]
    if missing:
        raise FileNotFoundError(f"load_mnist: {directory!r} lacks {', '.join(missing)}")
    out = {}
    for k, p in paths.items():
        a = read_idx(p)
        if k[0] == "x":
            a = a.astype(np.float32) / 255.0
            a = a.reshape(len(a), -1) if flatten else a
        else:
            a = a.astype(np.int64)
        out[k] = a
    for part in ("train", "test"):
        if len(out[f"x_{part}"]) != len(out[f"y_{part}"]):
            raise ValueError(f"load_mnist: {len(out[f'x_{part}'])} {part} images but "
                             f"{len(out[f'y_{part}'])} labels")
    return (out["x_train"], out["y_train"]), (out["x_test"], out["y_test"])


# ----- CSV ---------------------------------------------------------------------------------

def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def load_csv(path: str, label_column: int | str | None = -1, delimiter: str = ",",
             header: bool | None = None) -> Any:
    """Read a numeric CSV into ``(x, y)``: float32 features and the ``label_column`` labels.

    ``label_column`` is an index (default: the last column), a header name, or None (return
    ``x`` only). ``header=None`` detects a header row (one with a non-numeric field). Labels
    that are all integers become int64, other numbers float32, and strings become int64 codes
    of their sorted unique values.

    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "d.csv")
    >>> _ = open(p, "w").write("a,b,label\\n1,2,0\\n3,4,1\\n")
    >>> x, y = load_csv(p, label_column="label")
    >>> x.tolist(), y.tolist()
    ([[1.0, 2.0], [3.0, 4.0]], [0, 1])
    """
    with open(path, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.reader(f, delimiter=delimiter) if r and any(c.strip() for c in r)]
    if not rows:
        raise ValueError(f"load_csv: {path!r} is empty")
    if header is None:
        header = not all(_is_number(c) for c in rows[0])
    names = [c.strip() for c in rows[0]] if header else None
    rows = rows[1:] if header else rows
    width = len(rows[0]) if rows else len(names or [])
    for i, r in enumerate(rows):
        if len(r) != width:
            raise ValueError(f"load_csv: line {i + 1 + bool(header)} of {path!r} has {len(r)} fields, "
                             f"expected {width}")
    if isinstance(label_column, str):
        if names is None or label_column not in names:
            raise ValueError(f"load_csv: no column named {label_column!r} (header: {names})")
        label_column = names.index(label_column)
    cols = list(zip(*rows, strict=True)) if rows else [() for _ in range(width)]
    label_idx = None if label_column is None else range(width)[label_column]
    feats = [c for j, c in enumerate(cols) if j != label_idx]
    try:
        x = np.array(feats, dtype=np.float32).T.reshape(len(rows), len(feats))
    except ValueError as e:
        raise ValueError(f"load_csv: a feature column of {path!r} is not numeric: {e}") from None
    if label_idx is None:
        return x
    raw = [c.strip() for c in cols[label_idx]]
    if all(_is_number(c) for c in raw):
        y = np.array([float(c) for c in raw])
        y = y.astype(np.int64) if np.all(y == np.round(y)) else y.astype(np.float32)
    else:
        classes = sorted(set(raw))
        y = np.array([classes.index(c) for c in raw], dtype=np.int64)
    return x, y


__all__ = ["batches", "load_csv", "load_digits", "load_iris", "load_mnist", "num_batches",
           "one_hot", "read_idx", "write_idx"]
