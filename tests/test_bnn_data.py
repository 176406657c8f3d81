"""bnn.data: the IDX reader, Fashion-MNIST lookup, digits, and the fixed splits."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from bnn import data as bd  # noqa: E402
from bnn.data import IDXError, find_fashion_mnist, load_dataset, read_idx, write_idx  # noqa: E402


def _idx_bytes(array: np.ndarray, code: int, fmt: str) -> bytes:
    # An independent writer: the format spelled out with struct, one item at a time.
    head = bytes([0, 0, code, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    return head + b"".join(struct.pack(">" + fmt, v) for v in array.ravel().tolist())


@pytest.mark.parametrize(
    ("dtype", "code", "fmt"),
    [(np.uint8, 0x08, "B"), (np.int8, 0x09, "b"), (np.int16, 0x0B, "h"), (np.int32, 0x0C, "i"),
     (np.float32, 0x0D, "f"), (np.float64, 0x0E, "d")],
)
@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_matches_an_independent_encoding(tmp_path, dtype, code, fmt, compress):
    rng = np.random.default_rng(code)
    a = (rng.standard_normal((3, 4, 5)) * 50).astype(dtype)
    raw = _idx_bytes(a, code, fmt)
    path = tmp_path / ("a.idx.gz" if compress else "a.idx")
    path.write_bytes(gzip.compress(raw) if compress else raw)
    out = read_idx(path)
    assert out.dtype == np.dtype(dtype) and out.shape == a.shape
    np.testing.assert_array_equal(out, a)
    # and the writer round-trips through the reader
    back = read_idx(write_idx(tmp_path / "b.idx", a, compress=compress))
    np.testing.assert_array_equal(back, a)


def test_read_idx_rejects_bad_magic(tmp_path):
    good = _idx_bytes(np.zeros((2, 2), np.uint8), 0x08, "B")
    for bad in (b"\x01" + good[1:], good[:2] + b"\x07" + good[3:], good[:3] + b"\x00" + good[4:]):
        (tmp_path / "x").write_bytes(bad)
        with pytest.raises(IDXError, match="magic"):
            read_idx(tmp_path / "x")


def test_read_idx_rejects_truncated_and_oversized_files(tmp_path):
    good = _idx_bytes(np.arange(60, dtype=np.uint8).reshape(3, 4, 5), 0x08, "B")
    p = tmp_path / "x"
    p.write_bytes(good[:-1])
    with pytest.raises(IDXError, match="truncated: dimensions \\(3, 4, 5\\)"):
        read_idx(p)
    p.write_bytes(good[:9])  # inside the dimension header
    with pytest.raises(IDXError, match="truncated header"):
        read_idx(p)
    p.write_bytes(good[:3])
    with pytest.raises(IDXError, match="too short"):
        read_idx(p)
    p.write_bytes(good + b"\x00")
    with pytest.raises(IDXError, match="trailing bytes"):
        read_idx(p)
    gz = gzip.compress(good)
    p.write_bytes(gz[: len(gz) // 2])  # a cut-off download
    with pytest.raises(IDXError, match="truncated or corrupt"):
        read_idx(p)
    assert issubclass(IDXError, ValueError)


def _fake_mnist_folder(folder, n_train=120, n_test=30, gz=True):
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 6, 6), dtype=np.uint8),
        "train_labels": (np.arange(n_train) % 10).astype(np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 6, 6), dtype=np.uint8),
        "test_labels": (np.arange(n_test) % 10).astype(np.uint8),
    }
    for key, stem in bd.IDX_FILES.items():
        write_idx(folder / (stem + (".gz" if gz else "")), arrays[key])
    return arrays


def test_find_fashion_mnist_order_and_error(tmp_path, monkeypatch):
    monkeypatch.setattr(bd, "DEBIAN_FASHION_MNIST", tmp_path / "debian")
    monkeypatch.delenv("BNN_DATA", raising=False)
    with pytest.raises(FileNotFoundError) as err:
        find_fashion_mnist(tmp_path / "mine")
    msg = str(err.value)
    for place in (tmp_path / "mine", tmp_path / "debian"):
        assert str(place) in msg
    assert "apt-get install dataset-fashion-mnist" in msg and "BNN_DATA" in msg
    _fake_mnist_folder(tmp_path / "debian", gz=False)
    assert find_fashion_mnist() == tmp_path / "debian"
    _fake_mnist_folder(tmp_path / "env" / "fashion-mnist")
    monkeypatch.setenv("BNN_DATA", str(tmp_path / "env"))
    assert find_fashion_mnist() == tmp_path / "env" / "fashion-mnist"
    _fake_mnist_folder(tmp_path / "mine")
    assert find_fashion_mnist(tmp_path / "mine") == tmp_path / "mine"


def test_load_dataset_from_an_idx_folder(tmp_path):
    arrays = _fake_mnist_folder(tmp_path / "f")
    s = load_dataset(str(tmp_path / "f"), val_size=20)
    assert s.sizes() == {"train": 100, "val": 20, "test": 30}
    assert s.input_shape == (1, 6, 6) and s.num_classes == 10
    assert s.x_train.dtype == torch.float32 and s.y_train.dtype == torch.int64
    # standardised with the training split's statistics
    assert abs(float(s.x_train.mean())) < 1e-4 and abs(float(s.x_train.std()) - 1) < 1e-2
    # train and validation partition the training file: every image exactly once
    raw = arrays["train_images"].reshape(120, -1).astype(np.float64)
    both = torch.cat([s.x_train, s.x_val]).reshape(120, -1).double().numpy()
    # (standardising is increasing and affine, so sorted rows must match up to it)
    key = np.lexsort(both.T)
    ref = np.lexsort(raw.T)
    np.testing.assert_allclose(np.corrcoef(both[key].ravel(), raw[ref].ravel())[0, 1], 1.0)
    limited = load_dataset(str(tmp_path / "f"), val_size=20, train_limit=10)
    assert limited.sizes()["train"] == 10
    assert limited.x_val.shape == s.x_val.shape


def test_load_dataset_bad_input(tmp_path):
    with pytest.raises(ValueError, match="The 'name' parameter of load_dataset must be"):
        load_dataset(str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match="The 'val_size' parameter of load_dataset must be"):
        load_dataset("digits", val_size=0)
    folder = tmp_path / "f"
    _fake_mnist_folder(folder)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.zeros(29, np.uint8))
    with pytest.raises(IDXError, match="do not match"):
        load_dataset(str(folder))


def test_digits_splits_are_fixed_and_disjoint():
    a, b = load_dataset("digits"), load_dataset("digits")
    assert a.sizes() == {"train": 1222, "val": 216, "test": 359}
    assert sum(a.sizes().values()) == 1797 and a.input_shape == (1, 8, 8)
    torch.testing.assert_close(a.x_test, b.x_test)
    rows = [x.reshape(len(x), -1) for x in (a.x_train, a.x_val, a.x_test)]
    sets = [{tuple(r.tolist()) for r in part} for part in rows]
    # (digits holds a few duplicate images, so allow that many coincidences)
    assert len(sets[0] & sets[2]) <= 3 and len(sets[1] & sets[2]) <= 3


# --- the real Fashion-MNIST (CI installs the Debian package; elsewhere these skip) -----------

try:
    FASHION = find_fashion_mnist()
except FileNotFoundError as exc:
    FASHION, WHY = None, str(exc)
else:
    WHY = ""
needs_fashion = pytest.mark.skipif(FASHION is None, reason=f"Fashion-MNIST not installed: {WHY}")


@needs_fashion
def test_fashion_mnist_files():
    x_test = read_idx(next(FASHION.glob("t10k-images-idx3-ubyte*")))
    y_test = read_idx(next(FASHION.glob("t10k-labels-idx1-ubyte*")))
    y_train = read_idx(next(FASHION.glob("train-labels-idx1-ubyte*")))
    assert x_test.shape == (10_000, 28, 28) and x_test.dtype == np.uint8
    assert y_test.shape == (10_000,) and y_train.shape == (60_000,)
    # Fashion-MNIST is balanced: 6,000 training and 1,000 test images per class
    assert np.bincount(y_train).tolist() == [6000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10


@needs_fashion
def test_fashion_mnist_short_training():
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _short_training()
    finally:
        torch.set_num_threads(saved)


def _short_training():
    from bnn.train import TrainConfig, train

    s = load_dataset("fashion-mnist", train_limit=3000, val_size=1000)
    assert s.sizes() == {"train": 3000, "val": 1000, "test": 10_000}
    assert s.input_shape == (1, 28, 28)
    res = train(TrainConfig(dataset="fashion-mnist", model="mlp", method="ste", epochs=1,
                            verbose=False, progress=False), data=s)
    assert res.test_accuracy > 0.6  # chance is 0.1
