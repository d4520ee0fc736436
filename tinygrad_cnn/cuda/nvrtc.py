"""NVIDIA's runtime compiler through ctypes, without a GPU or a driver.

The ``nvidia-cuda-nvrtc-cu12`` wheel holds NVRTC alone; with it the kernels compile on any x86-64
Linux machine: ``scripts/build_cubins.py`` makes the cubins shipped in the package
(:mod:`tinygrad_cnn.cuda.prebuilt`) and the tests check that every kernel compiles. On a GPU,
CuPy's own NVRTC compiles the kernels a process needs with the same :data:`OPTIONS`.
"""

from __future__ import annotations

import ctypes
import os

OPTIONS = ("--std=c++14",)  # every compile of our kernels: CuPy's at run time and the cubins'

NO_NVRTC_REASON = "NVRTC is not installed (pip install nvidia-cuda-nvrtc-cu12)"


def library() -> ctypes.CDLL | None:
    """NVRTC from the ``nvidia-cuda-nvrtc-cu12`` wheel, or None where it is not installed."""
    try:
        import nvidia.cuda_nvrtc  # noqa: PLC0415 - an optional wheel
    except ImportError:
        return None
    for root in nvidia.cuda_nvrtc.__path__:
        path = os.path.join(root, "lib", "libnvrtc.so.12")
        if os.path.exists(path):
            return ctypes.CDLL(path)
    return None


def compile_source(nvrtc: ctypes.CDLL, source: str, arch: str,
                   output: str | None = None) -> tuple[bool, str, bytes | None]:
    """Compile the CUDA C ``source`` for ``arch`` (``"sm_90"``: a cubin for that GPU;
    ``"compute_90"``: PTX) with :data:`OPTIONS`. Returns (ok, the compiler's log, the
    ``output``: ``"cubin"``, ``"ptx"`` or None for nothing)."""
    if output not in (None, "cubin", "ptx"):
        raise ValueError(f"output must be 'cubin', 'ptx' or None, got {output!r}")
    program = ctypes.c_void_p()
    status = nvrtc.nvrtcCreateProgram(ctypes.byref(program), source.encode(), b"kernel.cu", 0,
                                      None, None)
    if status != 0:
        raise RuntimeError(f"nvrtcCreateProgram failed with status {status}")
    options = [o.encode() for o in OPTIONS] + [f"-arch={arch}".encode()]
    try:
        status = nvrtc.nvrtcCompileProgram(program, len(options),
                                           (ctypes.c_char_p * len(options))(*options))
        size = ctypes.c_size_t()
        nvrtc.nvrtcGetProgramLogSize(program, ctypes.byref(size))
        log = ctypes.create_string_buffer(size.value)
        nvrtc.nvrtcGetProgramLog(program, log)
        binary = None
        if status == 0 and output is not None:
            get_size, get = ((nvrtc.nvrtcGetCUBINSize, nvrtc.nvrtcGetCUBIN) if output == "cubin"
                             else (nvrtc.nvrtcGetPTXSize, nvrtc.nvrtcGetPTX))
            get_size(program, ctypes.byref(size))
            buffer = ctypes.create_string_buffer(size.value)
            if get(program, buffer) != 0:
                raise RuntimeError(f"NVRTC compiled for {arch} but gave no {output}")
            binary = buffer.raw
    finally:
        nvrtc.nvrtcDestroyProgram(ctypes.byref(program))
    return status == 0, log.value.decode(errors="replace"), binary
