"""``tc.linalg``: PyTorch's ``torch.linalg`` names that tinygrad_cnn has (defined in ops/)."""

from tinygrad_cnn.ops.linalg import matmul
from tinygrad_cnn.ops.vector_norm import vector_norm

__all__ = ["matmul", "vector_norm"]
