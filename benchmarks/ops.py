"""Time forward+backward of conv2d and max_pool2d in float32, next to PyTorch CPU when installed.

    python benchmarks/ops.py [--repeats 15] [--threads N]

Prints a markdown table (paste it into docs/benchmarks.md): median milliseconds (each side timed
in its own block) of one forward+backward (random upstream gradient), the ratio to PyTorch, and
the peak of NumPy buffers during one step (tracemalloc, which sees every NumPy allocation;
PyTorch's own allocator is invisible to it, so no peak is given for PyTorch), next to the im2col
buffer size.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import tracemalloc
from datetime import date

# BLAS threads must be fixed before NumPy loads
_parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
_parser.add_argument("--repeats", type=int, default=15, help="timed runs per case (median)")
_parser.add_argument("--threads", type=int, default=os.cpu_count(),
                     help="threads for tinygrad_cnn (conv, BLAS) and PyTorch (default: all cores)")
ARGS = _parser.parse_args() if __name__ == "__main__" else _parser.parse_args([])
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, str(ARGS.threads))

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import tinygrad_cnn as tc  # noqa: E402
import tinygrad_cnn.nn.functional as F  # noqa: E402
from tinygrad_cnn.ops import windows  # noqa: E402

try:
    import torch
    import torch.nn.functional as TF
except ImportError:  # the comparison is optional: pip install 'tinygrad_cnn[bench]'
    torch = None

MiB = 2**20
# Each side runs this long before it is timed. A process's first second of large NumPy
# allocations is slow on Linux with transparent huge pages in "madvise" mode (NumPy asks for
# them): page faults then compact memory in the kernel, and steps of the 3x3 case took 1.5x
# their steady time for about 15 steps. Training runs at the steady speed.
WARMUP_S = 1.0

# name, input shape, kernel (C_out, C_in, KH, KW) or None for pooling, keyword arguments
CASES = [
    ("conv 3x3 pad 1: N=32 C=64 32x32 -> 64", (32, 64, 32, 32), (64, 64, 3, 3),
     {"padding": 1}),
    ("conv 5x5 stride 2 pad 2: N=16 C=32 64x64 -> 64", (16, 32, 64, 64), (64, 32, 5, 5),
     {"stride": 2, "padding": 2}),
    ("max_pool2d 2x2: N=32 C=64 32x32", (32, 64, 32, 32), None, {"kernel_size": 2}),
]


def median_ms(steps, repeats):
    """Median milliseconds of each step, each measured in a block of its own after a warm-up
    of WARMUP_S seconds (at least 3 steps).

    Not interleaved (ours, theirs, ours, ...): OpenBLAS's worker threads keep spinning for a
    while after NumPy's product returns, and PyTorch's OpenMP threads measured right after them
    ran up to 3x slower than alone, which flattered the ratio.
    """
    medians = []
    for step in steps:
        start, warmed = time.perf_counter(), 0
        while warmed < 3 or time.perf_counter() - start < WARMUP_S:
            step()  # warm-up: page faults, BLAS and worker threads, the im2col workspace
            warmed += 1
        record = []
        for _ in range(repeats):
            start = time.perf_counter()
            step()
            record.append(time.perf_counter() - start)
        medians.append(1000 * float(np.median(record)))
    return medians


def ours(x, w, kwargs, grad):
    xt = tc.Tensor(x, requires_grad=True)
    wt = None if w is None else tc.Tensor(w, requires_grad=True)
    g = tc.Tensor(grad)

    def step():
        xt.grad = None
        if wt is not None:
            wt.grad = None
        y = F.conv2d(xt, wt, **kwargs) if wt is not None else F.max_pool2d(xt, **kwargs)
        y.backward(g)

    return step


def theirs(x, w, kwargs, grad):
    xt = torch.tensor(x, requires_grad=True)
    wt = None if w is None else torch.tensor(w, requires_grad=True)
    g = torch.tensor(grad)

    def step():
        xt.grad = None
        if wt is not None:
            wt.grad = None
        y = TF.conv2d(xt, wt, **kwargs) if wt is not None else TF.max_pool2d(xt, **kwargs)
        y.backward(g)

    return step


def peak_mib(step):
    """Peak NumPy memory of one step, above what was allocated before it, starting with an empty
    im2col workspace (so the columns' buffers are counted)."""
    windows._workspace.clear()
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    step()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return (peak - base) / MiB


def im2col_mib(x_shape, w_shape, kwargs):
    if w_shape is None:
        return None
    stride, padding = kwargs.get("stride", 1), kwargs.get("padding", 0)
    n, c, h, w = x_shape
    kh, kw = w_shape[2:]
    oh = tc.nn.conv_output_size(h, kh, stride, padding)
    ow = tc.nn.conv_output_size(w, kw, stride, padding)
    return n * c * kh * kw * oh * ow * 4 / MiB


def main():
    rng = np.random.default_rng(0)
    if torch is not None:
        torch.set_num_threads(ARGS.threads)
    rows = []
    for name, x_shape, w_shape, kwargs in CASES:
        x = rng.standard_normal(x_shape, dtype=np.float32)
        w = None if w_shape is None else rng.standard_normal(w_shape, dtype=np.float32) * 0.05
        with tc.no_grad():
            y = (F.conv2d(tc.Tensor(x), tc.Tensor(w), **kwargs) if w is not None
                 else F.max_pool2d(tc.Tensor(x), **kwargs))
        grad = rng.standard_normal(y.shape, dtype=np.float32)
        step = ours(x, w, kwargs, grad)
        steps = [step, theirs(x, w, kwargs, grad)] if torch else [step]
        t_ours, t_torch = (median_ms(steps, ARGS.repeats) + [None])[:2]
        rows.append((name, t_ours, t_torch, peak_mib(step), im2col_mib(x_shape, w_shape, kwargs)))

    blas = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
    print(f"date {date.today()}, {platform.machine()} {platform.processor() or ''} "
          f"{os.cpu_count()} cores, {ARGS.threads} threads, Python {platform.python_version()}, "
          f"NumPy {np.__version__} ({blas.get('name', '?')} {blas.get('version', '')}), "
          f"PyTorch {torch.__version__ if torch else 'not installed'}, "
          f"median of {ARGS.repeats}, float32, forward+backward\n")
    print("| case | tinygrad_cnn ms | PyTorch ms | ratio | peak NumPy MiB | im2col MiB |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, t_ours, t_torch, peak, cols in rows:
        ratio = f"{t_ours / t_torch:.2f}x" if t_torch else "-"
        torch_ms = f"{t_torch:.1f}" if t_torch else "-"
        cols_text = f"{cols:.0f}" if cols is not None else "-"
        print(f"| {name} | {t_ours:.1f} | {torch_ms} | {ratio} | {peak:.0f} | {cols_text} |")


if __name__ == "__main__":
    main()
