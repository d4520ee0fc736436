"""Photo transforms with torchvision's names and parameters: CenterCrop, RandomResizedCrop,
ColorJitter, RandomRotation. Import them from ``tinygrad_cnn.data.transforms``.

They take one image (C, H, W) — uint8 as decoded, or float — and return the same dtype. A batch
(N, C, H, W) is accepted too: CenterCrop is vectorised over it, the random ones draw their own
parameters for each image (each image gets its own crop, angle or colour change, so the loop is
over images, never over pixels). Inside a DataLoader they draw from the batch's seeded generator
(see ``RandomState``), so augmentation is reproducible whatever the number of workers.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from tinygrad_cnn.data.dataset import RandomState


def _size_pair(size, name: str) -> tuple[int, int]:
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        size = (int(size), int(size))
    if (not isinstance(size, (tuple, list)) or len(size) != 2
            or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in size)
            or min(size) < 1):
        raise ValueError(f"{name} must be a positive int or (height, width), got {size!r}")
    return int(size[0]), int(size[1])


def _image(x, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim not in (3, 4):
        raise ValueError(f"{name} expects an image (C, H, W) or a batch (N, C, H, W), "
                         f"got shape {x.shape}")
    return x


def _per_image(transform, x):
    """Apply ``transform._one`` to an image, or to each image of a batch."""
    if x.ndim == 3:
        return transform._one(x)
    return np.stack([transform._one(im) for im in x])  # a loop over images: each draws its own


def _range(value, name: str, center: float = 1.0, bound=(0.0, math.inf), clip: bool = True):
    """torchvision's parameter rule: v -> [center - v, center + v] (clipped), or (lo, hi)."""
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"ColorJitter {name} must be non-negative, got {value}")
        lo, hi = center - float(value), center + float(value)
        lo = max(lo, bound[0]) if clip else lo
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        lo, hi = float(value[0]), float(value[1])
    else:
        raise ValueError(f"ColorJitter {name} must be a number or (min, max), got {value!r}")
    if not bound[0] <= lo <= hi <= bound[1]:
        raise ValueError(f"ColorJitter {name} range ({lo:g}, {hi:g}) must lie within "
                         f"[{bound[0]:g}, {bound[1]:g}] with min <= max")
    return None if lo == hi == center else (lo, hi)


class CenterCrop:
    """Crop the central ``size`` = (height, width) (or int, a square) of each image, as
    torchvision: top = round((H - h) / 2), left = round((W - w) / 2); an image smaller than
    ``size`` is first zero-padded on all sides (the extra pixel, if any, at the bottom/right)."""

    def __init__(self, size):
        self.size = _size_pair(size, "CenterCrop size")

    def __call__(self, x):
        x = _image(x, "CenterCrop")
        h, w = self.size
        H, W = x.shape[-2:]
        if h > H or w > W:
            ph, pw = max(h - H, 0), max(w - W, 0)
            pad = [(0, 0)] * (x.ndim - 2) + [(ph // 2, (ph + 1) // 2), (pw // 2, (pw + 1) // 2)]
            x = np.pad(x, pad)
            H, W = x.shape[-2:]
        top, left = int(round((H - h) / 2.0)), int(round((W - w) / 2.0))
        return x[..., top:top + h, left:left + w].copy()

    def __repr__(self) -> str:
        return f"CenterCrop(size={self.size})"


class RandomResizedCrop:
    """A random crop covering ``scale`` of the image's area with aspect ratio in ``ratio``,
    resized (bilinear) to ``size`` — the Inception-style augmentation, with torchvision's
    sampling: 10 tries of area ~ U(scale) * H * W and log-aspect ~ U(log ratio); if none fits,
    the whole image's centre cropped to the nearest allowed ratio."""

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), seed=None, generator=None):
        self.size = _size_pair(size, "RandomResizedCrop size")
        scale, ratio = tuple(float(s) for s in scale), tuple(float(r) for r in ratio)
        if len(scale) != 2 or not 0 < scale[0] <= scale[1]:
            raise ValueError(f"RandomResizedCrop scale must be (min, max) with 0 < min <= max, "
                             f"got {scale}")
        if len(ratio) != 2 or not 0 < ratio[0] <= ratio[1]:
            raise ValueError(f"RandomResizedCrop ratio must be (min, max) with 0 < min <= max, "
                             f"got {ratio}")
        self.scale, self.ratio = scale, ratio
        self.random = RandomState(seed, generator)

    def get_params(self, height: int, width: int, rng) -> tuple[int, int, int, int]:
        """(top, left, h, w) of the crop, drawn as torchvision's ``get_params``."""
        area = height * width
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(10):
            target = area * rng.uniform(*self.scale)
            aspect = math.exp(rng.uniform(*log_ratio))
            w = int(round(math.sqrt(target * aspect)))
            h = int(round(math.sqrt(target / aspect)))
            if 0 < w <= width and 0 < h <= height:
                top = int(rng.integers(0, height - h + 1))
                return top, int(rng.integers(0, width - w + 1)), h, w
        in_ratio = width / height
        if in_ratio < self.ratio[0]:
            w, h = width, int(round(width / self.ratio[0]))
        elif in_ratio > self.ratio[1]:
            h, w = height, int(round(height * self.ratio[1]))
        else:
            w, h = width, height
        return (height - h) // 2, (width - w) // 2, h, w

    def _one(self, x):
        from tinygrad_cnn.data.transforms import bilinear_resize  # noqa: PLC0415 - cycle

        top, left, h, w = self.get_params(x.shape[-2], x.shape[-1], self.random.generator())
        return bilinear_resize(x[:, top:top + h, left:left + w], *self.size)

    def __call__(self, x):
        return _per_image(self, _image(x, "RandomResizedCrop"))

    def __repr__(self) -> str:
        return f"RandomResizedCrop(size={self.size}, scale={self.scale}, ratio={self.ratio})"


def _grey(x):
    """ITU-R 601-2 luma of RGB (3, H, W) float: 0.299 R + 0.587 G + 0.114 B -> (H, W)."""
    return 0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2]


def _shift_hue(x, shift):
    """RGB (3, H, W) float in [0, 1] with its hue rotated by ``shift`` turns (HSV model)."""
    r, g, b = x
    maxc, minc = x.max(axis=0), x.min(axis=0)
    delta = maxc - minc
    safe = np.where(delta > 0, delta, 1.0)
    rc, gc, bc = (maxc - r) / safe, (maxc - g) / safe, (maxc - b) / safe
    h = np.where(maxc == r, bc - gc, np.where(maxc == g, 2.0 + rc - bc, 4.0 + gc - rc))
    h = np.where(delta > 0, (h / 6.0) % 1.0, 0.0)
    s = np.where(maxc > 0, delta / np.where(maxc > 0, maxc, 1.0), 0.0)
    v = maxc
    h = (h + shift) % 1.0
    i = np.floor(h * 6.0)
    f = h * 6.0 - i
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    i = i.astype(np.int64) % 6
    choices_r = np.stack([v, q, p, p, t, v])
    choices_g = np.stack([t, v, v, q, p, p])
    choices_b = np.stack([p, p, t, v, v, q])
    pick = i[None]
    return np.concatenate([np.take_along_axis(c, pick, 0) for c in
                           (choices_r, choices_g, choices_b)])


class ColorJitter:
    """Random brightness, contrast, saturation and hue changes, as torchvision's ColorJitter:
    each factor is drawn from [max(0, 1 - v), 1 + v] (hue: a shift in [-v, v] turns, v <= 0.5)
    or from a given (min, max), and the four changes are applied in a random order.

    - brightness f: x * f (blend with black)
    - contrast f: blend with the mean grey level of the image
    - saturation f: blend with the image's grey version (0.299 R + 0.587 G + 0.114 B)
    - hue h: rotate the hue in HSV by h

    These are Pillow's ``ImageEnhance`` Brightness, Contrast and Color. Works on RGB images
    (3, H, W) (greyscale (1, H, W) for brightness and contrast), uint8 or float in [0, 1].
    """

    def __init__(self, brightness=0, contrast=0, saturation=0, hue=0, seed=None, generator=None):
        self.brightness = _range(brightness, "brightness")
        self.contrast = _range(contrast, "contrast")
        self.saturation = _range(saturation, "saturation")
        self.hue = _range(hue, "hue", center=0.0, bound=(-0.5, 0.5), clip=False)
        self.random = RandomState(seed, generator)

    def _one(self, x):
        rng = self.random.generator()
        order = rng.permutation(4)
        draws = [None if r is None else rng.uniform(*r) for r in
                 (self.brightness, self.contrast, self.saturation, self.hue)]
        integer = np.issubdtype(x.dtype, np.integer)
        top = 255.0 if integer else 1.0
        y = x.astype(np.float64) / top
        for k in order.tolist():
            f = draws[k]
            if f is None:
                continue
            if k == 0:
                y = np.clip(y * f, 0, 1)
            elif k == 1:
                mean = (_grey(y) if y.shape[0] == 3 else y[0]).mean()
                y = np.clip(f * y + (1 - f) * mean, 0, 1)
            elif k == 2:
                y = np.clip(f * y + (1 - f) * _grey(_check_rgb(y, "saturation"))[None], 0, 1)
            else:
                y = _shift_hue(_check_rgb(y, "hue"), f)
        if integer:
            return np.rint(y * 255.0).astype(x.dtype)
        return y.astype(x.dtype)

    def __call__(self, x):
        return _per_image(self, _image(x, "ColorJitter"))

    def __repr__(self) -> str:
        return (f"ColorJitter(brightness={self.brightness}, contrast={self.contrast}, "
                f"saturation={self.saturation}, hue={self.hue})")


def _check_rgb(y, what):
    if y.shape[0] != 3:
        raise ValueError(f"ColorJitter {what} needs RGB images (3, H, W), got {y.shape[0]} "
                         "channels")
    return y


class RandomRotation:
    """Rotate each image by an angle drawn from ``degrees`` (d -> [-d, d], or (min, max)),
    counter-clockwise about its centre, keeping its size; uncovered pixels get ``fill``.

    The geometry is Pillow's ``Image.rotate`` (what torchvision uses for PIL images): the
    output pixel centred at (x + 0.5, y + 0.5) takes the input point at the inverse rotation
    about (W / 2, H / 2); ``interpolation="nearest"`` (default, as torchvision) takes the pixel
    containing it, ``"bilinear"`` blends the four nearest pixel centres.
    """

    def __init__(self, degrees, interpolation: str = "nearest", fill=0, seed=None,
                 generator=None):
        if isinstance(degrees, numbers.Number) and not isinstance(degrees, bool):
            if degrees < 0:
                raise ValueError(f"RandomRotation degrees must be non-negative, got {degrees}")
            degrees = (-float(degrees), float(degrees))
        if not isinstance(degrees, (tuple, list)) or len(degrees) != 2 or degrees[0] > degrees[1]:
            raise ValueError(f"RandomRotation degrees must be a number or (min, max), "
                             f"got {degrees!r}")
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError(f"RandomRotation interpolation must be 'nearest' or 'bilinear', "
                             f"got {interpolation!r}")
        self.degrees = (float(degrees[0]), float(degrees[1]))
        self.interpolation = interpolation
        self.fill = fill
        self.random = RandomState(seed, generator)

    def _one(self, x):
        angle = float(self.random.generator().uniform(*self.degrees))
        return rotate(x, angle, self.interpolation, self.fill)

    def __call__(self, x):
        return _per_image(self, _image(x, "RandomRotation"))

    def __repr__(self) -> str:
        return f"RandomRotation(degrees={self.degrees}, interpolation={self.interpolation!r})"


def rotate(x, angle: float, interpolation: str = "nearest", fill=0) -> np.ndarray:
    """x (C, H, W) rotated ``angle`` degrees counter-clockwise about its centre (Pillow's
    ``Image.rotate`` geometry, same size)."""
    C, H, W = x.shape
    a = -math.radians(angle)
    cos, sin = round(math.cos(a), 15), round(math.sin(a), 15)  # as Pillow: exact at 90 degrees
    cx, cy = W / 2.0, H / 2.0
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float64) + 0.5             # output pixel centres
    sx = cos * (xs - cx) + sin * (ys - cy) + cx                        # (H, W) input points
    sy = -sin * (xs - cx) + cos * (ys - cy) + cy
    fill_value = np.broadcast_to(np.asarray(fill, dtype=np.float64), (C,))[:, None, None]
    if interpolation == "nearest":
        ix, iy = np.floor(sx).astype(np.int64), np.floor(sy).astype(np.int64)
        inside = (ix >= 0) & (ix < W) & (iy >= 0) & (iy < H)
        out = x[:, np.clip(iy, 0, H - 1), np.clip(ix, 0, W - 1)]       # (C, H, W)
        return np.where(inside[None], out, fill_value.astype(x.dtype)).astype(x.dtype)
    # as Pillow: a point outside the image takes the fill; inside, the four nearest pixel
    # centres are blended, those beyond the border replaced by the border pixel
    covered = (sx >= 0) & (sx < W) & (sy >= 0) & (sy < H)
    px, py = sx - 0.5, sy - 0.5
    x0, y0 = np.floor(px).astype(np.int64), np.floor(py).astype(np.int64)
    wx, wy = px - x0, py - y0
    xa, xb = np.clip(x0, 0, W - 1), np.clip(x0 + 1, 0, W - 1)
    ya, yb = np.clip(y0, 0, H - 1), np.clip(y0 + 1, 0, H - 1)
    xf = x.astype(np.float64)
    top = xf[:, ya, xa] * (1 - wx) + xf[:, ya, xb] * wx                  # (C, H, W)
    bottom = xf[:, yb, xa] * (1 - wx) + xf[:, yb, xb] * wx
    out = np.where(covered[None], top * (1 - wy) + bottom * wy, fill_value)
    if np.issubdtype(x.dtype, np.integer):
        info = np.iinfo(x.dtype)
        return np.clip(np.rint(out), info.min, info.max).astype(x.dtype)
    return out.astype(x.dtype)
