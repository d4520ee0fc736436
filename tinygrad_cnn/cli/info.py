"""`tinygrad-cnn info`: version, devices (and why not), BLAS."""

from __future__ import annotations

import argparse
import json
import platform

import tinygrad_cnn as tc

from .common import PROG


def _blas_info() -> str:
    try:
        from threadpoolctl import threadpool_info  # noqa: PLC0415 - optional
    except ImportError:
        threadpool_info = None
    if threadpool_info is not None:
        pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
        if pools:
            return "; ".join(f"{p.get('internal_api')} {p.get('version')} "
                             f"({p.get('num_threads')} threads)" for p in pools)
    import numpy  # noqa: PLC0415 - only to read its build configuration

    try:
        config = numpy.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version', '')}".strip()
    except Exception:  # older NumPy: no dict mode
        return "unknown (install threadpoolctl to see it)"


def _package_version(name: str) -> str:
    from importlib import metadata  # noqa: PLC0415

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _distributed_info() -> str:
    """The MPI library mpi4py uses, and whether GPU tensors can skip the host copy."""
    from tinygrad_cnn import distributed  # noqa: PLC0415 - imports no MPI by itself

    if not distributed.is_available():
        return "unavailable: pip install 'tinygrad_cnn[distributed]' (mpi4py, mpich)"
    from mpi4py import MPI  # noqa: PLC0415 - optional

    library = " ".join(MPI.Get_library_version().split()[:3])
    aware = "CUDA-aware" if distributed.cuda_aware_mpi() else \
        "not CUDA-aware (GPU gradients staged through the host; backend='nccl' avoids that)"
    return f"mpi ({library}), {aware}"


def cmd_info(args) -> int:
    """Print the versions, devices (and why the GPU is unavailable), BLAS and optional
    packages, as lines or as one JSON object; returns 0."""
    import numpy  # noqa: PLC0415 - versions only

    reason = tc.backend.gpu_unavailable_reason()
    info = {
        "tinygrad_cnn": tc.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": numpy.__version__,
        "blas": _blas_info(),
        "devices": tc.available_devices(),
        "default_device": tc.get_default_device(),
        "gpu": "available" if reason is None else f"unavailable: {reason}",
        "optional packages": {n: _package_version(n) for n in (
            "cupy-cuda12x", "cupy-cuda13x", "scikit-learn", "pillow", "matplotlib", "tqdm",
            "scikit-image", "hypothesis", "mpi4py", "mpich")},
        "distributed": _distributed_info(),
    }
    if reason is None:
        cupy = tc.backend.require_gpu()
        props = cupy.cuda.runtime.getDeviceProperties(0)
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        info["gpu_device"] = f"{name}, {props['totalGlobalMem'] / 2**30:.1f} GiB"
        info["cupy"] = cupy.__version__
        from tinygrad_cnn.cuda import prebuilt  # noqa: PLC0415 - only with a GPU

        capability = int(cupy.cuda.Device(0).compute_capability)
        info["cuda_kernels"] = prebuilt.describe(capability)
    if args.json:
        print(json.dumps(info))
        return 0
    for key, value in info.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        elif isinstance(value, list):
            value = ", ".join(value)
        print(f"{key + ':':<18} {value}")
    return 0


def add_parser(sub) -> None:
    """Register this subcommand on the top-level parser's subparsers."""
    raw = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("info", help="version, devices (and why not), BLAS",
                       formatter_class=raw, epilog=f"examples:\n  {PROG} info\n  {PROG} info "
                       "--json")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=cmd_info)
