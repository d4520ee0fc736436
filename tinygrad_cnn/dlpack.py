"""Zero-copy exchange with other array libraries: ``from_dlpack``, ``from_numpy``.

DLPack (https://dmlc.github.io/dlpack/latest/) is the protocol NumPy, PyTorch, CuPy, JAX and
others use to hand each other the same memory without copying: the producer's ``__dlpack__()``
returns a capsule describing the buffer, ``__dlpack_device__()`` says where it lives.
``Tensor.__dlpack__`` / ``__dlpack_device__`` (in tensor.py) make tinygrad_cnn a producer; the
functions here make it a consumer. CPU memory becomes a NumPy array, CUDA memory a CuPy array
(``"gpu"``), either one wrapped by a Tensor without a copy, so a write through one library's
view is seen by the other's.

This module imports NumPy directly, like serialization: it is host-side glue, not op code.
"""

from __future__ import annotations

import numpy as np

from tinygrad_cnn import backend
from tinygrad_cnn.tensor import Tensor

# DLDeviceType codes (dlpack.h) and their names, for the error messages
_DEVICE_TYPES = {1: "CPU", 2: "CUDA", 3: "CUDA pinned host memory", 4: "OpenCL", 7: "Vulkan",
                 8: "Metal", 9: "VPI", 10: "ROCm", 11: "ROCm host memory", 12: "ExtDev",
                 13: "CUDA managed memory", 14: "oneAPI", 15: "WebGPU", 16: "Hexagon",
                 17: "MAIA"}
_CPU, _CUDA, _CUDA_MANAGED = 1, 2, 13


def from_numpy(array) -> Tensor:
    """A CPU Tensor that shares memory with the NumPy ``array`` (as ``torch.from_numpy``).

    Writes to either are seen by the other; the tensor keeps the array's dtype and shape (any
    strides). The dtype must be one a Tensor holds (bool, uint8, int8/16/32/64, float16/32/64)
    in the machine's byte order; ``tc.tensor(array)`` copies and converts instead.
    """
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a NumPy ndarray, got {type(array).__name__}; "
                        "use tc.tensor(...) for other data")
    if not array.dtype.isnative:
        raise TypeError(
            f"from_numpy: the array's byte order is not the machine's (dtype "
            f"{array.dtype.str!r}), so a tensor cannot share its memory; tc.tensor(array) "
            "copies it in the native byte order"
        )
    try:
        backend.check_dtype(array.dtype)
    except TypeError as e:
        raise TypeError(f"from_numpy: {e}") from None
    return Tensor._from_array(array)


def from_dlpack(obj) -> Tensor:
    """A Tensor sharing memory with ``obj``, any object with ``__dlpack__`` and
    ``__dlpack_device__`` (a NumPy, PyTorch, CuPy or JAX array, or a Tensor); no copy is made.

    Memory on the CPU gives a "cpu" tensor (NumPy), memory on a CUDA device a "gpu" tensor
    (CuPy, which must be installed). Other devices (ROCm, Metal, ...) and dtypes a Tensor cannot
    hold (bfloat16, complex, uint16/32/64) raise errors naming them. The shape and strides are
    kept. A PyTorch tensor that requires grad must be ``.detach()``-ed first, as PyTorch says.
    """
    if isinstance(obj, Tensor):
        return Tensor._from_array(obj.data)
    if not hasattr(obj, "__dlpack__") or not hasattr(obj, "__dlpack_device__"):
        raise TypeError(
            f"from_dlpack: expected an array with __dlpack__ and __dlpack_device__ (NumPy, "
            f"PyTorch, CuPy, JAX, ...), got {type(obj).__name__}"
            + ("; a bare DLPack capsule is not accepted, pass the array that made it"
               if type(obj).__name__ == "PyCapsule" else "")
        )
    device_type, device_id = (int(v) for v in obj.__dlpack_device__())
    where = _DEVICE_TYPES.get(device_type, f"device type {device_type}")
    try:
        if device_type == _CPU:
            array = np.from_dlpack(obj)
        elif device_type in (_CUDA, _CUDA_MANAGED):
            try:
                cupy = backend.require_gpu()
            except RuntimeError as e:
                raise RuntimeError(f"from_dlpack: the array is on {where} device {device_id}, "
                                   f"which needs the gpu device: {e}") from None
            array = cupy.from_dlpack(obj)
        else:
            raise ValueError(
                f"from_dlpack: the array is on {where} (DLPack device type {device_type}); "
                "tinygrad_cnn tensors live on the CPU (NumPy) or a CUDA GPU (CuPy); copy it to "
                "one of those first"
            )
    except (BufferError, RuntimeError, TypeError) as e:
        if str(e).startswith("from_dlpack"):
            raise
        raise type(e)(f"from_dlpack: cannot import the {type(obj).__name__} on {where} "
                      f"({_dtype_name(obj)}): {e}") from None
    try:
        backend.check_dtype(array.dtype)
    except TypeError as e:
        raise TypeError(f"from_dlpack: {e}") from None
    return Tensor._from_array(array)


def _dtype_name(obj) -> str:
    dtype = getattr(obj, "dtype", None)
    return f"dtype {dtype}" if dtype is not None else "unknown dtype"
