"""Data: datasets, the DataLoader, transforms and built-in datasets (``tinygrad_cnn.data``).

Data is prepared on the host with NumPy (decoding, indexing, augmentation); the DataLoader
moves each batch to the chosen device as Tensors.
"""

from tinygrad_cnn.data import transforms
from tinygrad_cnn.data.dataset import (
    Dataset,
    Subset,
    TensorDataset,
    TransformedDataset,
    random_split,
    train_val_split,
)
from tinygrad_cnn.data.datasets import (
    FASHION_MNIST_CLASSES,
    ImageFolder,
    load_digits,
    load_fashion_mnist,
    load_image,
    load_mnist,
    read_idx,
)
from tinygrad_cnn.data.images import ImageTooLargeError, list_image_folder
from tinygrad_cnn.data.loader import DataLoader, default_collate
from tinygrad_cnn.data.workers import WorkerInfo, get_worker_info

__all__ = [
    "DataLoader",
    "Dataset",
    "FASHION_MNIST_CLASSES",
    "ImageFolder",
    "ImageTooLargeError",
    "Subset",
    "TensorDataset",
    "TransformedDataset",
    "WorkerInfo",
    "default_collate",
    "get_worker_info",
    "list_image_folder",
    "load_digits",
    "load_fashion_mnist",
    "load_image",
    "load_mnist",
    "random_split",
    "read_idx",
    "train_val_split",
    "transforms",
]
