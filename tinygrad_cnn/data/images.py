"""Image files: decoding with the right pixels, and ``ImageFolder``, a lazy dataset over a folder
of photos with an optional decoded cache.

Decoding follows torchvision's ``pil_loader`` (``Image.convert("RGB")``) for 8-bit modes
(palette, alpha, CMYK, greyscale, ...) and scales 16-bit and float images to the 8-bit range
itself, because ``convert("RGB")`` clips them (a 16-bit ramp 0..65535 would come out almost all
255). Anything it cannot map to 8 bits faithfully is refused with an error naming the mode.
"""

from __future__ import annotations

import logging
import numbers
import os
import warnings
from pathlib import Path

import numpy as np

from tinygrad_cnn.data.dataset import Dataset, warn_once
from tinygrad_cnn.data.transforms import ToFloat, split_elementwise_tail

logger = logging.getLogger("tinygrad_cnn.data")

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm",
                    ".pgm")
# Pillow's own DecompressionBombWarning threshold: 89.5 megapixels, ~256 MiB as RGB
DEFAULT_MAX_PIXELS = 89_478_485
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")


class ImageTooLargeError(OSError):
    """An image has more pixels than ``max_pixels`` (a decompression bomb, or a huge scan)."""


def _pillow():
    try:
        from PIL import Image  # noqa: PLC0415 - optional dependency
    except ImportError as e:
        raise ImportError(f"reading images needs Pillow ({e}); install it with pip install "
                          "pillow (or pip install 'tinygrad_cnn[main]')") from None
    return Image


def check_image_size(image_size, name: str = "image_size", allow_none: bool = False):
    """``image_size`` as (height, width) of positive ints: an int means a square."""
    if image_size is None and allow_none:
        return None
    size = image_size
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        size = (int(size), int(size))
    ok = (isinstance(size, (tuple, list)) and len(size) == 2
          and all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in size))
    if not ok or min(size) < 1:
        raise ValueError(f"{name} must be a positive int or (height, width) of positive ints, "
                         f"got {image_size!r}")
    return (int(size[0]), int(size[1]))


def _to_8bit(img, path):
    """A Pillow image in a mode ``convert("RGB")`` handles faithfully (L, RGB, P, RGBA, CMYK..)."""
    Image = _pillow()
    mode = img.mode
    if mode in _SIXTEEN_BIT:
        a = np.asarray(img).astype(np.uint32)                         # (H, W) 0..65535
        return Image.fromarray(((a * 255 + 32767) // 65535).astype(np.uint8), "L")
    if mode == "I":  # 32-bit integers: 16-bit PNGs/TIFFs on some Pillow versions
        a = np.asarray(img)
        lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
        if lo < 0 or hi > 65535:
            raise OSError(f"cannot read image {path}: mode 'I' (32-bit integer) with values in "
                          f"[{lo}, {hi}] has no 8-bit mapping (expected 16-bit values 0..65535)")
        a = a.astype(np.int64)
        return Image.fromarray(((a * 255 + 32767) // 65535).astype(np.uint8), "L")
    if mode == "F":  # 32-bit float: taken as intensities in [0, 1]
        a = np.asarray(img, dtype=np.float64)
        finite = bool(np.isfinite(a).all())
        lo, hi = (float(a.min()), float(a.max())) if a.size and finite else (0.0, 0.0)
        if not finite or lo < 0.0 or hi > 1.0:
            what = "non-finite values" if not finite else f"values in [{lo:g}, {hi:g}]"
            raise OSError(f"cannot read image {path}: mode 'F' (32-bit float) with {what}; "
                          "float images must hold intensities in [0, 1]")
        return Image.fromarray(np.rint(a * 255.0).astype(np.uint8), "L")
    if mode in ("RGB", "L"):
        return img
    if mode in ("1", "P", "PA", "RGBA", "RGBa", "RGBX", "LA", "La", "CMYK", "YCbCr", "LAB",
                "HSV"):
        return img  # convert("RGB") below, as torchvision's pil_loader
    raise OSError(f"cannot read image {path}: unsupported image mode {mode!r}")


def load_image(path, image_size=(64, 64), max_pixels: int | None = DEFAULT_MAX_PIXELS
               ) -> np.ndarray:
    """Decode one image file into uint8 (3, H, W), resized (bilinear) to ``image_size``.

    ``image_size=None`` keeps the file's size. Palette, alpha, CMYK and greyscale images are
    converted with Pillow's ``convert("RGB")`` (as torchvision's ``pil_loader``); 16-bit images
    are scaled by 255/65535 and float images in [0, 1] by 255 (others are refused, naming the
    mode). Images with more than ``max_pixels`` pixels raise ``ImageTooLargeError`` before their
    pixels are decoded. JPEGs are decoded at a reduced DCT scale when that still leaves twice
    ``image_size`` (as Pillow's ``thumbnail`` does), which is several times faster.

    Raises:
        FileNotFoundError: no such file.
        OSError: the file is not a readable image (the message names the file and the reason).
    """
    Image = _pillow()
    size = check_image_size(image_size, allow_none=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # we check below
            img = Image.open(path)
        with img:
            width, height = img.size
            if max_pixels is not None and width * height > max_pixels:
                raise ImageTooLargeError(
                    f"image {path} has {width}x{height} = {width * height:,} pixels, more than "
                    f"max_pixels={max_pixels:,} (a decompression bomb?); pass a larger "
                    "max_pixels to read it")
            if size is not None and img.format == "JPEG" and img.mode in ("RGB", "L"):
                # DCT-domain scaling to at least twice the size, then a bilinear resize: the
                # quality of a full decode at a fraction of its cost (Pillow's thumbnail does so)
                img.draft(img.mode, (2 * size[1], 2 * size[0]))
            img = _to_8bit(img, path)
            img = img.convert("RGB")
            if size is not None and img.size != (size[1], size[0]):
                img = img.resize((size[1], size[0]), Image.BILINEAR)
            array = np.asarray(img, dtype=np.uint8)  # (H, W, 3)
    except FileNotFoundError:
        raise FileNotFoundError(f"image not found: {path}") from None
    except ImageTooLargeError:
        raise
    except OSError as e:
        if str(e).startswith("cannot read image"):  # ours, already naming the file
            raise
        reason = str(e).replace(f" '{path}'", "").replace(f" {path}", "")  # named once
        raise OSError(f"cannot read image {path}: {type(e).__name__}: {reason}") from None
    except Image.DecompressionBombError as e:
        raise ImageTooLargeError(f"image {path}: {e}; pass a larger max_pixels") from None
    except Exception as e:  # Pillow raises UnidentifiedImageError, SyntaxError, ValueError, ...
        raise OSError(f"cannot read image {path}: {type(e).__name__}: {e}") from None
    return np.ascontiguousarray(array.transpose(2, 0, 1))


def list_image_folder(root, on_error: str = "raise", progress: bool = False):
    """(classes, [(path, label)]) of ``root/<class>/**/<image file>``, classes sorted by name.

    Files are sorted within each class; hidden folders and non-image extensions are ignored. An
    empty class folder raises ValueError, or with ``on_error="skip"`` is left out with a warning.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder not found: {root}")
    class_dirs = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not class_dirs:
        raise ValueError(f"{root}: no class sub-folders (expected root/<class>/<image>)")
    bar = _progress(progress, total=len(class_dirs), desc="listing images", unit="class")
    found, empty = [], []
    for name in class_dirs:
        files = sorted(_walk_images(root / name))
        (found if files else empty).append((name, files))
        bar.update(1)
    bar.close()
    if not found:
        raise ValueError(f"{root}: no image files ({', '.join(IMAGE_EXTENSIONS)}) in the class "
                         f"folders {class_dirs}")
    if empty:
        names = ", ".join(f"{name}/" for name, _ in empty)
        if on_error == "raise":
            raise ValueError(f"{root}: empty class folder {names} (no image files); remove it, "
                             "add images, or pass on_error='skip' to leave it out")
        warn_once(logger.name, f"ImageFolder: leaving out the empty class folder {names} of "
                               f"{root}")
    classes = [name for name, _ in found]
    samples = [(path, label) for label, (_, files) in enumerate(found) for path in files]
    return classes, samples


def _walk_images(folder: Path):
    """Image files under ``folder`` (recursively, without following links into loops)."""
    stack = [folder]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                if entry.is_dir():
                    stack.append(Path(entry.path))
                elif os.path.splitext(entry.name)[1].lower() in IMAGE_EXTENSIONS:
                    yield entry.path


class _NoBar:
    def update(self, n=1):
        pass

    def close(self):
        pass


def _progress(enabled: bool, **kwargs):
    """A tqdm bar on stderr when ``enabled``, stderr is a terminal and tqdm is installed, else
    a silent stand-in."""
    if not enabled:
        return _NoBar()
    try:
        from tqdm import tqdm  # noqa: PLC0415 - optional (the main extra)
    except ImportError:
        return _NoBar()
    return tqdm(leave=False, dynamic_ncols=True, disable=None, **kwargs)  # None: TTYs only


class ImageFolder(Dataset):
    """Images in ``root/<class name>/<file>``, labelled by folder (classes sorted by name).

    Lazy: the constructor only lists the files; an image is decoded (``load_image``: RGB,
    resized to ``image_size``) when it is accessed, so memory is bounded by the batch and the
    DataLoader's workers, not by the number of images. With ``cache=FOLDER`` the resized uint8
    images are decoded once, in parallel over the CPU cores, into one ``.npy`` array in FOLDER
    (memory-mappable, ``N x 3 x H x W`` bytes) and read from it afterwards; the cache is reused
    only while the file list, the files' sizes and modification times, ``image_size`` and
    ``max_pixels`` are unchanged, otherwise it is rebuilt (written to a temporary name and
    renamed, so an interrupted build never leaves a cache that looks complete).

    Each sample is ``(transform(image), label)`` with ``image`` uint8 (3, H, W); the transform
    (default ``ToFloat(1/255)``) runs per sample, inside the DataLoader's workers, except for
    its elementwise end (``ToFloat``, ``Normalize``; see ``split_elementwise_tail``), which a
    batch gets once: in a DataLoader with workers, in the training process, so that the workers
    pass uint8 batches. The batches are the same either way.

    Args:
        root: the folder holding one sub-folder per class.
        image_size: (height, width), or an int for a square.
        transform: applied to each uint8 image (3, H, W).
        on_error: "raise" (default): an unreadable image raises OSError naming the file, an
            empty class folder raises ValueError. "skip": both are left out with one warning
            each on the ``tinygrad_cnn.data`` logger; unreadable files found so far are listed
            in ``self.skipped`` (all of them once a cache is built) and left out of batches.
        cache: a folder for the decoded cache, or None (decode on every access).
        max_pixels: refuse images with more pixels than this (decompression bombs).
        num_workers: processes that build the cache (default: the CPU cores).
        progress: show tqdm progress bars while listing and caching.
    """

    def __init__(self, root, image_size=(64, 64), transform=None, on_error: str = "raise",
                 cache=None, max_pixels: int | None = DEFAULT_MAX_PIXELS,
                 num_workers: int | None = None, progress: bool = False):
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        self.image_size = check_image_size(image_size)
        if max_pixels is not None and (isinstance(max_pixels, bool) or
                                       not isinstance(max_pixels, numbers.Integral) or
                                       max_pixels < 1):
            raise ValueError(f"max_pixels must be a positive int or None, got {max_pixels!r}")
        self.root = Path(root)
        self.on_error = on_error
        self.max_pixels = max_pixels
        self.transform = ToFloat(1 / 255) if transform is None else transform
        self.classes, samples = list_image_folder(self.root, on_error, progress)
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.skipped: list[tuple[str, str]] = []
        self._reported: set[str] = set()
        self.cache_path = None
        self._rows = None  # row of each sample in the cache array
        if cache is not None:
            from tinygrad_cnn.data.image_cache import array_offset, open_cache  # noqa: PLC0415

            self.cache_path, failed = open_cache(self, samples, cache, num_workers, progress)
            self._cache_offset = array_offset(self.cache_path)
            if failed and on_error == "raise":
                more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
                raise OSError(f"{failed[0][1]}{more}; pass on_error='skip' to leave unreadable "
                              "images out")
            for path, reason in failed:
                self._report(path, reason)
            bad = {path for path, _ in failed}
            self._rows = np.array([i for i, (p, _) in enumerate(samples) if p not in bad],
                                  dtype=np.int64)
            samples = [samples[i] for i in self._rows]
            if not samples:
                raise ValueError(f"{self.root}: none of the image files could be read")
        self.samples = [(str(p), int(label)) for p, label in samples]
        self.targets = np.array([label for _, label in self.samples], dtype=np.int64)
        self._file = None  # the cache file, opened on first read in each process

    def _report(self, path: str, reason: str) -> None:
        """Record an unreadable file and warn about it once."""
        if path in self._reported:
            return
        self._reported.add(path)
        self.skipped.append((path, reason))
        prefix = f"cannot read image {path}: "
        warn_once(logger.name, f"skipped unreadable image {path} "
                               f"({reason.removeprefix(prefix)})")

    @property
    def images(self) -> np.ndarray:
        """All images as a read-only memory-mapped uint8 array (N, 3, H, W); needs ``cache=``."""
        if self.cache_path is None:
            raise AttributeError("ImageFolder.images needs the decoded cache: build the dataset "
                                 "with cache=FOLDER (without it, images are decoded on access)")
        return np.load(self.cache_path, mmap_mode="r")[self._rows]

    def __len__(self) -> int:
        return len(self.samples)

    def _decode(self, i: int) -> np.ndarray | None:
        path = self.samples[i][0]
        try:
            return load_image(path, self.image_size, self.max_pixels)
        except OSError as e:
            if self.on_error == "raise":
                raise
            self._report(path, str(e))
            return None

    def _cached(self, indices: np.ndarray) -> np.ndarray:
        """Rows of the cache by positioned reads (no mapping: RSS stays at one batch)."""
        from tinygrad_cnn.data.image_cache import read_rows  # noqa: PLC0415

        if self._file is None or self._file[0] != os.getpid():
            self._file = (os.getpid(), open(self.cache_path, "rb"))  # noqa: SIM115
        return read_rows(self._file[1], self._cache_offset, self._rows[indices], self.image_size)

    def __getitem__(self, index):
        index = int(index)
        if not -len(self) <= index < len(self):
            raise IndexError(f"ImageFolder index {index} out of range for {len(self)} images")
        index %= len(self)
        if self.cache_path is not None:
            image = self._cached(np.array([index]))[0]
        else:
            image = self._decode(index)
            if image is None:
                raise OSError(f"cannot read image {self.samples[index][0]} (skipped)")
        return self.transform(image), self.targets[index]

    def __getitems__(self, indices):
        """A batch (images, labels); with on_error="skip" unreadable files are left out."""
        images, labels = self._raw_batch(indices)
        tail = self._batch_tail()
        return (images if tail is None else tail(images)), labels

    def _batch_tail(self):
        """The elementwise end of ``transform``, applied once per batch (see batch_tail)."""
        return split_elementwise_tail(self.transform)[1]

    def _raw_batch(self, indices):
        """(images, labels) with the transform but its elementwise end applied: uint8 for the
        default transform."""
        head = split_elementwise_tail(self.transform)[0]
        indices = np.asarray(indices, dtype=np.int64) % max(len(self), 1)
        if self.cache_path is not None:
            images = self._cached(indices)  # (n, 3, H, W) uint8, already one array
            keep = indices
            if head is None:
                return images, self.targets[keep]
            images = list(images)
        else:
            decoded = [self._decode(int(i)) for i in indices]  # decoding is per file by nature
            keep = np.array([i for i, im in zip(indices, decoded, strict=True) if im is not None],
                            dtype=np.int64)
            images = [im for im in decoded if im is not None]
        if not images:  # all unreadable: an empty batch (the DataLoader skips it)
            blank = np.zeros((3, *self.image_size), np.uint8)
            blank = blank if head is None else np.asarray(head(blank))
            return np.zeros((0, *blank.shape), blank.dtype), self.targets[keep]
        if head is not None:
            images = [np.asarray(head(im)) for im in images]
        return np.stack(images), self.targets[keep]

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_file"] = None  # file objects do not cross processes
        return state

    def __del__(self):
        opened = getattr(self, "_file", None)  # the cache file this process (or its parent) read
        if opened is not None:
            opened[1].close()

    def __repr__(self) -> str:
        cached = "" if self.cache_path is None else f", cache={os.fspath(self.cache_path)!r}"
        return (f"ImageFolder({os.fspath(self.root)!r}, {len(self)} images, "
                f"classes={self.classes}, image_size={self.image_size}{cached})")
