"""``tc.backends.cudnn``: the cuDNN switches, under PyTorch's names (``torch.backends.cudnn``).

- ``enabled`` (default True): GPU convolutions run through cuDNN where NVIDIA's
  ``nvidia-cudnn-frontend`` is installed (``pip install tinygrad_cnn[cudnn]``); otherwise, or
  when False, they take the im2col path (our CUDA kernels + cuBLAS). The environment variable
  ``TINYGRAD_CNN_CUDNN=0`` turns it off as well.
- ``allow_tf32`` (default False, where PyTorch's is True): float32 cuDNN convolutions may use TF32
  tensor cores. Off, they are exact float32, like the rest of the library by default.
- ``deterministic`` (default False, as PyTorch's): True allows only cuDNN engines that give the
  same bits on every run (no atomic adds), for bit-for-bit reruns, at some speed (LeNet-5's
  training step measured 6.4 instead of 4.8 ms on an H200). ``tc.gradcheck`` and
  ``tc.gradgradcheck`` turn it on while they run: they compare two backward passes bit for bit.
- ``is_available()`` and ``version()``, as PyTorch's.
"""

import contextlib
import sys
import types


def _switch(name: str) -> property:
    """A module attribute ``name`` that accepts True or False only (stored as ``_name``)."""

    def get(module) -> bool:
        return module.__dict__["_" + name]

    def set_(module, value) -> None:
        if not isinstance(value, bool):
            raise TypeError(f"tc.backends.cudnn.{name} must be True or False, got {value!r}")
        module.__dict__["_" + name] = value

    return property(get, set_)


class _CudnnModule(types.ModuleType):
    """This module, with its switches checked on assignment (True or False only)."""

    allow_tf32 = _switch("allow_tf32")
    deterministic = _switch("deterministic")
    enabled = _switch("enabled")


def is_available() -> bool:
    """Whether cuDNN can run convolutions here: the frontend imports and loads libcudnn.
    (A GPU is needed as well to use it: ``tc.gpu_available()``.)"""
    from tinygrad_cnn.cuda import cudnn_conv

    return cudnn_conv.frontend() is not None


def version() -> int | None:
    """cuDNN's version as an int (e.g. 91000 for 9.10.0), or None where it is not available."""
    from tinygrad_cnn.cuda import cudnn_conv

    module = cudnn_conv.frontend()
    return None if module is None else int(module.backend_version())


@contextlib.contextmanager
def deterministic_engines():
    """``deterministic = True`` inside the block, the previous value restored after it."""
    module = sys.modules[__name__]
    previous = module.deterministic
    module.deterministic = True
    try:
        yield
    finally:
        module.deterministic = previous


_allow_tf32 = False
_enabled = True
_deterministic = False
sys.modules[__name__].__class__ = _CudnnModule
