"""What fit needs to train data-parallel: the DDP wrapper, each rank's shard of the data,
metrics summed over ranks, and "rank 0 only" for everything that writes or prints.

fit imports this module only when it trains distributed; ``is_main_process`` is cheap and needs
no MPI (rank 0 when no process group is initialized).
"""

from __future__ import annotations

import numpy as np

from tinygrad_cnn import distributed as dist
from tinygrad_cnn.data.dataset import Subset
from tinygrad_cnn.distributed import process_group as pg
from tinygrad_cnn.distributed.ddp import DistributedDataParallel


def is_main_process() -> bool:
    """True on rank 0, and in a process that is not part of a process group."""
    return pg.get_rank() == 0


def wants_distributed(model, distributed) -> bool:
    """fit's rule: ``distributed=True``, or a model already wrapped in DistributedDataParallel."""
    if isinstance(model, DistributedDataParallel):
        return True
    if distributed not in (None, False, True):
        raise TypeError(f"fit: distributed must be True, False or None, got {distributed!r}")
    return bool(distributed)


def wrap(model):
    """(the module to save and evaluate, the module to train through): a DDP-wrapped model is
    unwrapped for saving; a plain model is wrapped, joining the launcher's process group first
    when none is initialized (``mpiexec -n N python train.py`` needs no other call)."""
    if isinstance(model, DistributedDataParallel):
        return model.module, model
    if not dist.is_initialized():
        dist.init_process_group("mpi")
    return model, DistributedDataParallel(model)


class ShardedLoader:
    """Batches of this rank's share of ``dataset``: a DistributedSampler (shuffled from ``seed``
    and the epoch, padded so every rank takes the same number of steps) behind a DataLoader
    that does not shuffle again. ``set_epoch`` moves both to the epoch's order."""

    def __init__(self, dataset, batch_size, device, seed, shuffle=True):
        from tinygrad_cnn.data.loader import DataLoader  # noqa: PLC0415

        self.sampler = dist.DistributedSampler(dataset, shuffle=shuffle, seed=seed or 0)
        self.dataset = Subset(dataset, self.sampler.indices())
        self.loader = DataLoader(self.dataset, batch_size=batch_size, shuffle=False,
                                 device=device)
        self.batch_size, self.device = batch_size, device

    def set_epoch(self, epoch: int) -> None:
        """Take this rank's share of epoch ``epoch``'s shuffled order."""
        self.sampler.set_epoch(epoch)
        self.dataset.indices = self.sampler.indices()

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        return iter(self.loader)

    def _iter_from(self, first: int):
        """This rank's batches from batch ``first`` on, the earlier ones not fetched."""
        return self.loader._iter_from(first)


def evaluation_shard(dataset, batch_size, device):
    """A DataLoader over samples rank, rank + world, ... of ``dataset`` (no padding: summed
    over ranks, the metrics are exactly those of the whole data)."""
    from tinygrad_cnn.data.loader import DataLoader  # noqa: PLC0415

    indices = np.arange(pg.get_rank(), len(dataset), pg.get_world_size(), dtype=np.int64)
    return DataLoader(Subset(dataset, indices), batch_size=batch_size, shuffle=False,
                      device=device)


def sum_over_ranks(totals) -> None:
    """Add every rank's running totals (count, loss sum, metric sums) into ``totals``."""
    names = sorted(totals.sums)
    values = np.array([totals.count, totals.loss] + [totals.sums[k] for k in names],
                      dtype=np.float64)
    pg.all_reduce_array(values, pg.ReduceOp.SUM, "fit (metrics)")
    totals.count, totals.loss = int(round(values[0])), float(values[1])
    for k, v in zip(names, values[2:], strict=True):
        totals.sums[k] = float(v)
