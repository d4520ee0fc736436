"""Image files and ImageFolder: right pixels or a clear error, lazy listing, the decoded cache,
streaming statistics."""

import logging
import os
import tracemalloc

import numpy as np
import pytest

from tinygrad_cnn.data import DataLoader, Dataset, ImageFolder, ImageTooLargeError, load_image
from tinygrad_cnn.data.transforms import Normalize

Image = pytest.importorskip("PIL.Image", reason="Pillow is not installed (the main extra)")


def _folder(root, classes=("cat", "dog"), per_class=4, size=(12, 10)):
    rng = np.random.default_rng(0)
    for label, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            arr = rng.integers(0, 256, size=(*size, 3)).astype(np.uint8)
            arr[..., 0] = 200 * label
            Image.fromarray(arr).save(root / name / f"{i}.png")
    return root


# --------------------------------------------------------------------------- pixels


def test_16bit_greyscale_scaled_to_8bit(tmp_path):
    ramp = np.linspace(0, 65535, 64).round().astype(np.uint16).reshape(4, 16)
    Image.fromarray(ramp).save(tmp_path / "ramp.png")
    assert Image.open(tmp_path / "ramp.png").mode.startswith("I")
    out = load_image(tmp_path / "ramp.png", None)
    expected = np.floor(ramp.astype(np.float64) * 255 / 65535 + 0.5).astype(np.uint8)
    assert out.shape == (3, 4, 16)
    np.testing.assert_array_equal(out[0], expected)
    np.testing.assert_array_equal(out[1], out[0])
    assert out[0, 0, 0] == 0 and out[0, -1, -1] == 255


def test_float_tiff_in_unit_range_scaled_and_others_refused(tmp_path):
    values = np.linspace(0, 1, 24, dtype=np.float32).reshape(4, 6)
    Image.fromarray(values).save(tmp_path / "unit.tif")
    out = load_image(tmp_path / "unit.tif", None)
    np.testing.assert_array_equal(out[2], np.rint(values.astype(np.float64) * 255))
    Image.fromarray(values * 300).save(tmp_path / "wide.tif")
    with pytest.raises(OSError, match=r"wide\.tif: mode 'F' \(32-bit float\) with values in "
                                      r"\[0, 300\]"):
        load_image(tmp_path / "wide.tif", None)


def test_cmyk_palette_alpha_converted_as_pillow_convert_rgb(tmp_path):
    rng = np.random.default_rng(1)
    rgb = Image.fromarray(rng.integers(0, 256, (9, 7, 3)).astype(np.uint8))
    cases = {
        "cmyk.jpg": rgb.convert("CMYK"),
        "palette.png": rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16),
        "alpha.png": Image.fromarray(rng.integers(0, 256, (9, 7, 4)).astype(np.uint8), "RGBA"),
        "grey_alpha.png": rgb.convert("LA"),
        "bilevel.png": rgb.convert("1"),
    }
    for name, img in cases.items():
        img.save(tmp_path / name)
        with Image.open(tmp_path / name) as f:
            reference = np.asarray(f.convert("RGB")).transpose(2, 0, 1)  # torchvision pil_loader
        np.testing.assert_array_equal(load_image(tmp_path / name, None), reference, err_msg=name)


def test_decompression_bomb_refused_before_decoding(tmp_path):
    Image.new("L", (3000, 2000)).save(tmp_path / "huge.png")  # compresses to a few KB
    with pytest.raises(ImageTooLargeError, match=r"huge\.png has 3000x2000 = 6,000,000 pixels, "
                                                 r"more than max_pixels=1,000,000"):
        load_image(tmp_path / "huge.png", 8, max_pixels=1_000_000)
    assert load_image(tmp_path / "huge.png", 8, max_pixels=None).shape == (3, 8, 8)


def test_jpeg_draft_decoding_close_to_full_decode(tmp_path):
    rng = np.random.default_rng(2)
    smooth = np.kron(rng.integers(0, 256, (12, 16, 3)), np.ones((32, 32, 1))).astype(np.uint8)
    Image.fromarray(smooth).save(tmp_path / "photo.jpg", quality=90)
    fast = load_image(tmp_path / "photo.jpg", (48, 64)).astype(np.int64)
    with Image.open(tmp_path / "photo.jpg") as f:
        full = np.asarray(f.convert("RGB").resize((64, 48), Image.BILINEAR)).transpose(2, 0, 1)
    assert np.abs(fast - full).mean() < 3


# --------------------------------------------------------------------------- folders


def test_image_folder_is_lazy(tmp_path, monkeypatch):
    root = _folder(tmp_path / "pets")
    calls = []
    import tinygrad_cnn.data.images as images

    real = images.load_image
    monkeypatch.setattr(images, "load_image", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    ds = ImageFolder(root, image_size=6)
    assert calls == [] and len(ds) == 8 and ds.targets.tolist() == [0] * 4 + [1] * 4
    x, y = ds.__getitems__([5, 1])
    assert len(calls) == 2 and x.shape == (2, 3, 6, 6) and y.tolist() == [1, 0]
    with pytest.raises(AttributeError, match="needs the decoded cache"):
        ds.images  # noqa: B018


def test_empty_class_folder_is_an_error_or_a_warning(tmp_path, caplog):
    root = _folder(tmp_path / "pets")
    (root / "bird").mkdir()
    with pytest.raises(ValueError, match=r"empty class folder bird/"):
        ImageFolder(root)
    with caplog.at_level(logging.WARNING, logger="tinygrad_cnn.data"):
        ds = ImageFolder(root, on_error="skip")
    assert ds.classes == ["cat", "dog"] and "bird/" in caplog.text


@pytest.mark.parametrize(("image_size", "message"), [
    ("abc", "image_size must be a positive int or \\(height, width\\).*got 'abc'"),
    (2.5, "got 2.5"), (0, "got 0"), ((4, 0), "got \\(4, 0\\)"), (True, "got True")])
def test_image_size_validated(tmp_path, image_size, message):
    root = _folder(tmp_path / "pets", per_class=1)
    with pytest.raises(ValueError, match=message):
        ImageFolder(root, image_size=image_size)


def test_cache_built_reused_and_rebuilt_when_stale(tmp_path, caplog):
    root = _folder(tmp_path / "pets")
    (root / "dog" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    cache = tmp_path / "cache"
    with caplog.at_level(logging.WARNING, logger="tinygrad_cnn.data"):
        ds = ImageFolder(root, image_size=(6, 5), cache=cache, on_error="skip", num_workers=2)
    assert caplog.text.count("broken.jpg") == 1 and len(ds) == 8
    lazy = ImageFolder(root, image_size=(6, 5), on_error="skip")
    np.testing.assert_array_equal(ds.__getitems__(np.arange(8))[0],
                                  lazy.__getitems__(np.arange(8))[0])
    np.testing.assert_array_equal(ds[3][0], lazy[3][0])
    files = sorted(p.name for p in cache.iterdir())
    assert len(files) == 2 and not any(f.endswith(".tmp") for f in files)
    stamp = os.stat(ds.cache_path).st_mtime_ns
    again = ImageFolder(root, image_size=(6, 5), cache=cache, on_error="skip")
    assert again.cache_path == ds.cache_path and os.stat(ds.cache_path).st_mtime_ns == stamp
    # an edited file (new content, new mtime) makes the old cache stale: rebuilt, never used
    arr = np.full((12, 10, 3), 77, np.uint8)
    Image.fromarray(arr).save(root / "cat" / "0.png")
    os.utime(root / "cat" / "0.png", ns=(stamp + 10**9, stamp + 10**9))
    fresh = ImageFolder(root, image_size=(6, 5), cache=cache, on_error="skip")
    assert fresh.cache_path != ds.cache_path and not ds.cache_path.exists()
    np.testing.assert_array_equal(fresh.images[0], np.full((3, 6, 5), 77, np.uint8))
    # another image size is another cache
    other = ImageFolder(root, image_size=4, cache=cache, on_error="skip")
    assert other.images.shape == (8, 3, 4, 4) and fresh.cache_path.exists()
    with pytest.raises(OSError, match="cannot read image .*broken.jpg.*on_error='skip'"):
        ImageFolder(root, image_size=4, cache=cache)  # the build found it: raised at once


def test_cache_memory_bounded_by_the_batch(tmp_path):
    root = _folder(tmp_path / "pets", per_class=40, size=(20, 20))
    ds = ImageFolder(root, image_size=16, cache=tmp_path / "cache", num_workers=1)
    tracemalloc.start()
    for _ in DataLoader(ds, batch_size=4):
        pass
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 80 * 3 * 16 * 16 * 4  # under the float32 size of the whole dataset


class Synthetic(Dataset):
    """2,000 float32 images of 3x64x64 (98 MB if materialised), made on access."""

    def __len__(self):
        return 2000

    def __getitem__(self, i):
        return np.full((3, 64, 64), 0, np.float32) + np.float32(i % 7) * [[[1.0]], [[2]], [[3]]], 0

    def __getitems__(self, indices):
        k = (np.asarray(indices) % 7).astype(np.float32)[:, None, None, None]
        return (np.zeros((len(indices), 3, 64, 64), np.float32) + k * np.float32([1, 2, 3])
                .reshape(1, 3, 1, 1)), np.zeros(len(indices))


def test_normalize_from_data_streams_one_pass():
    tracemalloc.start()
    stats = Normalize.from_data(Synthetic(), chunk=16)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 10 * 2**20  # a few batches of 16 images, not 98 MB
    k = np.arange(2000) % 7
    for c, scale in enumerate([1, 2, 3]):
        np.testing.assert_allclose(stats.mean[c], (k * scale).mean(), rtol=1e-6)
        np.testing.assert_allclose(stats.std[c], (k * scale).std() + 1e-6, rtol=1e-5)


def test_normalize_from_data_matches_numpy_on_arrays_and_loaders():
    rng = np.random.default_rng(3)
    x = (rng.normal(size=(50, 3, 5, 4)) * [[[2.0]], [[0.1]], [[5]]] + 1000).astype(np.float32)
    ref = x.astype(np.float64)
    for source in (x, DataLoader(Synthetic(), batch_size=300)):
        stats = Normalize.from_data(source, chunk=7)
        data = ref if source is x else Synthetic().__getitems__(np.arange(2000))[0]
        np.testing.assert_allclose(stats.mean, data.mean(axis=(0, 2, 3)), rtol=1e-6)
        np.testing.assert_allclose(stats.std - 1e-6, data.std(axis=(0, 2, 3)), rtol=1e-4)
