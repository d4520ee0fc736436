"""Count what one step of each GPU workload launches, without a GPU.

    python benchmarks/gpu_launches.py                 # the train steps of benchmarks/gpu.py
    python benchmarks/gpu_launches.py --only lenet5 --list
    python benchmarks/gpu_launches.py --only resnet18 mobilenet_v2   # zoo models, slower

Small GPU training steps are bound by the host: every kernel launch costs some microseconds of
Python and driver time, and every CuPy kernel is compiled on its first use in a fresh process
(about 0.15 s each on an H200). So the number of launches per step and the number of distinct
CuPy kernels a step needs are what to bring down; this script counts both on the CPU.

It runs the workloads of ``benchmarks/gpu.py`` on the tests' fake CuPy
(``tinygrad_cnn.testing.fake_cupy``) with our CUDA kernels on the tests' host runner
(``tests/cuda_host.py``, needs g++), so ops take exactly the path they take on a GPU, and
records every device call of one step after a warm-up step. Convolutions are counted as cuDNN
calls (as on a GPU with ``nvidia-cudnn-frontend``; ``--no-cudnn`` counts the im2col path). A
recorded call is classified as:

- our kernel: one launch of a ``tinygrad_cnn/cuda`` kernel;
- cuBLAS: ``matmul``/``dot``/``tensordot`` (no compile);
- CuPy kernel: any other call that computes (elementwise, reduction, indexing, copy); its
  compile key is estimated as (function, operand dtypes, result dtype, dims after merging the
  contiguous ones, as CuPy does) -- an estimate of CuPy's own per-kernel cache;
- no launch: a call whose result is a view of an operand, ``empty``/``empty_like``, or one that
  returns no array;
- device-to-host: ``.get()``, ``bool()``/``float()``/``int()`` of a device array -- each one
  waits for the GPU (a synchronisation).

Launches are counted in the second step; kernels compiled are the distinct CuPy compile keys
over the first two steps, what a fresh process compiles before its third step (per dtype). Our
kernels used are counted too; they compile side by side on a thread pool
(``tinygrad_cnn/cuda/kernel.py``), not one after another as CuPy's do.

The counts are an estimate of a real GPU's (CuPy may fuse or split some calls), but they move
exactly with the code: a change that removes a launch here removes it there.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
TRAIN_STEPS = ("lenet5", "article_cnn", "mlp", "bn_cnn")
# models of tinygrad_cnn.models, counted only: what a zoo model's step still hands to CuPy.
# name: (input (C, H, W), batch); ResNet-18, MobileNetV2, SqueezeNet 1.1 and U-Net (per-pixel
# classes) with SGD momentum, the CLI's default digits_cnn with the CLI's defaults (Adam, batch 32)
ZOO = {"resnet18": ((3, 64, 64), 2), "mobilenet_v2": ((3, 64, 64), 2),
       "digits_cnn": ((1, 8, 8), 32), "squeezenet1_1": ((3, 64, 64), 2), "unet": ((3, 32, 32), 2)}

CUBLAS = {"matmul", "dot", "tensordot", "vdot", "inner"}
NO_KERNEL = {"empty", "empty_like", "host_to_device"}
MEMSET = {"zeros", "zeros_like"}
TRANSFER = {"device_to_host"}


def _merged_ndim(result, operands) -> int:
    """Dims of the elementwise iteration after CuPy's merging: size-1 dims dropped, neighbours
    merged where every operand (broadcast to the result) is contiguous across them."""
    import numpy as np

    if not isinstance(result, np.ndarray) or result.ndim == 0:
        return 0
    views = [result]
    for o in operands:
        try:
            views.append(np.broadcast_to(o, result.shape))
        except ValueError:  # a reduction's input, an index array: not broadcast with the result
            pass
    dims = [d for d in range(result.ndim) if result.shape[d] != 1]
    merged = 1 if dims else 0
    for a, b in zip(dims, dims[1:], strict=False):
        if not all(v.strides[a] == v.strides[b] * v.shape[b] for v in views):
            merged += 1
    return merged


def classify(name, operands, result):
    """('ours' | 'cublas' | 'cupy' | 'memset' | 'transfer' | None, compile key or None)."""
    import numpy as np

    if name in TRANSFER:
        return "transfer", None
    if name in NO_KERNEL:
        return None, None
    if name in CUBLAS:
        return "cublas", None
    if name in MEMSET:
        return "memset", None
    if result is not None and not isinstance(result, np.ndarray):
        return None, None  # shapes, dtypes, Python values
    if name == "getitem" and len(operands) == 1:
        return None, None  # basic indexing: a view on CuPy (NumPy copies out a scalar)
    if isinstance(result, np.ndarray) and any(np.may_share_memory(result, o) for o in operands):
        return None, None  # a view (reshape, basic slicing, astype/ascontiguousarray no-ops)
    dtypes = tuple(o.dtype.str for o in operands)
    if not isinstance(result, np.ndarray):  # in place: the target is the first operand
        result, operands = operands[0], operands[1:]
        out = None
    else:
        out = result.dtype.str
    if all(_broadcasts(o.shape, result.shape) for o in operands):
        dims = _merged_ndim(result, operands)
    else:  # a reduction or an indexing kernel: CuPy specialises on both layouts
        dims = (tuple(o.ndim for o in operands), result.ndim)
    return "cupy", (name, dtypes, out, dims)


def _broadcasts(shape, to) -> bool:
    return len(shape) <= len(to) and all(
        a in (1, b) for a, b in zip(shape[::-1], to[::-1], strict=False))


def _fake_cudnn(counts):
    """Patch ``cuda.cudnn_conv`` so convolutions count as one cuDNN call each (values zero)."""
    import numpy as np

    from tinygrad_cnn.cuda import cudnn_conv
    from tinygrad_cnn.testing import fake_cupy

    def call(shape_of):
        def run(*args):
            counts["cudnn"] += 1
            return fake_cupy.ndarray(np.zeros(shape_of(*args), dtype=args[0].dtype))
        return run

    cudnn_conv.usable = lambda xp, dtype: xp is fake_cupy
    cudnn_conv.conv_forward = call(lambda x, w, geo: (x.shape[0], w.shape[0], geo.h.out,
                                                      geo.w.out))
    cudnn_conv.conv_input_grad = call(lambda g, w, geo: (g.shape[0], w.shape[1] * geo.groups,
                                                         geo.h.size, geo.w.size))
    cudnn_conv.conv_weight_grad = call(lambda x, g, geo, kernel_shape: tuple(kernel_shape))


def zoo_step(name):
    """(step, sync, None) of one training step of zoo model ``name`` on the GPU (``ZOO``)."""
    import numpy as np

    import tinygrad_cnn as tc
    from tinygrad_cnn import models, nn

    tc.manual_seed(0)
    (channels, h, w), batch = ZOO[name]
    model = {"resnet18": lambda: models.resnet18(num_classes=10),
             "mobilenet_v2": lambda: models.mobilenet_v2(num_classes=10, width_mult=0.25),
             "digits_cnn": lambda: models.digits_cnn(channels, 10),
             "squeezenet1_1": lambda: models.squeezenet1_1(num_classes=10),
             "unet": lambda: models.unet(in_channels=channels, num_classes=10),
             }[name]().to("gpu")
    opt = (tc.optim.Adam(model.parameters(), lr=1e-3) if name == "digits_cnn"
           else tc.optim.SGD(model.parameters(), lr=0.01, momentum=0.9))
    x = tc.tensor(np.random.default_rng(0).standard_normal((batch, channels, h, w),
                                                           dtype=np.float32), device="gpu")
    classes = np.arange(batch) % 10 if name != "unet" else np.arange(batch * h * w) % 10
    y = tc.tensor(classes.reshape((batch,) if name != "unet" else (batch, h, w)), device="gpu")
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

    return step, lambda: None, None


def census(name, cudnn=True):
    """Counts for one step of workload ``name`` (after one warm-up step)."""
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    import gpu as gpu_benchmark
    from cuda_host import HostRunner

    from tinygrad_cnn import cuda
    from tinygrad_cnn.testing import fake_cupy

    counts = collections.Counter()
    if cudnn:
        _fake_cudnn(counts)
    runner = HostRunner(numpy_only=False)  # the fake CuPy's arrays: counted on purpose
    with cuda.running_on_host(runner):
        step, sync, _ = zoo_step(name) if name in ZOO else gpu_benchmark.ours(name, "gpu",
                                                                             dry=False)
        with fake_cupy.recording() as first:
            step()
        first_ours = set(runner.launches)
        runner.launches.clear()
        counts.clear()
        with fake_cupy.recording() as records:
            step()
        sync()
    kinds = collections.Counter()
    keys = collections.Counter()
    for record in records:
        kind, key = classify(*record)
        if kind:
            kinds[kind] += 1
        if key:
            keys[key] += 1
    first_keys = {key for key in (classify(*record)[1] for record in first) if key}
    ours = collections.Counter(runner.launches)
    return {
        "ours": sum(ours.values()), "ours_kinds": len(first_ours | set(ours)),
        "cudnn": counts["cudnn"], "cublas": kinds["cublas"], "cupy": kinds["cupy"],
        "cupy_kernels": len(first_keys | set(keys)),
        "memset": kinds["memset"], "syncs": kinds["transfer"],
        "launches": sum(ours.values()) + counts["cudnn"] + kinds["cublas"] + kinds["cupy"]
        + kinds["memset"],
        "cupy_keys": keys, "our_names": ours,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", default=list(TRAIN_STEPS),
                        help=f"workloads of benchmarks/gpu.py (default: {' '.join(TRAIN_STEPS)})"
                             f" or zoo models ({' '.join(ZOO)})")
    parser.add_argument("--no-cudnn", action="store_true",
                        help="count convolutions on the im2col path instead of cuDNN")
    parser.add_argument("--list", action="store_true", help="list the CuPy kernels and ours")
    args = parser.parse_args(argv)
    os.environ["TINYGRAD_CNN_FAKE_GPU"] = "1"
    sys.path.insert(0, ROOT)
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from cuda_host import COMPILER, NO_COMPILER_REASON

    if COMPILER is None:
        print(f"benchmarks/gpu_launches.py: {NO_COMPILER_REASON}; nothing counted")
        return 0
    print("| workload | launches | ours | cuDNN | cuBLAS | CuPy kernels | memsets | "
          "device-to-host syncs | CuPy kernels compiled | our kernels used |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    results = {}
    for name in args.only:
        r = results[name] = census(name, cudnn=not args.no_cudnn)
        print(f"| {name} | {r['launches']} | {r['ours']} | {r['cudnn']} | {r['cublas']} | "
              f"{r['cupy']} | {r['memset']} | {r['syncs']} | {r['cupy_kernels']} | "
              f"{r['ours_kinds']} |")
    if args.list:
        for name, r in results.items():
            print(f"\n{name}: CuPy kernels (function, operand dtypes, result dtype, dims): calls")
            for key, n in sorted(r["cupy_keys"].items(), key=str):
                print(f"  {key}: {n}")
            print(f"{name}: our kernels: {dict(r['our_names'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
