"""Datasets for the BNN experiments: an IDX reader, digits, Fashion-MNIST, and fixed splits.

Every dataset comes back as a :class:`Splits` of float32 image tensors ``(N, 1, H, W)``, standardised
with the training split's mean and standard deviation, and int64 labels. The validation split is
carved from the training set by a permutation with a fixed seed (``split_seed``), independent of the
training seed, so every method and seed is compared on the same images; it alone chooses epochs and
hyperparameters, and the test split is only evaluated once per reported number.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lowrank_sdp.validation import invalid

# IDX type codes -> big-endian numpy dtypes (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT").
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

#: The four files of an MNIST-format dataset, read with or without a ``.gz`` suffix.
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

#: Where ``apt-get install dataset-fashion-mnist`` (Debian/Ubuntu) puts the four files.
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

DATASETS = ("digits", "fashion-mnist")


class IDXError(ValueError):
    """A file that is not a well-formed IDX file (bad magic number, truncated, wrong size)."""


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzipped or not, told apart by its first bytes) into a numpy array.

    Checks the magic number (two zero bytes, a known type code, a dimension count), that the header
    is complete, and that the data holds exactly prod(dims) items; raises :class:`IDXError` (a
    ValueError) naming the file and what is wrong.
    """
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(2)
    try:
        opener = gzip.open if head == b"\x1f\x8b" else open
        with opener(path, "rb") as f:
            raw = f.read()
    except (EOFError, OSError, gzip.BadGzipFile) as exc:  # a cut-off or corrupt .gz
        raise IDXError(f"{path}: cannot decompress ({exc}); the file is truncated or corrupt") from exc
    if len(raw) < 4:
        raise IDXError(f"{path}: {len(raw)} bytes, too short for an IDX header (4-byte magic)")
    zero0, zero1, code, ndim = raw[0], raw[1], raw[2], raw[3]
    if zero0 != 0 or zero1 != 0 or code not in _IDX_DTYPES or ndim == 0:
        raise IDXError(
            f"{path}: bad IDX magic number 0x{raw[:4].hex()} (expected 0x0000TTDD with type "
            f"TT in {{08, 09, 0b, 0c, 0d, 0e}} and DD >= 1 dimensions)"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IDXError(f"{path}: truncated header ({len(raw)} bytes, {ndim} dimensions need {header})")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    found = len(raw) - header
    if found != expected:
        what = "truncated" if found < expected else "has trailing bytes"
        raise IDXError(
            f"{path}: {what}: dimensions {dims} of {dtype.name} need {expected} data bytes, "
            f"found {found}"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    return data.astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike, array: np.ndarray, compress: bool | None = None) -> Path:
    """Write `array` as an IDX file (gzipped when `compress`, or when the name ends in .gz)."""
    path = Path(path)
    array = np.asarray(array)
    codes = {dt.newbyteorder("="): c for c, dt in _IDX_DTYPES.items()}
    code = codes.get(array.dtype.newbyteorder("="))
    if code is None or array.ndim == 0:
        raise invalid("array", "write_idx", "a numpy array of an IDX type with ndim >= 1", array.dtype)
    body = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    body += array.astype(_IDX_DTYPES[code]).tobytes()
    compress = path.suffix == ".gz" if compress is None else compress
    path.write_bytes(gzip.compress(body, mtime=0) if compress else body)
    return path


def _idx_file(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def _has_idx_set(folder: Path) -> bool:
    return all(_idx_file(folder, stem) is not None for stem in IDX_FILES.values())


def find_fashion_mnist(data_dir: str | os.PathLike | None = None) -> Path:
    """The folder holding Fashion-MNIST's four IDX files.

    Looks in `data_dir`, then ``$BNN_DATA``, then the Debian package's location (each folder
    itself and its ``fashion-mnist`` subfolder). Raises FileNotFoundError listing where it looked
    and how to get the files.
    """
    roots: list[Path] = []
    if data_dir is not None:
        roots.append(Path(data_dir))
    if os.environ.get("BNN_DATA"):
        roots.append(Path(os.environ["BNN_DATA"]))
    roots.append(DEBIAN_FASHION_MNIST)
    looked: list[str] = []
    for root in roots:
        for folder in (root, root / "fashion-mnist"):
            looked.append(str(folder))
            if _has_idx_set(folder):
                return folder
    names = ", ".join(f"{n}[.gz]" for n in IDX_FILES.values())
    raise FileNotFoundError(
        "Fashion-MNIST not found: looked for " + names + " in " + "; ".join(looked) + ". "
        "Get it with `sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu, installs to "
        f"{DEBIAN_FASHION_MNIST}), or download the four files from "
        "https://github.com/zalandoresearch/fashion-mnist into a folder and pass --data-dir "
        "or set BNN_DATA."
    )


def load_idx_folder(folder: str | os.PathLike) -> tuple[np.ndarray, ...]:
    """(train_images, train_labels, test_images, test_labels) from an MNIST-format folder."""
    folder = Path(folder)
    arrays = []
    for stem in IDX_FILES.values():
        path = _idx_file(folder, stem)
        if path is None:
            raise FileNotFoundError(f"{folder}: no {stem} or {stem}.gz (an MNIST-format folder)")
        arrays.append(read_idx(path))
    xtr, ytr, xte, yte = arrays
    for x, y, part in ((xtr, ytr, "train"), (xte, yte, "test")):
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise IDXError(
                f"{folder}: {part} images {x.shape} and labels {y.shape} do not match "
                "(expected (N, H, W) and (N,))"
            )
    if xtr.shape[1:] != xte.shape[1:]:
        raise IDXError(f"{folder}: train images {xtr.shape[1:]} and test {xte.shape[1:]} differ")
    return xtr, ytr, xte, yte


@dataclass(frozen=True)
class Splits:
    """Train/validation/test tensors of one dataset: images (N, 1, H, W) float32, labels int64."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)}


def _splits(name, xtr, ytr, xte, yte, val_size, split_seed, train_limit) -> Splits:
    n = len(ytr)
    if not 0 < val_size < n:
        raise invalid("val_size", "load_dataset", f"an int in [1, {n - 1}]", val_size)
    perm = np.random.default_rng(split_seed).permutation(n)
    val, train = perm[:val_size], perm[val_size:]
    if train_limit is not None:
        train = train[:train_limit]  # a fixed subset: the first of the same permutation
    xtr = xtr.astype(np.float32)
    mean, std = float(xtr[train].mean()), float(xtr[train].std()) or 1.0

    def t(x):
        return torch.from_numpy((np.asarray(x, np.float32) - mean) / std).unsqueeze(1).contiguous()

    def lab(y):
        return torch.from_numpy(np.asarray(y, np.int64))

    return Splits(
        name=name,
        x_train=t(xtr[train]),
        y_train=lab(ytr[train]),
        x_val=t(xtr[val]),
        y_val=lab(ytr[val]),
        x_test=t(xte),
        y_test=lab(yte),
        num_classes=int(max(ytr.max(), yte.max())) + 1,
    )


def load_dataset(
    name: str = "digits",
    data_dir: str | os.PathLike | None = None,
    val_size: int | None = None,
    split_seed: int = 0,
    train_limit: int | None = None,
) -> Splits:
    """Load `name` ("digits", "fashion-mnist", or a folder of IDX files) as fixed splits.

    digits: scikit-learn's 1797 8x8 images; a fixed 20% is the test set, and `val_size` (default
    15% of the rest) is the validation set. Fashion-MNIST (or any IDX folder): the official
    10,000-image test set, and `val_size` (default 10,000) images of the training set for
    validation. `train_limit` keeps only that many training images (a fixed subset).
    """
    if not isinstance(name, str):
        raise invalid("name", "load_dataset", '"digits", "fashion-mnist" or a folder', name)
    if train_limit is not None and (isinstance(train_limit, bool) or int(train_limit) < 1):
        raise invalid("train_limit", "load_dataset", "a positive int or None", train_limit)
    if name == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        x = d.images.astype(np.float32)
        y = d.target.astype(np.int64)
        perm = np.random.default_rng(12345).permutation(len(y))  # the fixed test split
        n_test = len(y) // 5
        test, rest = perm[:n_test], perm[n_test:]
        val_size = round(0.15 * len(rest)) if val_size is None else val_size
        return _splits("digits", x[rest], y[rest], x[test], y[test], val_size, split_seed,
                       train_limit)
    if name == "fashion-mnist":
        folder = find_fashion_mnist(data_dir)
    elif Path(name).is_dir():
        folder = Path(name)
    else:
        raise invalid("name", "load_dataset", '"digits", "fashion-mnist" or an existing folder',
                      name)
    xtr, ytr, xte, yte = load_idx_folder(folder)
    label = "fashion-mnist" if name == "fashion-mnist" else str(folder)
    val_size = 10_000 if val_size is None else val_size
    return _splits(label, xtr, ytr, xte, yte, val_size, split_seed, train_limit)
