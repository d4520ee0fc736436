"""DistributedDataParallel: one model replica per rank, gradients averaged after backward."""

from __future__ import annotations

import contextlib

from tinygrad_cnn import backend
from tinygrad_cnn.autograd import engine
from tinygrad_cnn.autograd.function import Function
from tinygrad_cnn.autograd.grad_mode import is_grad_enabled
from tinygrad_cnn.distributed import process_group as pg
from tinygrad_cnn.nn.module import Module
from tinygrad_cnn.tensor import Tensor


class _GradSyncPoint(Function):
    """The identity on a model output; its backward (the first node of the backward pass to
    run) queues the gradient averaging for when the whole backward pass has finished."""

    @staticmethod
    def forward(ctx, x, ddp):
        ctx.ddp = ddp
        return x

    @staticmethod
    def backward(ctx, grad_y):
        ctx.ddp._queue_reduction()
        return grad_y, None


class _Bucket:
    """Parameters whose gradients are all-reduced together in one flat buffer."""

    def __init__(self, params):
        self.params = params
        self.numel = sum(p.size for p in params)
        self.dtype = params[0].dtype


class DistributedDataParallel(Module):
    """Wrap ``module`` for data-parallel training: each rank runs it on its share of the batch.

    At construction the parameters and buffers of rank 0 are broadcast to every rank, after a
    check that every rank holds the same parameter and buffer names, shapes and dtypes. After
    each ``backward()`` through this wrapper's output, the gradients are averaged across ranks
    in buckets: the gradients of up to ``bucket_cap_mb`` MiB of parameters (in reverse order,
    grouped by dtype and device) are copied into one contiguous buffer and reduced with one
    all-reduce, not one call per parameter. A parameter that got no gradient on this rank
    contributes zeros. With ``broadcast_buffers`` (the default, as PyTorch's) rank 0's buffers
    (e.g. BatchNorm running statistics) are broadcast before each training forward; BatchNorm
    normalizes with each rank's own batch statistics unless converted with
    ``SyncBatchNorm.convert_sync_batchnorm``.

    Args:
        module: the model (on the device this rank trains on).
        bucket_cap_mb: bucket size in MiB (default 25, PyTorch's).
        broadcast_buffers: see above.
    Shapes: whatever ``module`` takes and returns.
    """

    def __init__(self, module: Module, bucket_cap_mb: float = 25.0,
                 broadcast_buffers: bool = True, device_ids=None, output_device=None):
        super().__init__()
        pg._require("DistributedDataParallel")
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: expected a Module, got "
                            f"{type(module).__name__}")
        if isinstance(bucket_cap_mb, bool) or not isinstance(bucket_cap_mb, (int, float)) \
                or not bucket_cap_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be a positive number, "
                             f"got {bucket_cap_mb!r}")
        self.module = module
        self.broadcast_buffers = bool(broadcast_buffers)
        self.bucket_cap_mb = float(bucket_cap_mb)
        self.require_backward_grad_sync = True
        self._reduction_queued = False
        _check_same_structure(module)
        with contextlib.ExitStack():
            for t in list(module.parameters()) + [b for b in module.buffers() if b is not None]:
                pg.broadcast_array(_contiguous(t), 0, "DistributedDataParallel (broadcast)")
        self._buckets = _make_buckets([p for p in module.parameters() if p.requires_grad],
                                      int(self.bucket_cap_mb * 2**20))

    def forward(self, *args, **kwargs):
        if self.broadcast_buffers and self.training:
            for b in self.module.buffers():
                if b is not None:
                    pg.broadcast_array(_contiguous(b), 0, "DistributedDataParallel (buffers)")
        out = self.module(*args, **kwargs)
        if not (is_grad_enabled() and self.require_backward_grad_sync):
            return out
        return _mark_outputs(out, self)

    @contextlib.contextmanager
    def no_sync(self):
        """Inside this block backward accumulates local gradients without averaging them (for
        gradient accumulation); the first backward after it averages the sum."""
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous

    def _queue_reduction(self) -> None:
        if not self._reduction_queued:  # once per backward, however many outputs were marked
            self._reduction_queued = True
            engine.queue_callback(self._reduce_gradients)

    def _reduce_gradients(self) -> None:
        """Average every parameter's .grad across ranks, one all-reduce per bucket."""
        self._reduction_queued = False
        world = pg.get_world_size()
        for bucket in self._buckets:
            xp = backend.array_module(bucket.params[0].data)
            flat = xp.empty(bucket.numel, dtype=bucket.dtype)
            scale = flat.dtype.type(1.0 / world)
            offset = 0
            for p in bucket.params:  # one pass per gradient: copy into the bucket and scale
                n = p.size
                if p.grad is None:
                    flat[offset:offset + n] = 0
                else:
                    xp.multiply(p.grad.data.reshape(-1), scale, out=flat[offset:offset + n])
                offset += n
            pg.all_reduce_array(flat, pg.ReduceOp.SUM, "DistributedDataParallel (gradients)")
            offset = 0
            for p in bucket.params:  # each .grad a view of its own slice: no copy back
                n = p.size
                p.grad = Tensor._from_array(flat[offset:offset + n].reshape(p.shape))
                offset += n

    def state_dict(self):
        """The wrapped module's state dict under ``module.`` keys, as PyTorch's DDP."""
        return super().state_dict()

    def extra_repr(self) -> str:
        return (f"world_size={pg.get_world_size()}, buckets={len(self._buckets)}, "
                f"bucket_cap_mb={self.bucket_cap_mb:g}")


def _contiguous(t: Tensor):
    xp = backend.array_module(t.data)
    if not t.data.flags.c_contiguous:
        t.data = xp.ascontiguousarray(t.data)
    return t.data


def _mark_outputs(out, ddp):
    if isinstance(out, Tensor):
        return _GradSyncPoint.apply(out, ddp) if out.requires_grad else out
    if isinstance(out, (tuple, list)):
        return type(out)(_mark_outputs(o, ddp) for o in out)
    if isinstance(out, dict):
        return {k: _mark_outputs(v, ddp) for k, v in out.items()}
    return out


def _make_buckets(params, cap_bytes: int) -> list:
    """Parameters in reverse order (their gradients are ready first in backward), cut into
    buckets of at most ``cap_bytes`` (a parameter larger than that gets its own), one dtype and
    device per bucket."""
    buckets, current, size, key = [], [], 0, None
    for p in reversed(params):
        this_key = (p.dtype, p.device)
        nbytes = p.size * p.dtype.itemsize
        if current and (this_key != key or size + nbytes > cap_bytes):
            buckets.append(_Bucket(current))
            current, size = [], 0
        current.append(p)
        size += nbytes
        key = this_key
    if current:
        buckets.append(_Bucket(current))
    return buckets


def _check_same_structure(module: Module) -> None:
    """Every rank must hold the same parameter and buffer names, shapes and dtypes."""
    mine = [(name, tuple(t.shape), str(t.dtype)) for name, t in module.named_parameters()]
    mine += [(name, tuple(t.shape), str(t.dtype)) for name, t in module.named_buffers()
             if t is not None]
    everyone = pg.all_gather_object(mine, "DistributedDataParallel (model check)")
    reference = everyone[0]
    for rank, theirs in enumerate(everyone[1:], start=1):
        if theirs == reference:
            continue
        ref_map, their_map = dict((n, (s, d)) for n, s, d in reference), \
            dict((n, (s, d)) for n, s, d in theirs)
        for name in sorted(set(ref_map) | set(their_map)):
            a, b = ref_map.get(name), their_map.get(name)
            if a != b:
                def show(v):
                    return "missing" if v is None else f"{v[1]} {v[0]}"
                raise pg.DistributedError(
                    f"DistributedDataParallel: the model differs between ranks: '{name}' is "
                    f"{show(a)} on rank 0 but {show(b)} on rank {rank}"
                )
        raise pg.DistributedError("DistributedDataParallel: the model's parameters are in a "
                                  f"different order on rank {rank} than on rank 0")
