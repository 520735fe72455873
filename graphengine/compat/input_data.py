"""``tensorflow.examples.tutorials.mnist.input_data`` for TF1 tutorials run by
``python -m graphengine.tf1``: ``read_data_sets(dir, one_hot=...)`` with TF1's ``DataSet``
surface (``.train.next_batch(n)``, ``.test.images``, ``.test.labels``, ``.num_examples``).

It reads the four MNIST IDX files (``train-images-idx3-ubyte.gz`` ...) from ``dir`` (relative to
the working directory, or else to the program's directory) with
``graphengine.datasets.load_mnist``. Nothing is downloaded: without the files it raises, saying
where to put them. For offline classrooms, ``GRAPHENGINE_MNIST_STANDIN=digits`` (or the runner's
``--mnist-standin``) serves a stand-in built from scikit-learn's bundled 8x8 digits, scaled up to
28x28 so programs written for MNIST's 784 inputs run unchanged (1437 training and 360 test
images; accuracy numbers are not MNIST's).
"""
from __future__ import annotations

import os
import sys
from collections import namedtuple
from typing import Any

import numpy as np

from .. import datasets as _data

STANDIN_ENV = "GRAPHENGINE_MNIST_STANDIN"
FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
         "t10k-labels-idx1-ubyte.gz")
Datasets = namedtuple("Datasets", ["train", "validation", "test"])


class DataSet:
    """Images and labels with TF1's ``next_batch`` (shuffled each epoch; a batch that crosses an
    epoch boundary is completed from the next epoch, as TF1's)."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, seed: int | None = None) -> None:
        self._images, self._labels = images, labels
        self._num_examples = len(images)
        self._epochs_completed = 0
        self._index_in_epoch = 0
        self._rng = np.random.default_rng(seed)

    images = property(lambda self: self._images)
    labels = property(lambda self: self._labels)
    num_examples = property(lambda self: self._num_examples)
    epochs_completed = property(lambda self: self._epochs_completed)

    def _shuffle(self) -> None:
        perm = self._rng.permutation(self._num_examples)
        self._images, self._labels = self._images[perm], self._labels[perm]

    def next_batch(self, batch_size: int, fake_data: bool = False, shuffle: bool = True) -> tuple:
        start = self._index_in_epoch
        if self._epochs_completed == 0 and start == 0 and shuffle:
            self._shuffle()
        if start + batch_size <= self._num_examples:
            self._index_in_epoch += batch_size
            end = self._index_in_epoch
            return self._images[start:end], self._labels[start:end]
        self._epochs_completed += 1
        rest_x, rest_y = self._images[start:], self._labels[start:]
        if shuffle:
            self._shuffle()
        self._index_in_epoch = batch_size - len(rest_x)
        end = self._index_in_epoch
        return (np.concatenate((rest_x, self._images[:end]), axis=0),
                np.concatenate((rest_y, self._labels[:end]), axis=0))


def _digits_as_mnist() -> tuple:
    """The bundled 8x8 digits, each pixel repeated 3x3 and padded to 28x28 (MNIST's layout)."""
    (xtr, ytr), (xte, yte) = _data.load_digits()

    def up(x: np.ndarray) -> np.ndarray:
        big = np.repeat(np.repeat(x.reshape(-1, 8, 8), 3, axis=1), 3, axis=2)
        return np.pad(big, ((0, 0), (2, 2), (2, 2)))
    return (up(xtr), ytr), (up(xte), yte)


def _locate(train_dir: str) -> str | None:
    d = os.path.expanduser(os.fspath(train_dir))
    candidates = [d]
    if not os.path.isabs(d) and sys.argv and sys.argv[0]:
        candidates.append(os.path.join(os.path.dirname(os.path.abspath(sys.argv[0])), d))
    for c in candidates:
        if _data._find_idx(c, "train-images") is not None:
            return c
    return None


def read_data_sets(train_dir: str, fake_data: bool = False, one_hot: bool = False, dtype: Any = None,
                   reshape: bool = True, validation_size: int = 5000, seed: int | None = None,
                   source_url: str | None = None) -> Datasets:
    """MNIST as TF1's ``input_data.read_data_sets``: images float32 in [0, 1] (``dtype=uint8``:
    0..255), flat (n, 784) unless ``reshape=False`` (n, 28, 28, 1); labels uint8, or float64
    one-hot rows with ``one_hot=True``; ``validation_size`` images split off the training set."""
    found = _locate(train_dir)
    if found is not None:
        (xtr, ytr), (xte, yte) = _data.load_mnist(found, flatten=False)
    elif os.environ.get(STANDIN_ENV, "").lower() in ("digits", "1", "true", "yes"):
        (xtr, ytr), (xte, yte) = _digits_as_mnist()
        validation_size = min(validation_size, len(xtr) // 10)
        print(f"graphengine: MNIST files not found in {train_dir!r}; using the digits stand-in "
              f"({STANDIN_ENV}): {len(xtr) - validation_size} training, {len(xte)} test images",
              file=sys.stderr)
    else:
        where = os.path.abspath(os.path.expanduser(os.fspath(train_dir)))
        raise FileNotFoundError(
            f"read_data_sets: no MNIST files in {train_dir!r} ({where}). graphengine downloads "
            f"nothing: put {', '.join(FILES)} there (raw or .gz, from the MNIST site or a mirror), "
            f"or set {STANDIN_ENV}=digits (python -m graphengine.tf1 --mnist-standin ...) to use a "
            "stand-in built from the bundled 8x8 digits.")
    if not 0 <= validation_size <= len(xtr):
        raise ValueError(f"validation_size must be between 0 and {len(xtr)}, got {validation_size}")
    as_uint8 = dtype is not None and np.dtype(getattr(dtype, "as_numpy_dtype", dtype)) == np.uint8

    def images(x: np.ndarray) -> np.ndarray:
        x = np.rint(x * 255).astype(np.uint8) if as_uint8 else x.astype(np.float32)
        return x.reshape(len(x), -1) if reshape else x.reshape(len(x), 28, 28, 1)

    def labels(y: np.ndarray) -> np.ndarray:
        return np.eye(10)[y] if one_hot else y.astype(np.uint8)

    train = DataSet(images(xtr[validation_size:]), labels(ytr[validation_size:]), seed)
    validation = DataSet(images(xtr[:validation_size]), labels(ytr[:validation_size]), seed)
    return Datasets(train, validation, DataSet(images(xte), labels(yte), seed))


def load_mnist(train_dir: str = "MNIST-data") -> Datasets:
    return read_data_sets(train_dir)
