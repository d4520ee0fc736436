"""Kernels compiled ahead of time: cubins shipped in the package, so that a fresh machine's first
step waits for no compile of ours.

``scripts/build_cubins.py`` compiles every registered kernel for float32 and float64 with NVRTC
(the ``nvidia-cuda-nvrtc-cu12`` wheel, no GPU needed) for each architecture of
:data:`ARCHITECTURES`, and writes one zip per architecture to ``tinygrad_cnn/cuda/cubins/``. An
entry is named by the kernel, its scalar type and a hash of what was compiled (the whole
translation unit and the NVRTC options), so a kernel edited since finds no entry and is compiled
at first use as before; ``tests/test_cuda_prebuilt.py`` names every kernel whose cubins are
missing or stale. A GPU loads the cubins of the highest shipped architecture of its own major
version not above it (a cubin for sm_80 runs on sm_86 and sm_89, not on sm_90); a GPU of
another major version, ``TINYGRAD_CNN_PREBUILT_KERNELS=0`` or a cubin the driver refuses leaves
the kernel to NVRTC.
"""

from __future__ import annotations

import hashlib
import os
import threading
import zipfile
from pathlib import Path

from . import nvrtc

ARCHITECTURES = (80, 90)  # Ampere and Ada (sm_80 runs on 8.x), Hopper (H100, H200)
DIRECTORY = Path(__file__).with_name("cubins")
ENV_SWITCH = "TINYGRAD_CNN_PREBUILT_KERNELS"
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed, so a rebuild of unchanged kernels is byte-identical

_lock = threading.Lock()
_archives: dict[int, zipfile.ZipFile | None] = {}
_architectures: dict[int, int | None] = {}  # CUDA device id: the shipped architecture it loads
failures: dict[str, str] = {}  # entry name: why the driver refused its cubin (NVRTC compiled it)


def entry_name(kernel, dtype) -> str:
    """The archive entry of ``kernel``'s cubin for ``dtype``: its name, the dtype's character and
    the first 16 hex digits of a SHA-256 of its source and the NVRTC options."""
    digest = hashlib.sha256("\0".join((*nvrtc.OPTIONS, kernel.source(dtype))).encode())
    return f"{kernel.name}.{dtype.char}.{digest.hexdigest()[:16]}.cubin"


def archive_path(arch: int) -> Path:
    """The zip of the cubins for ``sm_{arch}``."""
    return DIRECTORY / f"sm_{arch}.zip"


def shipped_architecture(compute_capability: int) -> int | None:
    """The shipped architecture whose cubins run on a GPU of ``compute_capability`` (e.g. 89):
    the highest of its major version not above it, or None."""
    major = compute_capability // 10
    fitting = [a for a in ARCHITECTURES if a // 10 == major and a <= compute_capability]
    return max(fitting, default=None)


def describe(compute_capability: int) -> str:
    """How a GPU of ``compute_capability`` (e.g. 90) gets our kernels, for ``tinygrad-cnn info``."""
    arch = shipped_architecture(compute_capability)
    if os.environ.get(ENV_SWITCH, "1") == "0":
        return f"compiled on first use ({ENV_SWITCH}=0)"
    if arch is None:
        shipped = ", ".join(f"sm_{a}" for a in ARCHITECTURES)
        return (f"compiled on first use (no cubins shipped for compute capability "
                f"{compute_capability // 10}.{compute_capability % 10}; shipped: {shipped})")
    return f"shipped cubins for sm_{arch}"


def _archive(arch: int) -> zipfile.ZipFile | None:
    if arch not in _archives:
        path = archive_path(arch)
        _archives[arch] = zipfile.ZipFile(path) if path.exists() else None
    return _archives[arch]


def _architecture(device: int) -> int | None:
    arch = _architectures.get(device, -1)
    if arch == -1:
        import cupy  # noqa: PLC0415 - only reached with CuPy arrays

        capability = int(cupy.cuda.Device(device).compute_capability)
        arch = _architectures[device] = shipped_architecture(capability)
    return arch


def available(kernel, dtype, device: int) -> bool:
    """Whether a cubin of ``kernel`` for ``dtype`` is shipped for CUDA device ``device``."""
    if os.environ.get(ENV_SWITCH, "1") == "0":
        return False
    with _lock:
        arch = _architecture(device)
        archive = None if arch is None else _archive(arch)
        if archive is None:
            return False
        name = entry_name(kernel, dtype)
        return name not in failures and name in archive.NameToInfo


def load(kernel, dtype, device: int):
    """``kernel``'s CuPy function for ``dtype`` on CUDA device ``device`` from its shipped cubin,
    or None where there is none (or the driver refuses it: the reason is kept in
    :data:`failures`)."""
    if not available(kernel, dtype, device):
        return None
    import cupy  # noqa: PLC0415

    name = entry_name(kernel, dtype)
    with _lock:
        cubin = _archive(_architecture(device)).read(name)
    try:
        with cupy.cuda.Device(device):
            module = cupy.cuda.function.Module()
            module.load(cubin)
            return module.get_function(kernel.name)
    except Exception as error:  # e.g. a driver older than the NVRTC that built the cubins
        failures[name] = f"{type(error).__name__}: {error}"
        return None


def build(kernels, architectures=ARCHITECTURES, directory: Path = DIRECTORY) -> list[Path]:
    """Compile ``kernels`` for float32 and float64 with NVRTC for each of ``architectures`` and
    write each architecture's zip in ``directory`` (replacing it). Returns the paths written."""
    import numpy as np  # noqa: PLC0415

    library = nvrtc.library()
    if library is None:
        raise RuntimeError(f"building the cubins needs NVRTC: {nvrtc.NO_NVRTC_REASON}")
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for arch in architectures:
        entries = {}
        for kernel in kernels:
            for dtype in (np.dtype(np.float32), np.dtype(np.float64)):
                ok, log, cubin = nvrtc.compile_source(library, kernel.source(dtype),
                                                      f"sm_{arch}", output="cubin")
                if not ok:
                    raise RuntimeError(f"{kernel.name} ({dtype}) does not compile for "
                                       f"sm_{arch}:\n{log}")
                entries[entry_name(kernel, dtype)] = cubin
        path = directory / f"sm_{arch}.zip"
        partial = path.with_suffix(".zip.partial")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
            for name in sorted(entries):
                archive.writestr(zipfile.ZipInfo(name, _ZIP_DATE), entries[name],
                                 compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
        os.replace(partial, path)
        written.append(path)
    return written
