"""DataLoader worker processes: same batches whatever num_workers, seeding, failures surfaced.

These tests start real worker processes (2 workers) and run in CI. They use the default start
method, fork on Linux (fast, and the test's local datasets need no pickling), and one test runs
the spawn method, which macOS and Windows use and which needs picklable datasets. Every loader
gets timeout=60 so that a bug shows as an error, never as a hung test run.
"""

import gc
import logging
import os
import signal

import numpy as np
import pytest

import tinygrad_cnn as tc
from tinygrad_cnn.data import (
    DataLoader,
    Dataset,
    ImageFolder,
    TensorDataset,
    TransformedDataset,
    get_worker_info,
)
from tinygrad_cnn.data.transforms import (
    ColorJitter,
    Compose,
    RandomCrop,
    RandomHorizontalFlip,
    RandomResizedCrop,
    RandomRotation,
    ToFloat,
)

T = 60  # seconds: the most a test waits for one batch


class Images(Dataset):
    """uint8 images (3, 12, 10) whose pixels encode their index; picklable (for spawn)."""

    def __init__(self, n=37):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        rng = np.random.default_rng(i)
        return rng.integers(0, 256, size=(3, 12, 10)).astype(np.uint8), i % 3


class Failing(Dataset):
    """Raises ValueError at index ``bad`` (in whichever process fetches it)."""

    def __init__(self, bad, how="raise"):
        self.bad, self.how = bad, how

    def __len__(self):
        return 12

    def __getitem__(self, i):
        if i == self.bad and get_worker_info() is not None:
            if self.how == "exit":
                os._exit(3)
            if self.how == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            raise ValueError(f"sample {i} is broken on purpose")
        return np.full(2, float(i)), i


class WhoAmI(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        info = get_worker_info()
        return np.array([info.id, info.seed, info.num_workers, np.random.randint(2**31)]), i


def _augment(seed=None):
    return Compose([RandomResizedCrop((8, 8), scale=(0.3, 1.0), seed=seed),
                    RandomHorizontalFlip(0.5), RandomRotation(20), ColorJitter(0.3, 0.3, 0.3, 0.1),
                    ToFloat(1 / 255)])


def _epochs(loader, epochs=2):
    return [[t.numpy() for t in batch] for _ in range(epochs) for batch in loader]


def _shm_blocks():
    return {n for n in os.listdir("/dev/shm") if n.startswith(f"tgcnn{os.getpid()}")} \
        if os.path.isdir("/dev/shm") else set()


@pytest.mark.parametrize("persistent", [False, True])
def test_batches_and_augmentation_identical_for_0_1_2_workers(persistent):
    ds = TransformedDataset(Images(), _augment())
    runs = {}
    for workers in (0, 1, 2):
        loader = DataLoader(ds, batch_size=5, shuffle=True, seed=11, num_workers=workers,
                            persistent_workers=persistent and workers > 0, timeout=T)
        runs[workers] = _epochs(loader)
        loader.shutdown_workers()
    assert len(runs[0]) == 2 * 8
    for workers in (1, 2):
        for a, b in zip(runs[0], runs[workers], strict=True):
            np.testing.assert_array_equal(a[0], b[0])
            np.testing.assert_array_equal(a[1], b[1])
    # the two epochs differ (new order and new augmentation), and each label set is complete
    assert not np.array_equal(runs[0][0][0], runs[0][8][0])
    labels = np.concatenate([b[1] for b in runs[2][:8]])
    assert sorted(labels.tolist()) == sorted([i % 3 for i in range(37)])
    assert not _shm_blocks()


def test_seeded_transform_and_library_seed_reproducible_across_workers():
    ds = TransformedDataset(Images(20), _augment(seed=4))
    runs = []
    for workers in (0, 2):
        tc.manual_seed(123)  # no loader seed: the order and the batch keys follow tc.manual_seed
        runs.append(_epochs(DataLoader(ds, batch_size=6, shuffle=True, num_workers=workers,
                                       timeout=T), 1))
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a[0], b[0])


def test_image_folder_with_workers_matches_in_process(tmp_path):
    Image = pytest.importorskip("PIL.Image", reason="Pillow is not installed (the main extra)")
    rng = np.random.default_rng(0)
    for name in ("cat", "dog"):
        (tmp_path / name).mkdir()
        for i in range(7):
            Image.fromarray(rng.integers(0, 256, (20, 16, 3)).astype(np.uint8)).save(
                tmp_path / name / f"{i}.png")
    ds = ImageFolder(tmp_path, image_size=(10, 8), transform=_augment())
    a = _epochs(DataLoader(ds, batch_size=4, shuffle=True, seed=0), 1)
    b = _epochs(DataLoader(ds, batch_size=4, shuffle=True, seed=0, num_workers=2, timeout=T), 1)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x[0], y[0])
        np.testing.assert_array_equal(x[1], y[1])


def test_worker_seeding_and_worker_init_fn():
    calls = []
    loader = DataLoader(WhoAmI(), batch_size=2, num_workers=2, seed=5, timeout=T,
                        worker_init_fn=lambda w: calls.append(w))
    rows = np.concatenate([b[0].numpy() for b in loader])
    ids, seeds, counts = rows[:, 0], rows[:, 1], rows[:, 2]
    assert ids.tolist() == [0, 0, 1, 1, 0, 0, 1, 1]  # batch b goes to worker b % 2
    assert set(counts.tolist()) == {2}
    assert seeds[ids == 1][0] == seeds[ids == 0][0] + 1  # base_seed + worker_id, as PyTorch
    np.random.seed(0)
    # NumPy's global generator is seeded per worker: the two workers draw different numbers
    assert rows[ids == 0, 3][0] != rows[ids == 1, 3][0]
    assert calls == []  # worker_init_fn ran in the workers, not here
    assert get_worker_info() is None


def test_worker_exception_surfaces_with_traceback():
    loader = DataLoader(Failing(bad=7), batch_size=3, num_workers=2, timeout=T)
    with pytest.raises(RuntimeError, match="DataLoader worker 0 raised") as info:
        list(loader)
    text = str(info.value)
    assert "ValueError: sample 7 is broken on purpose" in text and "__getitem__" in text
    assert not _shm_blocks()


@pytest.mark.parametrize(("how", "message"), [("exit", r"exit code 3"),
                                              ("kill", r"killed by signal SIGKILL")])
def test_dead_worker_is_an_error_not_a_hang(how, message):
    loader = DataLoader(Failing(bad=4, how=how), batch_size=3, num_workers=2, timeout=T)
    with pytest.raises(RuntimeError, match=rf"DataLoader worker 1 \(pid \d+\) exited "
                                           rf"unexpectedly \({message}\)"):
        list(loader)
    assert not _shm_blocks()


def test_worker_init_fn_error_is_reported():
    def init(worker_id):
        raise RuntimeError(f"init failed in {worker_id}")

    loader = DataLoader(Images(6), batch_size=2, num_workers=2, worker_init_fn=init, timeout=T)
    with pytest.raises(RuntimeError, match=r"(?s)worker_init_fn.*init failed in"):
        list(loader)


def test_spawn_start_method():
    ds = TensorDataset(np.arange(40, dtype=np.float32).reshape(20, 2), np.arange(20))
    loader = DataLoader(ds, batch_size=6, shuffle=True, seed=1, num_workers=2, timeout=T,
                        multiprocessing_context="spawn")
    plain = DataLoader(ds, batch_size=6, shuffle=True, seed=1)
    for a, b in zip(_epochs(loader, 1), _epochs(plain, 1), strict=True):
        np.testing.assert_array_equal(a[0], b[0])


def test_abandoned_epoch_with_persistent_workers():
    ds = TensorDataset(np.arange(60, dtype=np.float32).reshape(30, 2), np.arange(30))
    loader = DataLoader(ds, batch_size=4, shuffle=True, seed=2, num_workers=2,
                        persistent_workers=True, prefetch_factor=3, timeout=T)
    it = iter(loader)
    next(it)
    del it  # leaves prefetched batches behind
    loader.set_epoch(1)
    again = _epochs(loader, 1)
    plain = DataLoader(ds, batch_size=4, shuffle=True, seed=2)
    plain.set_epoch(1)
    for a, b in zip(again, _epochs(plain, 1), strict=True):
        np.testing.assert_array_equal(a[0], b[0])
    loader.shutdown_workers()
    assert not _shm_blocks()


def test_dropped_persistent_loader_stops_its_workers_at_once():
    """A persistent loader the program drops stops its workers then, not at some later garbage
    collection: the pool holds no reference back to its loader, so nothing keeps it alive. (A
    loader kept in a cycle was shut down by the collector in whatever thread ran it, perhaps
    while another thread was forking a new loader's workers.)"""
    ds = TensorDataset(np.arange(40, dtype=np.float32).reshape(20, 2), np.arange(20))
    loader = DataLoader(ds, batch_size=4, num_workers=2, persistent_workers=True, timeout=T)
    assert len(_epochs(loader, 1)) == 5
    processes = list(loader._pool.processes)
    enabled = gc.isenabled()
    gc.disable()
    try:
        del loader
        for p in processes:
            p.join(timeout=5)
        assert [p.exitcode for p in processes] == [0, 0]
        assert not _shm_blocks()
    finally:
        if enabled:
            gc.enable()


def test_worker_warnings_reported_once(tmp_path, caplog):
    Image = pytest.importorskip("PIL.Image", reason="Pillow is not installed (the main extra)")
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for i in range(3):
            Image.new("RGB", (5, 5), (i, 0, 0)).save(tmp_path / name / f"{i}.png")
    (tmp_path / "b" / "bad.png").write_bytes(b"not a png")
    ds = ImageFolder(tmp_path, image_size=4, on_error="skip")
    loader = DataLoader(ds, batch_size=2, num_workers=2, timeout=T)
    with caplog.at_level(logging.WARNING, logger="tinygrad_cnn.data"):
        sizes = [sum(len(b[1]) for b in loader) for _ in range(2)]
    assert sizes == [6, 6]  # the unreadable file is left out of its batch
    reports = [r for r in caplog.records if "bad.png" in r.getMessage()]
    assert len(reports) == 1 and reports[0].getMessage().count("bad.png") == 1


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"seed": "abc"}, "seed must be a non-negative integer or None, got 'abc'"),
    ({"seed": -1}, "seed must be a non-negative integer or None, got -1"),
    ({"seed": 2.5}, "seed must be a non-negative integer"),
    ({"num_workers": -1}, "num_workers must be a non-negative integer"),
    ({"prefetch_factor": 2}, "prefetch_factor needs num_workers > 0"),
    ({"num_workers": 1, "prefetch_factor": 0}, "prefetch_factor must be a positive integer"),
    ({"persistent_workers": True}, "persistent_workers=True needs num_workers > 0"),
    ({"timeout": -1}, "timeout must be a non-negative"),
    ({"num_workers": 1, "multiprocessing_context": "bogus"}, "multiprocessing_context must be"),
])
def test_loader_arguments_validated(kwargs, message):
    ds = Images(4)
    with pytest.raises(ValueError, match=message):
        list(DataLoader(ds, **kwargs))


def test_random_crop_in_workers_uses_batch_keys():
    # RandomCrop with its own seed draws from (seed, loader seed, epoch, batch): two loaders
    # with the same seeds agree, different loader seeds differ
    ds = TransformedDataset(Images(12), Compose([RandomCrop(6, seed=3), ToFloat(1.0)]))
    a = _epochs(DataLoader(ds, batch_size=4, seed=0, num_workers=2, timeout=T), 1)
    b = _epochs(DataLoader(ds, batch_size=4, seed=0), 1)
    c = _epochs(DataLoader(ds, batch_size=4, seed=1), 1)
    assert all(np.array_equal(x[0], y[0]) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x[0], y[0]) for x, y in zip(b, c, strict=True))


def _photo_folder(path, per_class=7):
    Image = pytest.importorskip("PIL.Image", reason="Pillow is not installed (the main extra)")
    rng = np.random.default_rng(0)
    for name in ("cat", "dog"):
        (path / name).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (20, 16, 3)).astype(np.uint8)).save(
                path / name / f"{i}.png")
    return path


def _per_sample_batches(ds, loader_batches, order):
    """What the loader's batches were before uint8 batches: each sample transformed alone
    (``ds[i]``, the whole transform) and stacked."""
    return [np.stack([ds[int(i)][0] for i in order[b * 4:(b + 1) * 4]])
            for b in range(len(loader_batches))]


@pytest.mark.parametrize("cached", [False, True])
@pytest.mark.parametrize("transform", ["default", "crop_float_normalize", "normalize_on_uint8",
                                       "own"])
def test_uint8_batches_give_the_same_float_batches_for_0_1_2_workers(tmp_path, transform,
                                                                      cached):
    """Workers send an ImageFolder's batches as uint8 and the loader applies the transform's
    elementwise end (ToFloat, Normalize) once per batch: every batch equals the per-sample
    transform's, bit for bit, whatever num_workers, with or without the cache, and a user's
    own transform (no elementwise end) still runs whole in the workers."""
    from tinygrad_cnn.data.transforms import CenterCrop, Normalize

    folder = _photo_folder(tmp_path / "photos")
    transforms = {
        "default": None,
        "crop_float_normalize": Compose([CenterCrop(6), ToFloat(1 / 255),
                                         Normalize([0.4, 0.5, 0.6], [0.2, 0.3, 0.25])]),
        "normalize_on_uint8": Normalize([100.0, 120.0, 90.0], [50.0, 60.0, 55.0]),
        "own": lambda im: (im[:, ::-1].astype(np.float32) - 3.5) / 7,
    }
    cache = tmp_path / "cache" if cached else None
    ds = ImageFolder(folder, image_size=(10, 8), transform=transforms[transform], cache=cache)
    order = np.random.default_rng((3, 0)).permutation(len(ds))
    expected = None
    for workers in (0, 1, 2):
        loader = DataLoader(ds, batch_size=4, shuffle=True, seed=3, num_workers=workers,
                            timeout=T)
        batches = _epochs(loader, 1)
        if expected is None:
            expected = _per_sample_batches(ds, batches, order)
        for (x, _), want in zip(batches, expected, strict=True):
            assert x.dtype == want.dtype == np.float32
            np.testing.assert_array_equal(x, want)
        np.testing.assert_array_equal(np.concatenate([y for _, y in batches]), ds.targets[order])
    tail = DataLoader(ds, batch_size=4)._batch_tail()
    assert (tail is None) == (transform == "own")
    if tail is not None:  # what a worker sends: the images before the elementwise end
        raw = tc.data.workers.fetch(ds, np.arange(4), None, raw=True)[0]
        assert raw.dtype == np.uint8
        np.testing.assert_array_equal(tail(raw), ds.__getitems__(np.arange(4))[0])


def test_uint8_batches_through_subset_and_normalized_split(tmp_path):
    """The CLI's datasets: TransformedDataset(Subset(ImageFolder), Normalize) from
    train_val_split; with 2 workers the batches are uint8 in flight and equal the per-sample
    ones; an augmenting (not elementwise) TransformedDataset keeps the float path."""
    from tinygrad_cnn.data import train_val_split
    from tinygrad_cnn.data.transforms import Normalize

    ds = ImageFolder(_photo_folder(tmp_path), image_size=(10, 8))
    train, _ = train_val_split(ds, 0.25, seed=0)
    for wrapped, deferred in ((train, True),
                              (TransformedDataset(train, Normalize([0.5] * 3, [0.2] * 3)), True),
                              (TransformedDataset(train, RandomHorizontalFlip(0.5)), False)):
        loader = DataLoader(wrapped, batch_size=4, shuffle=True, seed=1, num_workers=2,
                            timeout=T)
        assert (loader._batch_tail() is not None) == deferred
        batches = _epochs(loader, 1)
        in_process = _epochs(DataLoader(wrapped, batch_size=4, shuffle=True, seed=1), 1)
        for (x, y), (x0, y0) in zip(batches, in_process, strict=True):
            np.testing.assert_array_equal(x, x0)
            np.testing.assert_array_equal(y, y0)
        if deferred:
            order = np.random.default_rng((1, 0)).permutation(len(wrapped))
            for (x, _), want in zip(batches, _per_sample_batches(wrapped, batches, order),
                                    strict=True):
                np.testing.assert_array_equal(x, want)


class _Counted(Dataset):
    """Images (see Images) that count the samples fetched in this process."""

    def __init__(self, n):
        self.images, self.fetched = Images(n), []

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        self.fetched.append(int(i))
        return self.images[i]


@pytest.mark.parametrize("workers", [0, 2])
def test_an_epoch_resumed_at_a_batch_skips_the_earlier_ones_unfetched(workers):
    """fit resumes an interrupted epoch with DataLoader._iter_from(first): the same batches as
    the whole epoch's from ``first`` on (order and random transforms), the earlier ones never
    fetched (at 23,000 photos they would all be decoded again)."""
    def loader(ds):
        return DataLoader(TransformedDataset(ds, _augment(seed=None)), batch_size=3,
                          shuffle=True, seed=7, num_workers=workers, timeout=T)

    whole = loader(_Counted(20))
    whole.set_epoch(2)
    expected = [[t.numpy() for t in batch] for batch in whole]
    counted = _Counted(20)
    resumed = loader(counted)
    resumed.set_epoch(2)
    got = [[t.numpy() for t in batch] for batch in resumed._iter_from(4)]
    assert len(got) == len(expected) - 4
    for a, b in zip(got, expected[4:], strict=True):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    if workers == 0:  # the workers' fetches happen in their processes
        assert len(counted.fetched) == 20 - 4 * 3
