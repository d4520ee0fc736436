"""SyncBatchNorm: batch normalization with the statistics of the whole global batch."""

from __future__ import annotations

import numpy as np

from tinygrad_cnn.distributed import process_group as pg
from tinygrad_cnn.distributed.collectives import differentiable_all_reduce
from tinygrad_cnn.nn.module import Module
from tinygrad_cnn.nn.normalization import _BatchNorm
from tinygrad_cnn.ops import normalization


class SyncBatchNorm(_BatchNorm):
    """BatchNorm over (N, C, *) inputs whose training statistics span every rank's batch.

    In training, the per-channel mean and (biased) variance are those of the union of all
    ranks' batches, computed with two all-reduces (sums, then centred squares: as stable as a
    one-process BatchNorm); the backward pass all-reduces the matching gradient sums, so
    2 ranks with batch B compute exactly what one process computes with BatchNorm on batch 2B.
    Running statistics use the global count. In eval mode, or without an initialized process
    group of more than one rank, it is plain BatchNorm.
    """

    _ndims = (2, 3, 4, 5)
    _layout = "(N, C, *)"

    def forward(self, x):
        if not (self.training and pg.get_world_size() > 1):
            return super().forward(x)
        if x.ndim < 2 or x.shape[1] != self.num_features:
            raise ValueError(f"{self!r}: expected an input (N, {self.num_features}, *), got shape "
                             f"{x.shape}")
        dims = (0,) + tuple(range(2, x.ndim))
        local = np.array([x.size // self.num_features], dtype=np.int64)
        pg.all_reduce_array(local, pg.ReduceOp.SUM, "SyncBatchNorm")
        count = int(local[0])
        if count <= 1:
            raise ValueError(f"{self!r}: expected more than 1 value per channel across the ranks "
                             f"when training, got {count}")
        mean = differentiable_all_reduce(x.sum(dims, keepdim=True)) / count       # (1, C, 1, ..)
        centered = x - mean
        var = differentiable_all_reduce((centered * centered).sum(dims, keepdim=True)) / count
        if self.track_running_stats:
            normalization.count_batch(self.num_batches_tracked)
            factor = (1.0 / float(self.num_batches_tracked.item()) if self.momentum is None
                      else self.momentum)
            normalization._update_running(self.running_mean, self.running_var, mean.detach(),
                                          var.detach(), count, factor)
        out = centered / (var + self.eps).sqrt()
        shape = (1, self.num_features) + (1,) * (x.ndim - 2)
        if self.weight is not None:
            out = out * self.weight.reshape(shape)
        if self.bias is not None:
            out = out + self.bias.reshape(shape)
        return out

    @classmethod
    def convert_sync_batchnorm(cls, module: Module) -> Module:
        """``module`` with every BatchNorm1d/2d/3d replaced by a SyncBatchNorm holding the same
        parameters and running statistics (the same objects); returns the new root."""
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            sync = cls(module.num_features, module.eps, module.momentum, module.affine,
                       module.track_running_stats)
            for name in ("weight", "bias"):
                setattr(sync, name, getattr(module, name))
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                sync.register_buffer(name, getattr(module, name))
            sync.train(module.training)
            return sync
        for name, child in list(module.named_children()):
            converted = cls.convert_sync_batchnorm(child)
            if converted is not child:
                _replace_child(module, name, converted)
        return module


def _replace_child(parent: Module, name: str, child: Module) -> None:
    if name.isdigit() and hasattr(parent, "__setitem__"):  # Sequential / ModuleList entries
        parent[int(name)] = child
    else:
        setattr(parent, name, child)
