"""Image transforms on host NumPy arrays, for one image (C, H, W) or a batch (N, C, H, W).

Each transform works on both, vectorised over the batch (no Python loop over images), so a
dataset can apply it per batch. Random transforms draw from their own generator (``seed=``) or
the library's (``tc.manual_seed``).
"""

from __future__ import annotations

import numbers

import numpy as np

from tinygrad_cnn.data.dataset import RandomState


def _pair(size, name: str) -> tuple[int, int]:
    if isinstance(size, numbers.Integral):
        size = (int(size), int(size))
    size = tuple(int(s) for s in size)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"{name} must be a positive int or (height, width), got {size}")
    return size


def _check_image(x, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim not in (3, 4):
        raise ValueError(f"{name} expects an image (C, H, W) or a batch (N, C, H, W), "
                         f"got shape {x.shape}")
    return x


class Compose:
    """Apply ``transforms`` one after another: ``Compose([ToFloat(1/255), Normalize(m, s)])``."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    @property
    def elementwise(self) -> bool:
        """All its transforms are elementwise (see ``split_elementwise_tail``)."""
        return all(getattr(t, "elementwise", False) for t in self.transforms)

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self) -> str:
        return "Compose([" + ", ".join(repr(t) for t in self.transforms) + "])"


def split_elementwise_tail(transform):
    """``(head, tail)`` with ``transform(x) == tail(head(x))``: ``tail`` is the run of
    elementwise transforms (``ToFloat``, ``Normalize``: deterministic, per element or per
    channel, so one call on a batch (N, C, H, W) gives exactly the stacked per-image results)
    at the end of ``transform`` or of its ``Compose``; None for an empty part.

    An ImageFolder applies ``head`` per image (its decoding, crops, augmentation on uint8) and
    ``tail`` once per batch: a DataLoader's workers then pass uint8 batches, 4x smaller than
    float32, and the training process converts each batch once.
    """
    if transform is None:
        return None, None
    if getattr(transform, "elementwise", False):
        return None, transform
    if not isinstance(transform, Compose):
        return transform, None
    parts = transform.transforms
    k = len(parts)
    while k and getattr(parts[k - 1], "elementwise", False):
        k -= 1
    if k == len(parts):
        return transform, None
    head = None if k == 0 else parts[0] if k == 1 else Compose(parts[:k])
    tail = parts[k] if k == len(parts) - 1 else Compose(parts[k:])
    return head, tail


class ToFloat:
    """x.astype(dtype) * scale, e.g. ``ToFloat(1/255)`` maps uint8 pixels into [0, 1]."""

    elementwise = True  # a DataLoader may apply it once per batch (split_elementwise_tail)

    def __init__(self, scale: float = 1.0, dtype=np.float32):
        self.scale = float(scale)
        self.dtype = np.dtype(dtype)

    def __call__(self, x):
        out = np.asarray(x).astype(self.dtype)
        if self.scale != 1.0:
            out *= self.dtype.type(self.scale)
        return out

    def __repr__(self) -> str:
        return f"ToFloat(scale={self.scale:g}, dtype={self.dtype.name})"


class Normalize:
    """(x - mean[c]) / std[c] per channel c; build it from training data with ``from_data``.

    Compute mean and std from the *training* split only, so validation and test data stay
    unseen.
    """

    elementwise = True  # a DataLoader may apply it once per batch (split_elementwise_tail)

    def __init__(self, mean, std):
        self.mean = np.atleast_1d(np.asarray(mean, dtype=np.float32))
        self.std = np.atleast_1d(np.asarray(std, dtype=np.float32))
        if self.mean.shape != self.std.shape or self.mean.ndim != 1:
            raise ValueError(f"Normalize: mean {self.mean.shape} and std {self.std.shape} must be "
                             "1-D with one value per channel")
        if np.any(self.std <= 0):
            raise ValueError(f"Normalize: std must be positive, got {self.std.tolist()}")

    @classmethod
    def from_data(cls, data, eps: float = 1e-6, chunk: int = 64) -> Normalize:
        """Per-channel mean and std of images (N, C, H, W), of a dataset's (transformed)
        images, or of the batches a DataLoader yields, in one streaming pass.

        Each batch of ``chunk`` images (or each DataLoader batch) contributes its per-channel
        count, mean and sum of squared deviations, accumulated in float64 and merged with Chan's
        parallel formula, so memory stays at one batch (not the dataset) and the variance does
        not suffer the cancellation of sum(x^2) - n mean^2.
        """
        if isinstance(chunk, bool) or not isinstance(chunk, numbers.Integral) or chunk < 1:
            raise ValueError(f"Normalize.from_data: chunk must be a positive int, got {chunk!r}")
        count, mean, m2 = 0, None, None
        for x in _batches_of(data, int(chunk)):
            if x.ndim != 4:
                raise ValueError(f"Normalize.from_data expects images (N, C, H, W), got {x.shape}")
            n = x.shape[0] * x.shape[2] * x.shape[3]
            if n == 0:
                continue
            b_mean = x.sum(axis=(0, 2, 3), dtype=np.float64) / n                   # (C,)
            d = x - b_mean.astype(x.dtype if x.dtype.kind == "f" else np.float64)[:, None, None]
            b_m2 = np.einsum("nchw,nchw->c", d, d, dtype=np.float64)              # (C,)
            if mean is None:
                count, mean, m2 = n, b_mean, b_m2
                continue
            delta, total = b_mean - mean, count + n
            mean = mean + delta * (n / total)
            m2 = m2 + b_m2 + delta**2 * (count * n / total)
            count = total
        if mean is None:
            raise ValueError("Normalize.from_data: no images")
        std = np.sqrt(np.maximum(m2 / count, 0.0))
        return cls(mean, std + eps)

    def __call__(self, x):
        x = _check_image(x, "Normalize")
        c = x.shape[-3]
        if len(self.mean) not in (1, c):
            raise ValueError(f"Normalize has {len(self.mean)} channel statistics but the image "
                             f"has {c} channels")
        mean, std = self.mean[:, None, None], self.std[:, None, None]  # (C, 1, 1)
        return ((x - mean) / std).astype(np.result_type(x.dtype, np.float32))

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


def _batches_of(data, chunk: int):
    """Image batches (N, C, H, W) of an array, a dataset (its first field, transformed) or an
    iterable of batches such as a DataLoader (Tensors are copied to the host)."""
    if hasattr(data, "shape"):
        for start in range(0, len(data), chunk):
            yield np.asarray(data[start:start + chunk])
        return
    if hasattr(data, "__getitem__") and hasattr(data, "__len__"):
        n = len(data)
        for start in range(0, n, chunk):
            indices = np.arange(start, min(start + chunk, n))
            if hasattr(data, "__getitems__"):
                yield np.asarray(data.__getitems__(indices)[0])
            else:
                yield np.stack([np.asarray(data[int(i)][0]) for i in indices])
        return
    for batch in data:  # a DataLoader: (images, labels) of Tensors
        images = batch[0] if isinstance(batch, (tuple, list)) else batch
        yield images.numpy() if hasattr(images, "numpy") else np.asarray(images)


class Resize:
    """Bilinear resize (half-pixel centres, like PyTorch's ``F.interpolate(mode="bilinear",
    align_corners=False)``) of an image (C, H, W) or a batch (N, C, H, W).

    ``size`` = (height, width) resizes to exactly that; an int resizes the shorter side to
    ``size`` keeping the aspect ratio, as torchvision's ``Resize(int)`` (the longer side is
    ``int(size * long / short)``).
    """

    def __init__(self, size):
        if isinstance(size, numbers.Integral) and not isinstance(size, bool):
            if size < 1:
                raise ValueError(f"Resize size must be a positive int or (height, width), "
                                 f"got {size}")
            self.size = int(size)
        else:
            self.size = _pair(size, "Resize size")

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """(OH, OW) for an input of ``height`` x ``width``."""
        if not isinstance(self.size, int):
            return self.size
        short, long = min(height, width), max(height, width)
        new_long = int(self.size * long / short)
        return (self.size, new_long) if height <= width else (new_long, self.size)

    def __call__(self, x):
        x = _check_image(x, "Resize")
        H, W = x.shape[-2:]
        OH, OW = self.output_size(H, W)
        if (H, W) == (OH, OW):
            return x
        return bilinear_resize(x, OH, OW)

    def __repr__(self) -> str:
        return f"Resize(size={self.size})"


def bilinear_resize(x: np.ndarray, OH: int, OW: int) -> np.ndarray:
    """x (..., H, W) resized to (..., OH, OW), bilinear with half-pixel centres; integer
    images are rounded and clipped back to their dtype."""
    H, W = x.shape[-2:]
    y0, y1, wy = _bilinear_axis(H, OH)  # (OH,) each
    x0, x1, wx = _bilinear_axis(W, OW)  # (OW,) each
    xf = x.astype(np.result_type(x.dtype, np.float32))
    top = xf[..., y0, :] * (1 - wy)[:, None] + xf[..., y1, :] * wy[:, None]  # (..., OH, W)
    out = top[..., x0] * (1 - wx) + top[..., x1] * wx                         # (..., OH, OW)
    if np.issubdtype(x.dtype, np.integer):
        out = np.clip(np.rint(out), np.iinfo(x.dtype).min, np.iinfo(x.dtype).max)
        return out.astype(x.dtype)
    return out.astype(xf.dtype)


def _bilinear_axis(n_in: int, n_out: int):
    """Source indices (lo, hi) and the weight of hi for each output position along one axis."""
    src = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5  # half-pixel centres
    src = np.clip(src, 0, n_in - 1)
    lo = np.floor(src).astype(np.int64)
    hi = np.minimum(lo + 1, n_in - 1)
    return lo, hi, (src - lo).astype(np.float32)


class RandomHorizontalFlip:
    """Mirror each image left-right with probability ``p`` (independently per image)."""

    def __init__(self, p: float = 0.5, seed=None, generator=None):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p}")
        self.p = float(p)
        self.random = RandomState(seed, generator)

    def __call__(self, x):
        x = _check_image(x, "RandomHorizontalFlip")
        rng = self.random.generator()
        if x.ndim == 3:
            return x[..., ::-1].copy() if rng.random() < self.p else x
        flip = rng.random(len(x)) < self.p  # (N,)
        out = x.copy()
        out[flip] = x[flip][..., ::-1]
        return out

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class RandomCrop:
    """Crop a random ``size`` window from each image, after zero-padding it by ``padding``.

    ``RandomCrop(32, padding=4)`` is the classic CIFAR augmentation: shift by up to 4 pixels.
    """

    def __init__(self, size, padding: int = 0, seed=None, generator=None):
        self.size = _pair(size, "RandomCrop size")
        if padding < 0:
            raise ValueError(f"RandomCrop: padding must be >= 0, got {padding}")
        self.padding = int(padding)
        self.random = RandomState(seed, generator)

    def __call__(self, x):
        x = _check_image(x, "RandomCrop")
        single = x.ndim == 3
        xb = x[None] if single else x  # (N, C, H, W)
        p = self.padding
        if p:
            xb = np.pad(xb, ((0, 0), (0, 0), (p, p), (p, p)))
        N, C, H, W = xb.shape
        OH, OW = self.size
        if OH > H or OW > W:
            raise ValueError(f"RandomCrop: crop {self.size} is larger than the padded image "
                             f"({H}, {W})")
        rng = self.random.generator()
        top = rng.integers(0, H - OH + 1, size=N)   # (N,)
        left = rng.integers(0, W - OW + 1, size=N)  # (N,)
        rows = top[:, None] + np.arange(OH)          # (N, OH)
        cols = left[:, None] + np.arange(OW)         # (N, OW)
        out = xb[np.arange(N)[:, None, None, None], np.arange(C)[None, :, None, None],
                 rows[:, None, :, None], cols[:, None, None, :]]  # (N, C, OH, OW)
        return out[0] if single else out

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"


# the photo transforms (CenterCrop, RandomResizedCrop, ColorJitter, RandomRotation) live in
# photo.py; they are part of this module's public surface
from tinygrad_cnn.data.photo import (  # noqa: E402
    CenterCrop,
    ColorJitter,
    RandomResizedCrop,
    RandomRotation,
)

__all__ = ["CenterCrop", "ColorJitter", "Compose", "Normalize", "RandomCrop",
           "RandomHorizontalFlip", "RandomResizedCrop", "RandomRotation", "Resize", "ToFloat",
           "bilinear_resize"]
