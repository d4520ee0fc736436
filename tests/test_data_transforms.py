"""Photo transforms: Resize(int), CenterCrop, RandomResizedCrop, ColorJitter, RandomRotation,
against Pillow (torchvision's backend for PIL images) where it is the reference, and by their
defining properties otherwise."""

import colorsys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_cnn.data.dataset import batch_random
from tinygrad_cnn.data.transforms import (
    CenterCrop,
    ColorJitter,
    RandomResizedCrop,
    RandomRotation,
    Resize,
)

Image = pytest.importorskip("PIL.Image", reason="Pillow is not installed (the main extra)")
ImageEnhance = pytest.importorskip("PIL.ImageEnhance")


def _photo(h=20, w=30, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (3, h, w)).astype(np.uint8)


def _pil(x):
    return Image.fromarray(x.transpose(1, 2, 0))


def _arr(img):
    return np.asarray(img).transpose(2, 0, 1)


@pytest.mark.parametrize(("shape", "size", "expected"), [
    ((3, 30, 50), 20, (20, 33)), ((3, 50, 30), 20, (33, 20)), ((2, 3, 16, 16), 8, (8, 8)),
    ((3, 30, 50), (10, 12), (10, 12))])
def test_resize_int_is_the_shorter_side(shape, size, expected):
    out = Resize(size)(np.zeros(shape, np.uint8))
    assert out.shape[-2:] == expected and out.dtype == np.uint8


@given(h=st.integers(1, 12), w=st.integers(1, 12), ch=st.integers(1, 14), cw=st.integers(1, 14))
def test_center_crop_matches_torchvision_rule(h, w, ch, cw):
    x = np.arange(2 * h * w).reshape(2, h, w) + 1  # no zeros: padding is visible
    out = CenterCrop((ch, cw))(x)
    assert out.shape == (2, ch, cw)
    # reference: pad (torchvision: left/top get the smaller half), then crop at round(...)
    ph, pw = max(ch - h, 0), max(cw - w, 0)
    padded = np.zeros((2, h + ph, w + pw), x.dtype)
    padded[:, ph // 2:ph // 2 + h, pw // 2:pw // 2 + w] = x
    H, W = padded.shape[1:]
    top, left = int(round((H - ch) / 2.0)), int(round((W - cw) / 2.0))
    for i in range(ch):
        for j in range(cw):
            assert out[0, i, j] == padded[0, top + i, left + j]


@given(seed=st.integers(0, 10**6), h=st.integers(4, 40), w=st.integers(4, 40))
def test_random_resized_crop_params_within_bounds(seed, h, w):
    t = RandomResizedCrop((5, 6), scale=(0.2, 0.9), ratio=(0.5, 2.0))
    top, left, ch, cw = t.get_params(h, w, np.random.default_rng(seed))
    assert 0 <= top and top + ch <= h and 0 <= left and left + cw <= w and ch >= 1 and cw >= 1
    out = t(_photo(h, w, seed))
    assert out.shape == (3, 5, 6) and out.dtype == np.uint8


def test_random_resized_crop_of_the_whole_image_is_a_resize():
    x = _photo(12, 18)
    t = RandomResizedCrop((6, 9), scale=(1.0, 1.0), ratio=(1.5, 1.5), seed=0)
    np.testing.assert_array_equal(t(x), Resize((6, 9))(x))


@pytest.mark.parametrize(("kind", "enhancer"), [("brightness", "Brightness"),
                                                ("contrast", "Contrast"),
                                                ("saturation", "Color")])
@pytest.mark.parametrize("factor", [0.3, 0.8, 1.4])
def test_color_jitter_matches_pillow_image_enhance(kind, enhancer, factor):
    x = _photo()
    ref = _arr(getattr(ImageEnhance, enhancer)(_pil(x)).enhance(factor)).astype(int)
    out = ColorJitter(**{kind: (factor, factor)})(x)
    assert out.dtype == np.uint8
    # Pillow truncates to an integer after the blend, we round: at most 1 grey level apart
    assert np.abs(out.astype(int) - ref).max() <= 1


def test_color_jitter_hue_rotates_hsv_hue():
    x = _photo(4, 5)
    shift = 0.2
    out = ColorJitter(hue=(shift, shift))(x.astype(np.float64) / 255)
    for i in range(4):
        for j in range(5):
            h, s, v = colorsys.rgb_to_hsv(*(x[:, i, j] / 255))
            np.testing.assert_allclose(out[:, i, j], colorsys.hsv_to_rgb((h + shift) % 1, s, v),
                                       atol=1e-9)
    grey = np.full((3, 2, 2), 90, np.uint8)
    np.testing.assert_array_equal(ColorJitter(hue=0.5, seed=0)(grey), grey)


def test_color_jitter_ranges_validated():
    with pytest.raises(ValueError, match="brightness must be non-negative"):
        ColorJitter(brightness=-1)
    with pytest.raises(ValueError, match=r"hue range \(-0.7, 0.7\) must lie within"):
        ColorJitter(hue=0.7)


@pytest.mark.parametrize("angle", [90.0, 180.0, 33.3, -71.0, 12.0])
@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_rotation_matches_pillow_rotate(angle, mode):
    x = _photo()
    resample = Image.NEAREST if mode == "nearest" else Image.BILINEAR
    ref = _arr(_pil(x).rotate(angle, resample)).astype(int)
    out = RandomRotation((angle, angle), interpolation=mode)(x).astype(int)
    tolerance = 0 if mode == "nearest" else 1  # rounding of the blend
    assert np.abs(out - ref).max() <= tolerance


def test_random_transforms_seeded_and_per_image():
    batch = np.stack([_photo(seed=0)] * 4)
    t = RandomRotation(45)
    with batch_random((1, 2, 3)):
        a = t(batch)
    with batch_random((1, 2, 3)):
        b = t(batch)
    np.testing.assert_array_equal(a, b)  # same key, same draws
    assert len({im.tobytes() for im in a}) == 4  # every image its own angle
    assert not np.array_equal(RandomRotation(45, seed=1)(batch[0]),
                              RandomRotation(45, seed=2)(batch[0]))


def test_split_elementwise_tail():
    """The end of a transform that may run once per batch: ToFloat and Normalize only, and only
    at the end; head then tail is the transform."""
    from tinygrad_cnn.data.transforms import (
        CenterCrop,
        Compose,
        Normalize,
        RandomHorizontalFlip,
        ToFloat,
        split_elementwise_tail,
    )

    to_float, norm, crop = ToFloat(1 / 255), Normalize([0.5], [0.25]), CenterCrop(4)
    assert split_elementwise_tail(None) == (None, None)
    assert split_elementwise_tail(to_float) == (None, to_float)
    assert split_elementwise_tail(crop) == (crop, None)
    head, tail = split_elementwise_tail(Compose([crop, to_float, norm]))
    assert head is crop and isinstance(tail, Compose) and tail.transforms == [to_float, norm]
    flip = RandomHorizontalFlip(1.0)
    head, tail = split_elementwise_tail(Compose([to_float, flip, crop, norm]))
    assert isinstance(head, Compose) and head.transforms == [to_float, flip, crop]
    assert tail is norm
    whole = Compose([crop, Compose([to_float, norm])])
    assert split_elementwise_tail(whole) == (crop, whole.transforms[1])
    own = Compose([crop, lambda x: x * 2])
    assert split_elementwise_tail(own) == (own, None)
    x = np.random.default_rng(0).integers(0, 256, (3, 3, 6, 6)).astype(np.uint8)
    head, tail = split_elementwise_tail(Compose([crop, to_float, norm]))
    np.testing.assert_array_equal(tail(np.stack([head(im) for im in x])),
                                  np.stack([norm(to_float(crop(im))) for im in x]))
