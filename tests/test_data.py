"""tinygrad_cnn.data: datasets, splits, the DataLoader, transforms, built-in loaders."""

import gzip
import logging

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tinygrad_cnn.data import (
    DataLoader,
    Dataset,
    ImageFolder,
    Subset,
    TensorDataset,
    TransformedDataset,
    default_collate,
    load_digits,
    load_fashion_mnist,
    load_image,
    load_mnist,
    random_split,
    read_idx,
    train_val_split,
)
from tinygrad_cnn.data.transforms import (
    Compose,
    Normalize,
    RandomCrop,
    RandomHorizontalFlip,
    Resize,
    ToFloat,
)

# --------------------------------------------------------------------------- helpers


class ListDataset(Dataset):
    """A generic dataset without __getitems__, to exercise the per-sample path."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return np.full((2, 3), float(i)), i % 3


def _toy(n=20, classes=4):
    x = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    y = np.arange(n) % classes
    return TensorDataset(x, y)


# --------------------------------------------------------------------------- datasets


def test_tensor_dataset_rows_and_errors():
    ds = _toy(10)
    x, y = ds[3]
    np.testing.assert_array_equal(x, [6, 7])
    assert y == 3 and len(ds) == 10
    xb, yb = ds.__getitems__([1, 4])
    np.testing.assert_array_equal(yb, [1, 0])
    with pytest.raises(ValueError, match=r"different lengths \[3, 4\]"):
        TensorDataset(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="at least one"):
        TensorDataset()
    # Tensors are accepted and kept on the host
    ds = TensorDataset(tc.ones(4, 2), tc.tensor([0, 1, 0, 1]))
    assert isinstance(ds.tensors[0], np.ndarray) and ds.targets.tolist() == [0, 1, 0, 1]


def test_subset_and_transformed_dataset():
    ds = _toy(10)
    sub = Subset(ds, [9, 2, 5])
    assert len(sub) == 3 and sub[0][1] == 1 and sub.targets.tolist() == [1, 2, 1]
    xb, yb = sub.__getitems__([2, 0])
    np.testing.assert_array_equal(xb, [[10, 11], [18, 19]])
    with pytest.raises(IndexError, match="out of range"):
        Subset(ds, [10])
    doubled = TransformedDataset(sub, lambda x: 2 * x)
    np.testing.assert_array_equal(doubled[1][0], [8, 10])
    np.testing.assert_array_equal(doubled.__getitems__([1])[0], [[8, 10]])


def test_random_split_partitions():
    ds = _toy(10)
    a, b = random_split(ds, [7, 3], seed=0)
    assert len(a) == 7 and len(b) == 3
    assert sorted(np.concatenate([a.indices, b.indices]).tolist()) == list(range(10))
    c, d, e = random_split(ds, [0.5, 0.3, 0.2], seed=0)
    assert (len(c), len(d), len(e)) == (5, 3, 2)
    with pytest.raises(ValueError, match="summing to the dataset size 10"):
        random_split(ds, [5, 4])
    # reproducible with a seed
    assert random_split(ds, [7, 3], seed=5)[0].indices.tolist() == \
        random_split(ds, [7, 3], seed=5)[0].indices.tolist()


@given(counts=st.lists(st.integers(2, 30), min_size=2, max_size=6),
       frac=st.floats(0.1, 0.5), seed=st.integers(0, 10**6))
def test_train_val_split_is_stratified_partition(counts, frac, seed):
    y = np.repeat(np.arange(len(counts)), counts)  # sorted by class, like many raw datasets
    ds = TensorDataset(np.zeros((len(y), 1)), y)
    train, val = train_val_split(ds, frac, seed=seed)
    all_idx = np.concatenate([train.indices, val.indices])
    assert sorted(all_idx.tolist()) == list(range(len(y)))  # a partition
    for label, count in enumerate(counts):
        n_val = int(np.sum(val.targets == label))
        n_train = int(np.sum(train.targets == label))
        assert n_val >= 1 and n_train >= 1  # every class in both splits
        assert abs(n_val - count * frac) <= 1.0  # the class keeps its share


def test_train_val_split_vs_keras_last_fraction():
    # class-sorted data: Keras-style "last 30%" validation holds only classes never trained on
    y = np.repeat([0, 1, 2], 10)
    cut = len(y) * 2 // 3  # validation_split=1/3 keeps the first two thirds for training
    assert set(y[cut:].tolist()) == {2} and 2 not in set(y[:cut].tolist())
    train, val = train_val_split(TensorDataset(np.zeros((30, 1)), y), 1 / 3, seed=0)
    assert set(val.targets.tolist()) == {0, 1, 2} == set(train.targets.tolist())


def test_train_val_split_errors_and_generic_dataset():
    with pytest.raises(ValueError, match="between 0 and 1"):
        train_val_split(_toy(), 1.5)
    train, val = train_val_split(ListDataset(30), 0.2, seed=0)  # labels read from samples
    assert len(train) + len(val) == 30 and len(val) == 6
    tr, va = train_val_split(_toy(10), 0.3, stratify=False, seed=0)
    assert len(va) == 3 and len(tr) == 7


# --------------------------------------------------------------------------- DataLoader


def test_dataloader_batches_every_sample_once(device):
    ds = _toy(10)
    loader = DataLoader(ds, batch_size=4, shuffle=True, seed=0, device=device)
    assert len(loader) == 3
    batches = list(loader)
    assert [b[0].shape for b in batches] == [(4, 2), (4, 2), (2, 2)]
    assert all(b[0].device == tc.backend.normalize_device(device) for b in batches)
    assert batches[0][0].dtype == np.float32 and batches[0][1].dtype == np.int64
    xs = np.concatenate([b[0].numpy() for b in batches])
    assert sorted(xs[:, 0].tolist()) == list(range(0, 20, 2))  # a permutation of all rows
    # labels stay with their images
    ys = np.concatenate([b[1].numpy() for b in batches])
    np.testing.assert_array_equal(ys, (xs[:, 0] // 2).astype(int) % 4)


def test_dataloader_order_shuffle_and_drop_last():
    ds = _toy(10)
    plain = [b[1].numpy().tolist() for b in DataLoader(ds, batch_size=3)]
    assert plain == [[0, 1, 2], [3, 0, 1], [2, 3, 0], [1]]
    assert len(list(DataLoader(ds, batch_size=3, drop_last=True))) == 3
    a = DataLoader(ds, batch_size=10, shuffle=True, seed=3)
    b = DataLoader(ds, batch_size=10, shuffle=True, seed=3)
    epoch1_a, epoch2_a = next(iter(a))[0].numpy(), next(iter(a))[0].numpy()
    np.testing.assert_array_equal(epoch1_a, next(iter(b))[0].numpy())  # reproducible
    assert not np.array_equal(epoch1_a, epoch2_a)  # a new order every epoch
    tc.manual_seed(7)
    c = next(iter(DataLoader(ds, batch_size=10, shuffle=True)))[0].numpy()
    tc.manual_seed(7)
    d = next(iter(DataLoader(ds, batch_size=10, shuffle=True)))[0].numpy()
    np.testing.assert_array_equal(c, d)  # follows tc.manual_seed


def test_dataloader_generic_dataset_and_collate():
    loader = DataLoader(ListDataset(5), batch_size=2)
    x, y = next(iter(loader))
    assert x.shape == (2, 2, 3) and x.dtype == np.float32 and y.tolist() == [0, 1]
    custom = DataLoader(ListDataset(4), batch_size=4, collate_fn=lambda s: np.array([len(s)]))
    assert next(iter(custom)).tolist() == [4]
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        DataLoader(ListDataset(3), batch_size=0)
    with pytest.raises(TypeError, match="__getitem__ and __len__"):
        DataLoader(42)
    with pytest.raises(ValueError, match=r"cannot stack samples of shapes"):
        default_collate([np.zeros(2), np.zeros(3)])


# --------------------------------------------------------------------------- transforms


def _bilinear_reference(img, oh, ow):
    """Naive loops: half-pixel-centre bilinear interpolation of one (C, H, W) image."""
    c, h, w = img.shape
    out = np.zeros((c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            sy = min(max((i + 0.5) * h / oh - 0.5, 0), h - 1)
            sx = min(max((j + 0.5) * w / ow - 0.5, 0), w - 1)
            y0, x0 = int(np.floor(sy)), int(np.floor(sx))
            y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
            dy, dx = sy - y0, sx - x0
            out[:, i, j] = (img[:, y0, x0] * (1 - dy) * (1 - dx) + img[:, y0, x1] * (1 - dy) * dx
                            + img[:, y1, x0] * dy * (1 - dx) + img[:, y1, x1] * dy * dx)
    return out


@given(h=st.integers(1, 9), w=st.integers(1, 9), oh=st.integers(1, 9), ow=st.integers(1, 9),
       seed=st.integers(0, 1000))
def test_resize_matches_naive_bilinear(h, w, oh, ow, seed):
    x = np.random.default_rng(seed).normal(size=(2, 3, h, w))
    out = Resize((oh, ow))(x)
    assert out.shape == (2, 3, oh, ow)
    for n in range(2):
        np.testing.assert_allclose(out[n], _bilinear_reference(x[n], oh, ow), atol=1e-5)
    np.testing.assert_allclose(Resize((oh, ow))(x[0]), out[0], atol=1e-6)


def test_resize_uint8_and_errors():
    x = np.full((3, 4, 4), 200, dtype=np.uint8)
    out = Resize(2)(x)
    assert out.dtype == np.uint8 and out.shape == (3, 2, 2) and np.all(out == 200)
    with pytest.raises(ValueError, match=r"expects an image \(C, H, W\) or a batch"):
        Resize(2)(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="positive int or"):
        Resize((0, 3))


def test_to_float_normalize_compose():
    x = np.random.default_rng(0).integers(0, 256, size=(50, 3, 4, 4)).astype(np.uint8)
    scaled = ToFloat(1 / 255)(x)
    assert scaled.dtype == np.float32 and scaled.max() <= 1.0
    norm = Normalize.from_data(scaled)
    np.testing.assert_allclose(norm.mean, scaled.mean(axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(norm.std, scaled.std(axis=(0, 2, 3)), rtol=1e-4)
    chunked = Normalize.from_data(scaled, chunk=7)  # statistics summed over chunks agree
    np.testing.assert_allclose(chunked.std, norm.std, rtol=1e-6)
    out = norm(scaled)
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=(0, 2, 3)), 1, atol=1e-3)
    pipeline = Compose([ToFloat(1 / 255), norm])
    np.testing.assert_allclose(pipeline(x), out, atol=1e-6)
    np.testing.assert_allclose(pipeline(x[0]), out[0], atol=1e-6)  # one image too
    # from a dataset: statistics of its (transformed) images
    ds = TensorDataset(x, np.zeros(50), transform=ToFloat(1 / 255))
    np.testing.assert_allclose(Normalize.from_data(ds).mean, norm.mean, atol=1e-6)
    with pytest.raises(ValueError, match="3 channel statistics but the image has 1 channels"):
        norm(np.zeros((1, 4, 4)))
    with pytest.raises(ValueError, match="std must be positive"):
        Normalize([0.0], [0.0])


def test_random_horizontal_flip():
    x = np.random.default_rng(0).normal(size=(40, 2, 3, 5))
    out = RandomHorizontalFlip(0.5, seed=0)(x)
    flipped = np.array([np.array_equal(o, xi[..., ::-1]) for o, xi in zip(out, x, strict=True)])
    kept = np.array([np.array_equal(o, xi) for o, xi in zip(out, x, strict=True)])
    assert np.all(flipped ^ kept) and 5 < flipped.sum() < 35  # each image one or the other
    np.testing.assert_array_equal(RandomHorizontalFlip(1.0)(x), x[..., ::-1])
    np.testing.assert_array_equal(RandomHorizontalFlip(0.0)(x), x)
    np.testing.assert_array_equal(RandomHorizontalFlip(1.0)(x[0]), x[0][..., ::-1])
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\]"):
        RandomHorizontalFlip(2)


@given(size=st.integers(1, 6), padding=st.integers(0, 2), seed=st.integers(0, 1000))
def test_random_crop_takes_windows_of_the_padded_image(size, padding, seed):
    x = np.random.default_rng(seed).normal(size=(6, 2, 6, 6)) + 10  # no zeros inside
    out = RandomCrop(size, padding=padding, seed=seed)(x)
    assert out.shape == (6, 2, size, size)
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    span = 6 + 2 * padding - size + 1
    for n in range(6):  # every crop is one window of its own padded image
        assert any(np.array_equal(out[n], padded[n, :, i:i + size, j:j + size])
                   for i in range(span) for j in range(span))


def test_random_crop_errors():
    with pytest.raises(ValueError, match=r"larger than the padded image \(4, 4\)"):
        RandomCrop(5)(np.zeros((1, 4, 4)))
    assert RandomCrop(2)(np.zeros((1, 4, 4))).shape == (1, 2, 2)


# --------------------------------------------------------------------------- digits


def test_load_digits():
    pytest.importorskip("sklearn", reason="scikit-learn is not installed (the main extra)")
    ds = load_digits()
    assert len(ds) == 1797 and ds.tensors[0].shape == (1797, 1, 8, 8)
    assert ds.tensors[0].dtype == np.float32 and 0 <= ds.tensors[0].min() < ds.tensors[0].max() <= 1
    assert sorted(np.unique(ds.targets).tolist()) == list(range(10))
    assert ds.classes == [str(i) for i in range(10)]


# --------------------------------------------------------------------------- IDX files


def _idx_bytes(array, code):
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    return header + array.tobytes()


@pytest.mark.parametrize("code,dtype", [(0x08, "u1"), (0x09, "i1"), (0x0B, ">i2"),
                                        (0x0C, ">i4"), (0x0D, ">f4"), (0x0E, ">f8")])
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_every_type(tmp_path, code, dtype, gz):
    a = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype) if dtype != "u1" else \
        np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    raw = _idx_bytes(a, code)
    path = tmp_path / "x.idx"
    path.write_bytes(gzip.compress(raw) if gz else raw)
    out = read_idx(path)
    np.testing.assert_array_equal(out, a)
    assert out.dtype.isnative


def test_read_idx_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="IDX file not found"):
        read_idx(tmp_path / "missing")
    bad = tmp_path / "bad"
    bad.write_bytes(b"hello world")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(bad)
    short = tmp_path / "short"
    short.write_bytes(_idx_bytes(np.zeros((3, 2), np.uint8), 0x08)[:-1])
    with pytest.raises(ValueError, match=r"shape \(3, 2\) \(6 bytes of data\) but the file has 5"):
        read_idx(short)
    corrupt = tmp_path / "corrupt.gz"
    corrupt.write_bytes(gzip.compress(b"\x00" * 50)[:-10])
    with pytest.raises(ValueError, match="corrupt gzip"):
        read_idx(corrupt)


def _write_mnist(root, n, gz, prefix="train"):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 28, 28)).astype(np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    suffix = ".gz" if gz else ""
    for name, arr, code in ((f"{prefix}-images-idx3-ubyte", images, 0x08),
                            (f"{prefix}-labels-idx1-ubyte", labels, 0x08)):
        raw = _idx_bytes(arr, code)
        (root / (name + suffix)).write_bytes(gzip.compress(raw) if gz else raw)
    return images, labels


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_from_generated_idx(tmp_path, gz):
    images, labels = _write_mnist(tmp_path, 12, gz)
    _write_mnist(tmp_path, 5, gz, prefix="t10k")
    ds = load_mnist(tmp_path)
    assert len(ds) == 12 and ds.tensors[0].shape == (12, 1, 28, 28)
    x, y = next(iter(DataLoader(ds, batch_size=12)))
    np.testing.assert_allclose(x.numpy()[:, 0], images / 255, atol=1e-6)
    assert y.numpy().tolist() == labels.tolist() and x.dtype == np.float32
    assert len(load_mnist(tmp_path, train=False)) == 5
    assert load_fashion_mnist(tmp_path).classes[9] == "Ankle boot"


def test_load_mnist_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="MNIST folder not found"):
        load_mnist(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="no train-images-idx3-ubyte"):
        load_mnist(tmp_path)
    _write_mnist(tmp_path, 4, False)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(_idx_bytes(np.zeros(3, np.uint8), 0x08))
    with pytest.raises(ValueError, match=r"\(4, 28, 28\) and \(3,\)"):
        load_mnist(tmp_path)


# --------------------------------------------------------------------------- image folders


def _make_folder(root, per_class=3, size=(10, 14)):
    Image = pytest.importorskip("PIL.Image", reason="Pillow is not installed (the main extra)")
    rng = np.random.default_rng(0)
    for label, name in enumerate(["cat", "dog"]):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            arr = rng.integers(0, 256, size=(*size, 3)).astype(np.uint8)
            arr[..., 0] = 255 * label  # red channel marks the class
            mode_img = Image.fromarray(arr)
            if i == 1:
                mode_img = mode_img.convert("L")  # a greyscale file is converted to RGB
            mode_img.save(root / name / f"{i}.png")
        (root / name / "notes.txt").write_text("not an image")  # ignored by extension
    return root


def test_image_folder_decodes_resizes_and_labels(tmp_path):
    root = _make_folder(tmp_path / "pets")
    ds = ImageFolder(root, image_size=(8, 6))
    assert ds.classes == ["cat", "dog"] and ds.class_to_idx == {"cat": 0, "dog": 1}
    cached = ImageFolder(root, image_size=(8, 6), cache=tmp_path / "cache")
    assert len(ds) == 6 and cached.images.shape == (6, 3, 8, 6)
    assert cached.images.dtype == np.uint8
    assert ds.targets.tolist() == [0, 0, 0, 1, 1, 1]
    x, y = next(iter(DataLoader(ds, batch_size=6)))
    assert x.shape == (6, 3, 8, 6) and x.dtype == np.float32 and float(x.numpy().max()) <= 1
    red = x.numpy()[[0, 2, 3, 5], 0].mean(axis=(1, 2))  # the colour files keep their marker
    np.testing.assert_allclose(red, [0, 0, 1, 1], atol=1e-6)
    assert load_image(root / "dog" / "0.png", (4, 4)).shape == (3, 4, 4)


def test_image_folder_corrupt_file_raise_or_skip(tmp_path, caplog):
    root = _make_folder(tmp_path / "pets")
    bad = root / "dog" / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 definitely not a jpeg")
    lazy = ImageFolder(root)  # lists only: the bad file is found when it is read
    with pytest.raises(OSError, match=r"cannot read image .*broken\.jpg"):
        list(DataLoader(lazy, batch_size=4))
    with caplog.at_level(logging.WARNING, logger="tinygrad_cnn.data"):
        ds = ImageFolder(root, image_size=4, on_error="skip", cache=tmp_path / "cache")
    assert len(ds) == 6 and ds.skipped[0][0].endswith("broken.jpg")
    assert "skipped unreadable image" in caplog.text and "broken.jpg" in caplog.text


def test_image_folder_errors(tmp_path):
    pytest.importorskip("PIL.Image", reason="Pillow is not installed (the main extra)")
    with pytest.raises(FileNotFoundError, match="image folder not found"):
        ImageFolder(tmp_path / "missing")
    with pytest.raises(ValueError, match="no class sub-folders"):
        ImageFolder(tmp_path)
    (tmp_path / "a").mkdir()
    with pytest.raises(ValueError, match="no image files"):
        ImageFolder(tmp_path)
    with pytest.raises(ValueError, match="on_error must be 'raise' or 'skip'"):
        ImageFolder(tmp_path, on_error="ignore")
