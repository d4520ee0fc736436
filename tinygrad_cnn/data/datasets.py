"""Built-in datasets that need no network: scikit-learn's digits, MNIST-format IDX files a user
has downloaded, and folders of images (one sub-folder per class).

Everything is decoded on the host into NumPy arrays; images are stored as (N, C, H, W).
"""

from __future__ import annotations

import gzip
import logging
import os
from pathlib import Path

import numpy as np

from tinygrad_cnn.data.dataset import Dataset, TensorDataset
from tinygrad_cnn.data.transforms import ToFloat

logger = logging.getLogger("tinygrad_cnn.data")

FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm",
                    ".pgm")


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


def _pillow():
    try:
        from PIL import Image  # noqa: PLC0415 - optional dependency
    except ImportError as e:
        raise ImportError(f"reading images needs Pillow ({e}); install it with pip install "
                          "pillow (or pip install 'tinygrad_cnn[main]')") from None
    return Image


def load_image(path, image_size=(64, 64)) -> np.ndarray:
    """Decode one image file into uint8 (3, H, W): converted to RGB, resized to ``image_size``."""
    Image = _pillow()
    height, width = (image_size, image_size) if isinstance(image_size, int) else image_size
    try:
        with Image.open(path) as img:
            img = img.convert("RGB").resize((int(width), int(height)), Image.BILINEAR)
            array = np.asarray(img, dtype=np.uint8)  # (H, W, 3)
    except FileNotFoundError:
        raise FileNotFoundError(f"image not found: {path}") from None
    except Exception as e:  # Pillow raises UnidentifiedImageError, OSError, SyntaxError, ...
        raise OSError(f"cannot read image {path}: {type(e).__name__}: {e}") from None
    return np.ascontiguousarray(array.transpose(2, 0, 1))


class ImageFolder(Dataset):
    """Images in ``root/<class name>/<file>``, labelled by folder (classes sorted by name).

    Every image is decoded with Pillow when the dataset is built, converted to RGB and resized
    to ``image_size`` = (height, width), and kept as uint8 (N, 3, H, W); the transform (default
    ``ToFloat(1/255)``) runs per sample or batch. Files whose extension is not an image
    extension are ignored.

    Args:
        root: the folder holding one sub-folder per class.
        image_size: (height, width) or an int for square images.
        transform: applied to each image or batch of images.
        on_error: "raise" (default) stops at the first unreadable image with its path;
            "skip" leaves it out, logs a warning and records it in ``self.skipped``.
    """

    def __init__(self, root, image_size=(64, 64), transform=None, on_error: str = "raise"):
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"image folder not found: {self.root}")
        if isinstance(image_size, int):
            image_size = (image_size, image_size)
        self.image_size = tuple(int(s) for s in image_size)
        if len(self.image_size) != 2 or min(self.image_size) < 1:
            raise ValueError(f"image_size must be (height, width) > 0, got {image_size}")
        self.classes = sorted(d.name for d in self.root.iterdir() if d.is_dir()
                              and not d.name.startswith("."))
        if not self.classes:
            raise ValueError(f"{self.root}: no class sub-folders (expected root/<class>/<image>)")
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        files = [(path, self.class_to_idx[c]) for c in self.classes
                 for path in sorted((self.root / c).rglob("*"))
                 if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS]
        if not files:
            raise ValueError(f"{self.root}: no image files ({', '.join(IMAGE_EXTENSIONS)}) in "
                             f"the class folders {self.classes}")
        images, self.samples, self.skipped = [], [], []
        for path, label in files:  # decoding is per file by nature
            try:
                images.append(load_image(path, self.image_size))
            except OSError as e:
                if on_error == "raise":
                    raise
                logger.warning("ImageFolder: skipping %s (%s)", path, e)
                self.skipped.append((str(path), str(e)))
                continue
            self.samples.append((str(path), label))
        if not self.samples:
            raise ValueError(f"{self.root}: none of the {len(files)} image files could be read")
        self.images = np.stack(images)  # (N, 3, H, W) uint8
        self.targets = np.array([label for _, label in self.samples], dtype=np.int64)
        self.transform = ToFloat(1 / 255) if transform is None else transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index):
        return self.transform(self.images[index]), self.targets[index]

    def __getitems__(self, indices):
        indices = np.asarray(indices, dtype=np.int64)
        return self.transform(self.images[indices]), self.targets[indices]

    def __repr__(self) -> str:
        return (f"ImageFolder({os.fspath(self.root)!r}, {len(self)} images, "
                f"classes={self.classes}, image_size={self.image_size})")
