"""DataLoader: batches of a Dataset as Tensors on the chosen device.

Batches are assembled on the host with NumPy (indexing, stacking, transforms) and moved to the
device once per batch, so a GPU run copies each batch exactly once.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from tinygrad_cnn import backend
from tinygrad_cnn.data.dataset import _rng
from tinygrad_cnn.tensor import Tensor


def default_collate(samples):
    """Stack a list of samples ``[(x0, y0), (x1, y1), ...]`` into ``(X, Y)`` arrays.

    Arrays are stacked along a new first axis; Python numbers become a 1-D array.
    """
    if not samples:
        raise ValueError("default_collate: got an empty list of samples")
    first = samples[0]
    if isinstance(first, (tuple, list)):
        sizes = {len(s) for s in samples}
        if len(sizes) != 1:
            raise ValueError(f"default_collate: samples have different lengths {sorted(sizes)}")
        return tuple(default_collate([s[i] for s in samples]) for i in range(len(first)))
    if isinstance(first, Tensor):
        samples = [s.numpy() for s in samples]
    if isinstance(first, numbers.Number):
        return np.asarray(samples)
    try:
        return np.stack([np.asarray(s) for s in samples])
    except ValueError as e:
        shapes = sorted({np.shape(s) for s in samples})
        raise ValueError(f"default_collate: cannot stack samples of shapes {shapes}: {e}") from None


def _to_tensor(value, device: str):
    if isinstance(value, Tensor):
        return value.to(device)
    if isinstance(value, (tuple, list)):
        return type(value)(_to_tensor(v, device) for v in value)
    if isinstance(value, dict):
        return {k: _to_tensor(v, device) for k, v in value.items()}
    array = np.asarray(value)
    if array.dtype.kind in "USO":  # strings (e.g. file names) stay on the host as they are
        return value
    if array.dtype == np.float64:  # batches use the library's default float (float32)
        array = array.astype(backend.DEFAULT_FLOAT)
    return Tensor(array, device=device)


class DataLoader:
    """Iterate over ``dataset`` in batches of Tensors on ``device``.

    Args:
        dataset: a Dataset (``__getitem__`` and ``__len__``; ``__getitems__`` for fast batches).
        batch_size: samples per batch (the last one may be smaller unless ``drop_last``).
        shuffle: draw a new random order every epoch.
        drop_last: drop the last incomplete batch.
        seed: seed of this loader's own random order: epoch e is shuffled by a generator
            seeded with (seed, e), so every epoch differs and any epoch can be reproduced
            (``set_epoch``, used when training resumes). Without it the library's generator
            (``tc.manual_seed``) is used.
        generator: a ``numpy.random.Generator`` to draw the order from (overrides ``seed``).
        collate_fn: turns a list of samples into a batch (default: ``default_collate``).
        device: "cpu" or "gpu"; default: the library's default device.

    Yields:
        tuples such as ``(images (B, C, H, W) float32, labels (B,) int64)`` of Tensors.
    """

    def __init__(self, dataset, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False, seed=None, generator=None, collate_fn=None,
                 device=None):
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) \
                or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
            raise TypeError(
                f"DataLoader needs a dataset with __getitem__ and __len__, "
                f"got {type(dataset).__name__}"
            )
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.collate_fn = collate_fn
        self.device = backend.normalize_device(device)
        self.seed = seed
        self._generator = generator
        self._epoch = 0

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration use the order of epoch ``epoch`` (with ``seed``)."""
        self._epoch = int(epoch)

    def _order(self) -> np.ndarray:
        n = len(self.dataset)
        epoch, self._epoch = self._epoch, self._epoch + 1
        if not self.shuffle:
            return np.arange(n)
        if self._generator is None and self.seed is not None:
            return np.random.default_rng((int(self.seed), epoch)).permutation(n)
        return _rng(generator=self._generator).permutation(n)

    def _fetch(self, indices: np.ndarray):
        if self.collate_fn is None and hasattr(self.dataset, "__getitems__"):
            return self.dataset.__getitems__(indices)
        samples = [self.dataset[int(i)] for i in indices]
        return (self.collate_fn or default_collate)(samples)

    def __iter__(self):
        order = self._order()
        for b in range(len(self)):
            indices = order[b * self.batch_size : (b + 1) * self.batch_size]
            yield _to_tensor(self._fetch(indices), self.device)

    def __repr__(self) -> str:
        return (f"DataLoader({type(self.dataset).__name__} of {len(self.dataset)}, "
                f"batch_size={self.batch_size}, shuffle={self.shuffle}, device={self.device!r})")
