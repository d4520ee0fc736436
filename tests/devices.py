"""Device helpers for tests, so one test runs on whichever device is the default
($TINYGRAD_CNN_DEVICE, see docs/gpu.md "Testing on a GPU").

Compare values on the host: ``to_host(x)`` is a NumPy array for a Tensor or an array on any
device (a copy off the GPU), so ``np.testing`` never sees a CuPy array. Build reference tensors
with the library's factories (they follow the default device) rather than moving CPU data by hand.
"""

import numpy as np

import tinygrad_cnn as tc


def default_device() -> str:
    """The device new tensors and layers go to in this test run: "cpu" or "gpu"."""
    return tc.backend.get_default_device()


def on_gpu() -> bool:
    """True when the suite runs with the GPU as the default device."""
    return default_device() == tc.backend.GPU


def to_host(x) -> np.ndarray:
    """The values of a Tensor, a NumPy/CuPy array, a number or nested lists as a NumPy array
    (a copy from the GPU; on the CPU a Tensor's or array's own memory, as ``Tensor.numpy()``)."""
    if isinstance(x, tc.Tensor):
        return x.numpy()
    return tc.backend.to_numpy(x)


def to_default(array):
    """A NumPy array (or Python data) as an array on the default device, for writing into
    ``tensor.data`` (a CuPy array does not take NumPy values in ``data[...] = values``)."""
    return tc.backend.to_device(np.asarray(array), default_device())


def shares_memory(a, b) -> bool:
    """True when two Tensors (or arrays) on one device share memory (NumPy's or CuPy's
    ``shares_memory``, so the check means the same on the GPU)."""
    a = a.data if isinstance(a, tc.Tensor) else a
    b = b.data if isinstance(b, tc.Tensor) else b
    return bool(tc.backend.array_module(a, b).shares_memory(a, b))


def is_writeable(array) -> bool:
    """NumPy's ``flags.writeable`` of an array; CuPy arrays have no read-only mode (True)."""
    return getattr(array.flags, "writeable", True)
