"""Datasets: indexable collections of samples, and ways to split them.

Datasets live on the host as NumPy arrays (images are decoded on the host anyway); the
DataLoader moves each batch to the chosen device. A sample is a tuple such as ``(image, label)``.

A dataset may define ``__getitems__(indices)`` returning a whole batch at once (a tuple of
stacked arrays). The DataLoader then fetches a batch with one fancy-indexing call instead of a
Python loop over its items (PyTorch has the same hook; ours returns the collated batch).
"""

from __future__ import annotations

import logging
import numbers
import threading

import numpy as np

from tinygrad_cnn import backend


class Dataset:
    """Base class: subclasses define ``__getitem__(i) -> sample`` and ``__len__()``."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__")


def _host_array(value, name: str) -> np.ndarray:
    """A NumPy array from a Tensor, a NumPy/CuPy array or Python data."""
    if hasattr(value, "data") and hasattr(value, "requires_grad"):  # a Tensor
        value = value.data
    array = backend.to_numpy(value) if backend.is_gpu_array(value) else np.asarray(value)
    if array.ndim == 0:
        raise ValueError(f"{name} must have a leading sample dimension, got a scalar")
    return array


class TensorDataset(Dataset):
    """Samples are the rows of equally long arrays: ``TensorDataset(images, labels)``.

    Args:
        *tensors: Tensors or arrays with the same first dimension N, e.g. images (N, C, H, W)
            and labels (N,). They are kept as NumPy arrays on the host.
        transform: optional callable applied to the first array of each sample or batch
            (the transforms in ``tinygrad_cnn.data.transforms`` accept both).
        classes: optional class names, ``classes[label]``.
    """

    def __init__(self, *tensors, transform=None, classes=None):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        arrays = tuple(_host_array(t, f"tensor {i}") for i, t in enumerate(tensors))
        lengths = [len(a) for a in arrays]
        if len(set(lengths)) != 1:
            raise ValueError(f"TensorDataset: tensors have different lengths {lengths}")
        self.tensors = arrays
        self.transform = transform
        self.classes = list(classes) if classes is not None else None

    @property
    def targets(self) -> np.ndarray | None:
        """The last array when there are two or more (the labels), else None."""
        return self.tensors[-1] if len(self.tensors) > 1 else None

    def __len__(self) -> int:
        return len(self.tensors[0])

    def _apply(self, arrays):
        if self.transform is None:
            return arrays
        return (self.transform(arrays[0]),) + tuple(arrays[1:])

    def __getitem__(self, index):
        return self._apply(tuple(a[index] for a in self.tensors))

    def __getitems__(self, indices):
        indices = np.asarray(indices, dtype=np.int64)
        return self._apply(tuple(a[indices] for a in self.tensors))

    def __repr__(self) -> str:
        shapes = ", ".join(str(a.shape) for a in self.tensors)
        return f"TensorDataset({shapes})"


def batch_tail(dataset):
    """The elementwise transform (ToFloat, Normalize) that ``dataset``'s batches end with and
    that a DataLoader may apply itself, once per batch, to the first field of
    ``dataset._raw_batch(indices)``; None when the dataset has none (its ``__getitems__``
    batches are then fetched as they are). ``tail(raw)`` equals ``__getitems__``'s result.

    This is how worker processes pass an ImageFolder's batches as uint8 (4x less to copy
    through shared memory than float32) while the loader yields the same float batches.
    """
    method = getattr(dataset, "_batch_tail", None)
    return None if method is None else method()


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices`` (in that order)."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64)
        if self.indices.ndim != 1:
            raise ValueError(f"Subset indices must be 1-D, got shape {self.indices.shape}")
        n = len(dataset)
        if len(self.indices) and (self.indices.min() < -n or self.indices.max() >= n):
            raise IndexError(f"Subset indices out of range for a dataset of {n} samples")

    @property
    def targets(self):
        """The chosen samples' targets, in order (a NumPy array); None when ``dataset`` has
        none."""
        targets = getattr(self.dataset, "targets", None)
        return None if targets is None else np.asarray(targets)[self.indices]

    @property
    def classes(self):
        """``dataset.classes``; None when it has none."""
        return getattr(self.dataset, "classes", None)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index):
        return self.dataset[int(self.indices[index])]

    def __getitems__(self, indices):
        chosen = self.indices[np.asarray(indices, dtype=np.int64)]
        if hasattr(self.dataset, "__getitems__"):
            return self.dataset.__getitems__(chosen)
        from tinygrad_cnn.data.loader import default_collate  # noqa: PLC0415 - avoid a cycle

        return default_collate([self.dataset[int(i)] for i in chosen])

    def _batch_tail(self):
        return batch_tail(self.dataset)

    def _raw_batch(self, indices):
        return self.dataset._raw_batch(self.indices[np.asarray(indices, dtype=np.int64)])


class TransformedDataset(Dataset):
    """``dataset`` with ``transform`` applied to the first element of every sample or batch.

    Useful to give the training split augmentation and the validation split none.
    """

    def __init__(self, dataset, transform):
        self.dataset = dataset
        self.transform = transform

    @property
    def targets(self):
        """``dataset.targets`` (the transform does not touch them); None when it has none."""
        return getattr(self.dataset, "targets", None)

    @property
    def classes(self):
        """``dataset.classes``; None when it has none."""
        return getattr(self.dataset, "classes", None)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index):
        sample = self.dataset[index]
        return (self.transform(sample[0]),) + tuple(sample[1:])

    def __getitems__(self, indices):
        if hasattr(self.dataset, "__getitems__"):
            batch = self.dataset.__getitems__(indices)
        else:
            from tinygrad_cnn.data.loader import default_collate  # noqa: PLC0415

            batch = default_collate([self.dataset[int(i)] for i in indices])
        return (self.transform(batch[0]),) + tuple(batch[1:])

    def _batch_tail(self):
        """The inner dataset's tail then this transform, when both are elementwise."""
        inner = batch_tail(self.dataset)
        if inner is None or not getattr(self.transform, "elementwise", False):
            return None
        from tinygrad_cnn.data.transforms import Compose  # noqa: PLC0415 - avoid a cycle

        return Compose([inner, self.transform])

    def _raw_batch(self, indices):
        return self.dataset._raw_batch(indices)


def _rng(seed=None, generator=None) -> np.random.Generator:
    """A NumPy Generator: the one given, one seeded with ``seed``, else the library's own."""
    if generator is not None:
        return generator
    if seed is not None:
        return np.random.default_rng(seed)
    return backend.generator("cpu")


_warned: set[tuple[str, str]] = set()


def warn_once(logger_name: str, message: str, level: int = logging.WARNING) -> None:
    """Log ``message`` on ``logger_name`` unless this process logged it already (a skipped
    file is found again every epoch, by every loader and in every worker: report it once)."""
    if (logger_name, message) not in _warned:
        _warned.add((logger_name, message))
        logging.getLogger(logger_name).log(level, "%s", message)


# The DataLoader fetches every batch inside ``batch_random(key)`` with key = (base seed, epoch,
# batch index), in the main process or in a worker alike, so random transforms draw the same
# numbers for a batch whatever the number of workers and whichever worker fetches it.
_batch = threading.local()


class batch_random:  # noqa: N801 - used as a context manager, like a function
    """``with batch_random(key):`` random transforms draw from generators seeded by ``key``."""

    def __init__(self, key):
        self.key = tuple(int(k) for k in key)
        self.rng = np.random.default_rng(self.key)
        self.seeded: dict[int, np.random.Generator] = {}  # per transform with its own seed

    def __enter__(self):
        self._outer = getattr(_batch, "active", None)
        _batch.active = self
        return self

    def __exit__(self, *exc):
        _batch.active = self._outer


class RandomState:
    """Where a random transform draws from, in this order: the ``generator`` it was given;
    inside a DataLoader batch, one seeded by the batch's key (and the transform's ``seed``, if
    any); its own generator seeded with ``seed``; else the library's (``tc.manual_seed``)."""

    def __init__(self, seed=None, generator=None):
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
                                 or seed < 0):
            raise ValueError(f"seed must be a non-negative int or None, got {seed!r}")
        self.seed = None if seed is None else int(seed)
        self._generator = generator
        self._own = None

    def generator(self) -> np.random.Generator:
        """The NumPy Generator to draw from now, chosen in the order above."""
        if self._generator is not None:
            return self._generator
        active = getattr(_batch, "active", None)
        if active is not None:
            if self.seed is None:
                return active.rng
            rng = active.seeded.get(id(self))
            if rng is None:
                rng = active.seeded[id(self)] = np.random.default_rng((self.seed, *active.key))
            return rng
        if self.seed is not None:
            if self._own is None:
                self._own = np.random.default_rng(self.seed)
            return self._own
        return backend.generator("cpu")


def random_split(dataset, lengths, seed=None, generator=None) -> list[Subset]:
    """Split ``dataset`` at random into Subsets of the given lengths (or fractions summing to 1).

    Like ``torch.utils.data.random_split``: fractions are turned into counts with the remainder
    handed out one at a time to the first splits.
    """
    n = len(dataset)
    lengths = list(lengths)
    if not lengths:
        raise ValueError("random_split needs at least one length")
    if all(isinstance(x, float) for x in lengths) and abs(sum(lengths) - 1.0) < 1e-6:
        if any(x < 0 for x in lengths):
            raise ValueError(f"random_split: fractions must be non-negative, got {lengths}")
        counts = [int(np.floor(n * x)) for x in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if any(int(x) != x or x < 0 for x in lengths) or sum(lengths) != n:
        raise ValueError(
            f"random_split: lengths {lengths} must be non-negative integers summing to the "
            f"dataset size {n}, or fractions summing to 1"
        )
    perm = _rng(seed, generator).permutation(n)
    splits, start = [], 0
    for length in lengths:
        splits.append(Subset(dataset, perm[start : start + int(length)]))
        start += int(length)
    return splits


def _targets_of(dataset) -> np.ndarray:
    targets = getattr(dataset, "targets", None)
    if targets is None:  # a generic dataset: read the labels once
        targets = [dataset[i][1] for i in range(len(dataset))]
    targets = np.asarray(targets)
    if targets.ndim != 1:
        raise ValueError(
            f"train_val_split(stratify=True) needs one integer label per sample, "
            f"got labels of shape {targets.shape}"
        )
    return targets


def train_val_split(dataset, val_fraction: float = 0.2, stratify: bool = True, seed=None,
                    generator=None) -> tuple[Subset, Subset]:
    """Shuffle and split ``dataset`` into (train, validation) Subsets.

    With ``stratify=True`` every class keeps (as nearly as possible) the same share in both
    splits. Unlike Keras' ``validation_split``, which takes the *last* fraction of the data
    unshuffled (on data sorted by class this leaves whole classes out of training, and
    validation accuracy can be 0%), both splits here are drawn at random from every class.

    Args:
        dataset: a Dataset with labels (``dataset.targets`` or the second element of a sample).
        val_fraction: share of samples for validation, 0 < val_fraction < 1.
        stratify: keep class proportions in both splits.
        seed / generator: make the split reproducible.
    """
    if not 0.0 < float(val_fraction) < 1.0:
        raise ValueError(f"val_fraction must be between 0 and 1 (exclusive), got {val_fraction}")
    n = len(dataset)
    if n < 2:
        raise ValueError(f"train_val_split needs at least 2 samples, got {n}")
    rng = _rng(seed, generator)
    if not stratify:
        perm = rng.permutation(n)
        n_val = min(max(1, int(round(n * val_fraction))), n - 1)
        return Subset(dataset, np.sort(perm[n_val:])), Subset(dataset, np.sort(perm[:n_val]))
    targets = _targets_of(dataset)
    train_idx, val_idx = [], []
    for label in np.unique(targets):  # a loop over classes, not samples
        members = rng.permutation(np.flatnonzero(targets == label))
        n_val = int(round(len(members) * val_fraction))
        if len(members) > 1:
            n_val = min(max(n_val, 1), len(members) - 1)
        val_idx.append(members[:n_val])
        train_idx.append(members[n_val:])
    train = rng.permutation(np.concatenate(train_idx))
    val = rng.permutation(np.concatenate(val_idx))
    return Subset(dataset, train), Subset(dataset, val)
