"""Compile every CUDA kernel of tinygrad_cnn ahead of time into the cubins the package ships.

    pip install nvidia-cuda-nvrtc-cu12        # NVRTC alone: no GPU or driver needed
    python scripts/build_cubins.py            # rewrites tinygrad_cnn/cuda/cubins/sm_*.zip

Run it after editing a kernel (tests/test_cuda_prebuilt.py names the kernels whose cubins are
stale) and commit the zips. See tinygrad_cnn/cuda/prebuilt.py for how they are found and loaded.
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tinygrad_cnn.cuda import kernel, prebuilt  # noqa: E402 - the checkout, not an install


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", type=int, nargs="+", default=list(prebuilt.ARCHITECTURES),
                        help="architectures as compute capabilities (default: %(default)s)")
    args = parser.parse_args(argv)
    kernels = kernel.registered_kernels()
    start = time.perf_counter()
    for path in prebuilt.build(kernels, args.arch):
        print(f"{path}: {len(kernels)} kernels x 2 dtypes, {path.stat().st_size / 1024:.0f} KiB")
    print(f"compiled in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
