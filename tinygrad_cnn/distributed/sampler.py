"""DistributedSampler: each rank's disjoint share of a dataset's indices, as PyTorch's."""

from __future__ import annotations

import math
import numbers

import numpy as np

from tinygrad_cnn.distributed import process_group as pg


class DistributedSampler:
    """The indices of ``dataset`` that rank ``rank`` of ``num_replicas`` trains on.

    As PyTorch's: with ``shuffle`` the order is a permutation drawn from (seed, epoch), so every
    rank draws the same one and ``set_epoch`` reshuffles; without ``drop_last`` the order is
    padded by repeating its first indices until it divides evenly, with ``drop_last`` its tail
    is dropped; rank r takes positions r, r + num_replicas, ... Every rank gets ``len(self)``
    indices. (The permutation comes from NumPy, so the exact order differs from PyTorch's.)

    Args:
        dataset: anything with ``__len__``.
        num_replicas, rank: default to the process group's world size and rank.
        shuffle, seed, drop_last: as above.
    """

    def __init__(self, dataset, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False):
        if num_replicas is None:
            num_replicas = pg.get_world_size()
        if rank is None:
            rank = pg.get_rank()
        for name, value, low in (("num_replicas", num_replicas, 1), ("rank", rank, 0),
                                 ("seed", seed, 0)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
                raise ValueError(f"DistributedSampler: {name} must be an integer >= {low}, "
                                 f"got {value!r}")
        if rank >= num_replicas:
            raise ValueError(f"DistributedSampler: rank {rank} is not below num_replicas "
                             f"{num_replicas}")
        if not hasattr(dataset, "__len__"):
            raise TypeError(f"DistributedSampler: the dataset needs __len__, got "
                            f"{type(dataset).__name__}")
        self.dataset = dataset
        self.num_replicas, self.rank, self.seed = int(num_replicas), int(rank), int(seed)
        self.shuffle, self.drop_last = bool(shuffle), bool(drop_last)
        self.epoch = 0
        n = len(dataset)
        if self.drop_last and n % self.num_replicas:
            self.num_samples = math.ceil((n - self.num_replicas) / self.num_replicas)
        else:
            self.num_samples = math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def set_epoch(self, epoch: int) -> None:
        """Use the order of epoch ``epoch`` next (call it before each epoch when shuffling)."""
        self.epoch = int(epoch)

    def indices(self) -> np.ndarray:
        """This rank's indices for the current epoch: int64 array of length len(self)."""
        n = len(self.dataset)
        if self.shuffle:
            order = np.random.default_rng((self.seed, self.epoch)).permutation(n)
        else:
            order = np.arange(n)
        if self.drop_last:
            order = order[: self.total_size]
        elif self.total_size > n:  # pad by repeating the start (several times if needed)
            repeats = math.ceil((self.total_size - n) / max(n, 1))
            order = np.concatenate([order] + [order] * repeats)[: self.total_size]
        return order[self.rank : self.total_size : self.num_replicas].astype(np.int64)

    def __iter__(self):
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        return self.num_samples

    def __repr__(self) -> str:
        return (f"DistributedSampler({len(self.dataset)} samples, rank {self.rank} of "
                f"{self.num_replicas}, shuffle={self.shuffle}, drop_last={self.drop_last})")
