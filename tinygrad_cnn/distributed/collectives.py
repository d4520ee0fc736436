"""Collectives on Tensors (PyTorch's ``torch.distributed`` names), in place like PyTorch's.

``all_reduce``, ``broadcast`` and ``all_gather`` change tensor data without recording a graph.
``differentiable_all_reduce`` is the one that autograd sees (SyncBatchNorm uses it): its backward
is again an all-reduce sum of the output gradients.
"""

from __future__ import annotations

from tinygrad_cnn.autograd.function import Function
from tinygrad_cnn.distributed import process_group as pg
from tinygrad_cnn.distributed.process_group import ReduceOp
from tinygrad_cnn.tensor import Tensor


def _check_tensor(tensor, what):
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{what}: expected a Tensor, got {type(tensor).__name__}")


def _contiguous_data(tensor):
    """The tensor's array, made contiguous in place if it is a view (collectives need that)."""
    data = tensor.data
    xp = pg.backend.array_module(data)
    if not data.flags.c_contiguous:
        tensor.data = data = xp.ascontiguousarray(data)
    return data


def all_reduce(tensor: Tensor, op: str = ReduceOp.SUM) -> Tensor:
    """Reduce ``tensor`` across ranks in place: every rank ends with the same result.

    tensor: any shape; op: ReduceOp.SUM (default), AVG, PRODUCT, MIN or MAX. Returns tensor."""
    _check_tensor(tensor, "all_reduce")
    pg.all_reduce_array(_contiguous_data(tensor), op, "all_reduce")
    return tensor


def broadcast(tensor: Tensor, src: int = 0) -> Tensor:
    """Overwrite ``tensor`` on every rank with rank ``src``'s, in place. Returns tensor."""
    _check_tensor(tensor, "broadcast")
    pg.broadcast_array(_contiguous_data(tensor), src, "broadcast")
    return tensor


def all_gather(tensor_list: list, tensor: Tensor) -> list:
    """Fill ``tensor_list`` (world_size Tensors shaped like ``tensor``) with every rank's
    ``tensor``, in rank order, as PyTorch's ``dist.all_gather``. Returns tensor_list."""
    _check_tensor(tensor, "all_gather")
    size = pg.get_world_size()
    if not isinstance(tensor_list, list) or len(tensor_list) != size:
        raise ValueError(f"all_gather: tensor_list must be a list of world_size={size} tensors, "
                         f"got {type(tensor_list).__name__} of length "
                         f"{len(tensor_list) if hasattr(tensor_list, '__len__') else '?'}")
    for i, t in enumerate(tensor_list):
        _check_tensor(t, "all_gather")
        if t.shape != tensor.shape or t.dtype != tensor.dtype:
            raise ValueError(f"all_gather: tensor_list[{i}] is {t.dtype} {t.shape} but the "
                             f"tensor is {tensor.dtype} {tensor.shape}")
    gathered = pg.all_gather_array(_contiguous_data(tensor), "all_gather")
    for t, part in zip(tensor_list, gathered, strict=True):
        t.data[...] = part
    return tensor_list


class _AllReduceSum(Function):
    """y = sum over ranks of x (every rank gets y); dL/dx = sum over ranks of dL/dy."""

    @staticmethod
    def forward(ctx, x):
        y = ctx.xp.array(x, copy=True, order="C")
        pg.all_reduce_array(y, ReduceOp.SUM, "all_reduce (autograd)")
        return y

    @staticmethod
    def backward(ctx, grad_y):
        return _AllReduceSum.apply(grad_y)


def differentiable_all_reduce(tensor: Tensor) -> Tensor:
    """The sum of ``tensor`` over ranks, as a new Tensor that autograd differentiates (its
    gradient is the all-reduce sum of the output gradients): same shape as ``tensor``."""
    return _AllReduceSum.apply(tensor)
