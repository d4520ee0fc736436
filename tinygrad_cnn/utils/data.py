"""``torch.utils.data``'s names for :mod:`tinygrad_cnn.data`: the same objects, not copies."""

from tinygrad_cnn.data import (
    DataLoader,
    Dataset,
    Subset,
    TensorDataset,
    WorkerInfo,
    default_collate,
    get_worker_info,
    random_split,
)

__all__ = ["DataLoader", "Dataset", "Subset", "TensorDataset", "WorkerInfo", "default_collate",
           "get_worker_info", "random_split"]
