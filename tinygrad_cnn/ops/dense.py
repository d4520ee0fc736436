"""Fully connected (dense) layer math: linear."""

from __future__ import annotations

from tinygrad_cnn.ops import linalg
from tinygrad_cnn.ops import shape as shape_ops
from tinygrad_cnn.tensor import Tensor


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = input @ weight.T + bias.

    input (*, in_features), weight (out_features, in_features), bias (out_features,)
    -> (*, out_features). Built from matmul and add, so it is twice differentiable.
    """
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got shape "
                         f"{weight.shape}")
    if input.ndim == 0 or input.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"linear: input of shape {input.shape} has {input.shape[-1] if input.ndim else 0} "
            f"features but weight of shape {weight.shape} expects {weight.shape[1]}"
        )
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"linear: bias has shape {bias.shape}, expected ({weight.shape[0]},)")
    out = linalg.matmul(input, shape_ops.transpose(weight, 0, 1))   # (*, out_features)
    return out if bias is None else out + bias
