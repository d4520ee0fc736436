"""Built-in datasets that need no network: scikit-learn's digits, MNIST-format IDX files a user
has downloaded, and folders of images (one sub-folder per class).

Everything is decoded on the host into NumPy arrays; images are stored as (N, C, H, W).
Folders of images are read lazily by ``ImageFolder`` (images.py).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from tinygrad_cnn.data.dataset import TensorDataset
from tinygrad_cnn.data.transforms import ToFloat

FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]


# --------------------------------------------------------------------------- digits


def load_digits(transform=None) -> TensorDataset:
    """scikit-learn's bundled 8x8 handwritten digits: 1,797 images, 10 classes, no download.

    Returns a TensorDataset of images (1797, 1, 8, 8) float32 scaled to [0, 1] (the raw values
    are 0..16) and labels (1797,) int64, with ``classes = ["0", ..., "9"]``.
    Needs scikit-learn (``pip install scikit-learn`` or the ``main`` extra).
    """
    try:
        from sklearn.datasets import load_digits as _sk_load_digits  # noqa: PLC0415
    except ImportError as e:
        raise ImportError(
            f"load_digits needs scikit-learn ({e}); install it with "
            "pip install scikit-learn (or pip install 'tinygrad_cnn[main]')"
        ) from None
    bunch = _sk_load_digits()
    images = (bunch.images.astype(np.float32) / 16.0)[:, None, :, :]  # (1797, 1, 8, 8)
    labels = bunch.target.astype(np.int64)
    return TensorDataset(images, labels, transform=transform,
                         classes=[str(c) for c in range(10)])


# --------------------------------------------------------------------------- IDX (MNIST)

_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path) -> np.ndarray:
    """Read one IDX file (the MNIST / Fashion-MNIST format), gzipped or not.

    The header is two zero bytes, a type code, the number of dimensions, then each dimension
    as a big-endian uint32; the values follow in C order.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file not found: {path}")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":  # gzip magic, whatever the file is called
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise ValueError(f"{path}: corrupt gzip data ({e})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path}: not an IDX file (bad magic number {raw[:4].hex()})")
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(f"{path}: IDX header says shape {shape} ({expected} bytes of data) "
                         f"but the file has {len(raw) - header}")
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def _find_idx(root: Path, stem: str) -> Path:
    dotted = stem.replace("-idx", ".idx")  # some mirrors name them train-images.idx3-ubyte
    for name in (stem, stem + ".gz", dotted, dotted + ".gz"):
        if (root / name).is_file():
            return root / name
    raise FileNotFoundError(f"{root}: no {stem} or {stem}.gz (the MNIST IDX file names)")


def load_mnist(path, train: bool = True, transform=None, classes=None) -> TensorDataset:
    """MNIST (or Fashion-MNIST) from the standard IDX files in the folder ``path``.

    Expects ``train-images-idx3-ubyte`` / ``train-labels-idx1-ubyte`` (``t10k-...`` for
    ``train=False``), gzipped (``.gz``) or not. Returns a TensorDataset of uint8 images
    (N, 1, 28, 28) and int64 labels whose transform (default ``ToFloat(1/255)``) turns each
    batch into float32 in [0, 1].
    """
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"MNIST folder not found: {root}")
    prefix = "train" if train else "t10k"
    images = read_idx(_find_idx(root, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(_find_idx(root, f"{prefix}-labels-idx1-ubyte"))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"{root}: expected images (N, H, W) and labels (N,), got "
                         f"{images.shape} and {labels.shape}")
    if classes is None:
        classes = [str(c) for c in range(10)]
    return TensorDataset(images[:, None], labels.astype(np.int64),
                         transform=ToFloat(1 / 255) if transform is None else transform,
                         classes=classes)


def load_fashion_mnist(path, train: bool = True, transform=None) -> TensorDataset:
    """Fashion-MNIST from its IDX files (same format and names as MNIST), with its class names."""
    return load_mnist(path, train=train, transform=transform, classes=FASHION_MNIST_CLASSES)


# --------------------------------------------------------------------------- image folders
# ImageFolder and load_image live in images.py; imported here so older imports keep working.
from tinygrad_cnn.data.images import IMAGE_EXTENSIONS, ImageFolder, load_image  # noqa: E402,F401
