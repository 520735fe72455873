"""graphengine.datasets: batching, bundled loaders, IDX and CSV readers."""
import gzip
import struct

import numpy as np
import pytest

from graphengine import datasets as ds


def test_batches_cover_every_row_once_and_are_seeded():
    x, y = np.arange(20).reshape(10, 2), np.arange(10)
    got = list(ds.batches(x, y, 3, seed=1))
    assert [len(b[1]) for b in got] == [3, 3, 3, 1]
    ys = np.concatenate([b[1] for b in got])
    assert sorted(ys.tolist()) == list(range(10)) and ys.tolist() != list(range(10))
    for xb, yb in got:
        np.testing.assert_array_equal(xb, x[yb])  # rows stay paired
    again = np.concatenate([b[1] for b in ds.batches(x, y, 3, seed=1)])
    np.testing.assert_array_equal(ys, again)
    rng = np.random.default_rng(0)
    e1 = np.concatenate([b for b in ds.batches(y, None, 4, seed=rng)])
    e2 = np.concatenate([b for b in ds.batches(y, None, 4, seed=rng)])
    assert e1.tolist() != e2.tolist()  # one generator: a new order every epoch


def test_batches_drop_last_no_shuffle_and_errors():
    x = np.arange(7)
    assert [b.tolist() for b in ds.batches(x, batch_size=3, shuffle=False, drop_last=True)] == \
        [[0, 1, 2], [3, 4, 5]]
    assert ds.num_batches(7, 3) == 3 and ds.num_batches(7, 3, drop_last=True) == 2
    with pytest.raises(ValueError, match="7 rows but y has 6"):
        list(ds.batches(x, np.arange(6), 2))
    with pytest.raises(ValueError, match="batch_size"):
        list(ds.batches(x, batch_size=0))


def test_one_hot():
    assert ds.one_hot([1, 0], 3).tolist() == [[0, 1, 0], [1, 0, 0]]
    assert ds.one_hot([2]).shape == (1, 3)


def test_load_digits_split_dtypes_and_scaling():
    (xtr, ytr), (xte, yte) = ds.load_digits(test_size=0.25, seed=3)
    assert xtr.dtype == np.float32 and ytr.dtype == np.int64
    assert len(xtr) + len(xte) == 1797 and abs(len(xte) - 0.25 * 1797) < 2
    assert xtr.min() == 0.0 and xtr.max() == 1.0
    assert sorted(set(yte.tolist())) == list(range(10))
    (xtr2, _), _ = ds.load_digits(test_size=0.25, seed=3)
    np.testing.assert_array_equal(xtr, xtr2)
    (xtr3, _), _ = ds.load_digits(test_size=0.25, seed=4)
    assert not np.array_equal(xtr, xtr3)


def test_load_iris_is_standardized_on_train():
    (xtr, ytr), (xte, yte) = ds.load_iris(seed=0)
    assert xtr.shape == (120, 4) and xte.shape == (30, 4) and yte.dtype == np.int64
    np.testing.assert_allclose(xtr.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(xtr.std(0), 1, atol=1e-5)


def _raw_idx(code, dims, payload):
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + payload


def test_read_idx_handwritten_bytes_raw_and_gzip(tmp_path):
    img = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "img").write_bytes(_raw_idx(0x08, (2, 3, 4), img.tobytes()))
    np.testing.assert_array_equal(ds.read_idx(str(tmp_path / "img")), img)
    vals = np.array([1.5, -2.0], dtype=">f4")
    with gzip.open(tmp_path / "f.gz", "wb") as f:
        f.write(_raw_idx(0x0D, (2,), vals.tobytes()))
    got = ds.read_idx(str(tmp_path / "f.gz"))
    assert got.dtype == np.float32 and got.tolist() == [1.5, -2.0]
    ints = np.array([1, -70000], dtype=">i4")
    (tmp_path / "i").write_bytes(_raw_idx(0x0C, (2,), ints.tobytes()))
    assert ds.read_idx(str(tmp_path / "i")).tolist() == [1, -70000]


def test_read_idx_rejects_bad_files(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="not an IDX file"):
        ds.read_idx(str(tmp_path / "bad"))
    (tmp_path / "short").write_bytes(_raw_idx(0x08, (5,), b"\x00\x01"))
    with pytest.raises(ValueError, match="holds 2"):
        ds.read_idx(str(tmp_path / "short"))


def test_write_idx_round_trip(tmp_path):
    for arr, name in [(np.arange(6, dtype=np.int16).reshape(2, 3), "a"),
                      (np.linspace(0, 1, 5), "b.gz")]:
        ds.write_idx(str(tmp_path / name), arr)
        np.testing.assert_array_equal(ds.read_idx(str(tmp_path / name)), arr)
    with pytest.raises(TypeError, match="cannot store"):
        ds.write_idx(str(tmp_path / "c"), np.zeros(2, np.int64))


@pytest.mark.parametrize("sep,ext", [("-", ".gz"), (".", "")])
def test_load_mnist_from_small_files(tmp_path, sep, ext):
    rng = np.random.default_rng(0)
    sizes = {"train": 6, "t10k": 3}
    for part, n in sizes.items():
        ds.write_idx(str(tmp_path / f"{part}-images{sep}idx3-ubyte{ext}"),
                     rng.integers(0, 256, (n, 28, 28)).astype(np.uint8))
        ds.write_idx(str(tmp_path / f"{part}-labels{sep}idx1-ubyte{ext}"),
                     rng.integers(0, 10, n).astype(np.uint8))
    (xtr, ytr), (xte, yte) = ds.load_mnist(str(tmp_path))
    assert xtr.shape == (6, 784) and xte.shape == (3, 784) and xtr.dtype == np.float32
    assert 0 <= xtr.min() and xtr.max() <= 1 and ytr.dtype == np.int64 and yte.shape == (3,)
    (x3, _), _ = ds.load_mnist(str(tmp_path), flatten=False)
    assert x3.shape == (6, 28, 28)


def test_load_mnist_names_missing_files(tmp_path):
    ds.write_idx(str(tmp_path / "train-images-idx3-ubyte"), np.zeros((1, 2, 2), np.uint8))
    with pytest.raises(FileNotFoundError, match="train-labels-idx1-ubyte.*t10k-images"):
        ds.load_mnist(str(tmp_path))


def test_load_csv_header_labels_and_errors(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("a,b,species\n1,2,setosa\n3.5,4,virginica\n5,6,setosa\n")
    x, y = ds.load_csv(str(p), label_column="species")
    assert x.dtype == np.float32 and x.tolist() == [[1, 2], [3.5, 4], [5, 6]]
    assert y.dtype == np.int64 and y.tolist() == [0, 1, 0]
    q = tmp_path / "n.csv"
    q.write_text("0,1.5,2\n1,2.5,3\n")
    x, y = ds.load_csv(str(q), label_column=0)
    assert x.tolist() == [[1.5, 2], [2.5, 3]] and y.tolist() == [0, 1] and y.dtype == np.int64
    x, y = ds.load_csv(str(q))
    assert y.tolist() == [2, 3]
    assert ds.load_csv(str(q), label_column=None).shape == (2, 3)
    r = tmp_path / "r.csv"
    r.write_text("1;0.5\n2;0.25\n")
    _, y = ds.load_csv(str(r), delimiter=";")
    assert y.dtype == np.float32 and y.tolist() == [0.5, 0.25]
    (tmp_path / "ragged.csv").write_text("1,2\n3\n")
    with pytest.raises(ValueError, match="line 2"):
        ds.load_csv(str(tmp_path / "ragged.csv"))
    with pytest.raises(ValueError, match="no column named"):
        ds.load_csv(str(p), label_column="label")
