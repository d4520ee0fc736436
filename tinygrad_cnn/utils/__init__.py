"""PyTorch's ``torch.utils`` spellings: ``tc.utils.data.DataLoader`` is ``tc.data.DataLoader``
(``from tinygrad_cnn.utils.data import DataLoader, TensorDataset`` works as torch's does)."""

from tinygrad_cnn.utils import data

__all__ = ["data"]
