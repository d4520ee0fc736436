"""Image transforms on host NumPy arrays, for one image (C, H, W) or a batch (N, C, H, W).

Each transform works on both, vectorised over the batch (no Python loop over images), so a
dataset can apply it per batch. Random transforms draw from their own generator (``seed=``) or
the library's (``tc.manual_seed``).
"""

from __future__ import annotations

import numbers

import numpy as np

from tinygrad_cnn.data.dataset import _rng


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

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self) -> str:
        return "Compose([" + ", ".join(repr(t) for t in self.transforms) + "])"


class ToFloat:
    """x.astype(dtype) * scale, e.g. ``ToFloat(1/255)`` maps uint8 pixels into [0, 1]."""

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

    def __init__(self, mean, std):
        self.mean = np.atleast_1d(np.asarray(mean, dtype=np.float32))
        self.std = np.atleast_1d(np.asarray(std, dtype=np.float32))
        if self.mean.shape != self.std.shape or self.mean.ndim != 1:
            raise ValueError(f"Normalize: mean {self.mean.shape} and std {self.std.shape} must be "
                             "1-D with one value per channel")
        if np.any(self.std <= 0):
            raise ValueError(f"Normalize: std must be positive, got {self.std.tolist()}")

    @classmethod
    def from_data(cls, data, eps: float = 1e-6, chunk: int = 4096) -> Normalize:
        """Per-channel mean and std of images (N, C, H, W), or of a dataset's (transformed)
        images, computed in chunks of ``chunk`` images with float64 sums."""
        n = len(data)
        if n == 0:
            raise ValueError("Normalize.from_data: no images")
        total = total_sq = None
        count = 0
        for start in range(0, n, chunk):  # a loop over chunks bounds the float64 copy's size
            x = _images_of(data, np.arange(start, min(start + chunk, n)))
            if x.ndim != 4:
                raise ValueError(f"Normalize.from_data expects images (N, C, H, W), got {x.shape}")
            x = x.astype(np.float64)
            s, sq = x.sum(axis=(0, 2, 3)), np.square(x).sum(axis=(0, 2, 3))  # (C,)
            total = s if total is None else total + s
            total_sq = sq if total_sq is None else total_sq + sq
            count += x.shape[0] * x.shape[2] * x.shape[3]
        mean = total / count
        std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
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


def _images_of(data, indices) -> np.ndarray:
    """Images at ``indices`` from an array, or from a dataset (its first field, transformed)."""
    if hasattr(data, "shape"):
        return np.asarray(data[indices])
    if hasattr(data, "__getitems__"):
        return np.asarray(data.__getitems__(indices)[0])
    return np.stack([np.asarray(data[int(i)][0]) for i in indices])


class Resize:
    """Bilinear resize to ``size`` = (height, width) (half-pixel centres, like PyTorch's
    ``F.interpolate(mode="bilinear", align_corners=False)``)."""

    def __init__(self, size):
        self.size = _pair(size, "Resize size")

    def __call__(self, x):
        x = _check_image(x, "Resize")
        H, W = x.shape[-2:]
        OH, OW = self.size
        if (H, W) == (OH, OW):
            return x
        y0, y1, wy = _bilinear_axis(H, OH)  # (OH,) each
        x0, x1, wx = _bilinear_axis(W, OW)  # (OW,) each
        xf = x.astype(np.result_type(x.dtype, np.float32))
        top = xf[..., y0, :] * (1 - wy)[:, None] + xf[..., y1, :] * wy[:, None]  # (..., OH, W)
        out = top[..., x0] * (1 - wx) + top[..., x1] * wx                         # (..., OH, OW)
        if np.issubdtype(x.dtype, np.integer):
            out = np.clip(np.rint(out), np.iinfo(x.dtype).min, np.iinfo(x.dtype).max)
            return out.astype(x.dtype)
        return out.astype(xf.dtype)

    def __repr__(self) -> str:
        return f"Resize(size={self.size})"


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
        self._generator = generator if generator is not None else (
            np.random.default_rng(seed) if seed is not None else None)

    def __call__(self, x):
        x = _check_image(x, "RandomHorizontalFlip")
        rng = _rng(generator=self._generator)
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
        self._generator = generator if generator is not None else (
            np.random.default_rng(seed) if seed is not None else None)

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
        rng = _rng(generator=self._generator)
        top = rng.integers(0, H - OH + 1, size=N)   # (N,)
        left = rng.integers(0, W - OW + 1, size=N)  # (N,)
        rows = top[:, None] + np.arange(OH)          # (N, OH)
        cols = left[:, None] + np.arange(OW)         # (N, OW)
        out = xb[np.arange(N)[:, None, None, None], np.arange(C)[None, :, None, None],
                 rows[:, None, :, None], cols[:, None, None, :]]  # (N, C, OH, OW)
        return out[0] if single else out

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"
