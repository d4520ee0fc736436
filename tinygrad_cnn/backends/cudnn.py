"""``tc.backends.cudnn``: ``allow_tf32`` for cuDNN convolutions (``torch.backends.cudnn``).

Off by default, unlike PyTorch (True): tinygrad_cnn's convolution is a matrix product, which
``tc.backends.cuda.matmul.allow_tf32`` governs. A cuDNN convolution path reads this switch.
"""

import sys
import types


class _CudnnModule(types.ModuleType):
    """This module, with ``allow_tf32`` checked on assignment (True or False only)."""

    @property
    def allow_tf32(self) -> bool:
        return self._allow_tf32

    @allow_tf32.setter
    def allow_tf32(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise TypeError(f"tc.backends.cudnn.allow_tf32 must be True or False, got {value!r}")
        self.__dict__["_allow_tf32"] = value


_allow_tf32 = False
sys.modules[__name__].__class__ = _CudnnModule
