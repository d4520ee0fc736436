"""``tc.backends.cuda``: the cuBLAS switch ``matmul.allow_tf32`` (``torch.backends.cuda``)."""

from tinygrad_cnn import backend


class _CuBLASModule:
    """``tc.backends.cuda.matmul``: ``allow_tf32`` lets float32 GPU matrix products use TF32."""

    __slots__ = ()

    @property
    def allow_tf32(self) -> bool:
        return backend.matmul_tf32()

    @allow_tf32.setter
    def allow_tf32(self, value: bool) -> None:
        backend.set_matmul_tf32(value)

    def __setattr__(self, name, value):
        if name != "allow_tf32":
            raise AttributeError(f"tc.backends.cuda.matmul has no switch {name!r}; the one it "
                                 "has is 'allow_tf32'")
        object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        return f"tc.backends.cuda.matmul(allow_tf32={self.allow_tf32})"


matmul = _CuBLASModule()


def is_built() -> bool:
    """Whether a GPU backend is usable: CuPy imports and a CUDA device answers."""
    return backend.gpu_available()


__all__ = ["is_built", "matmul"]
