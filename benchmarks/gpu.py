"""Time tinygrad_cnn on the GPU next to PyTorch CUDA: the eight workloads of the GPU issue, and
a BatchNorm-and-dropout train step.

    python benchmarks/gpu.py                    # every workload, a markdown table (about a minute)
    python benchmarks/gpu.py --only conv3x3_56  # some workloads
    python benchmarks/gpu.py --dry-run          # tiny sizes on the CPU: checks the script runs

Both frameworks run in this one process on the same data and weights; every timed step is
synchronised (``cupy.cuda.Device().synchronize()`` / ``torch.cuda.synchronize()``) and the
table gives the median of ``--repeats`` steps after ``--warmup`` steps. Columns:

- ours as installed (the defaults: convolutions through cuDNN where ``nvidia-cudnn-frontend``
  is installed, any engine but TF32 ones, as PyTorch with TF32 off; our CUDA kernels for the
  rest), without cuDNN (``TINYGRAD_CNN_CUDNN=0``: im2col with our kernels + cuBLAS), without
  cuDNN or our kernels (also ``TINYGRAD_CNN_CUDA_KERNELS=0``: the generic CuPy path), with
  deterministic cuDNN engines only (``tc.backends.cudnn.deterministic = True``), and with
  PyTorch's defaults (TF32 convolutions: ``tc.backends.cudnn.allow_tf32 = True``);
- PyTorch with TF32 off on both switches (exact float32, the fair comparison) and with its
  defaults (TF32 off for matmuls, on for cuDNN convolutions);
- peak GPU memory of each side during two steps: the high-water mark of CuPy's memory pool's
  ``used_bytes()`` (sampled by a memory hook at every allocation) against
  ``torch.cuda.max_memory_allocated()``, each above what that side held before the workload was
  built, so both count the workload's parameters, inputs and step temporaries;
- the first training step in a fresh process with an empty kernel cache (``CUPY_CACHE_DIR`` set
  to a new temporary directory: CuPy compiles every kernel) and again with that cache warm.
  These times include importing tinygrad_cnn and CuPy.

Without a usable GPU it prints why and exits 0. ``--dry-run`` runs every code path on the CPU
with tiny sizes (PyTorch on its CPU when installed), so CI checks the script without a GPU;
its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
KERNELS_ENV = "TINYGRAD_CNN_CUDA_KERNELS"
CUDNN_ENV = "TINYGRAD_CNN_CUDNN"

# name -> description (the table's first column)
WORKLOADS = {
    "lenet5": "LeNet-5 b64 train step (SGD momentum)",
    "article_cnn": "article CNN 3x64x64 b32 train step (Adam)",
    "mlp": "MLP 784-256-10 b32 train step (SGD momentum)",
    "bn_cnn": "conv-BN-ReLU x2, dropout 3x32x32 b64 train step (SGD momentum)",
    "conv3x3": "conv 64->64 3x3 32² b32 fwd+bwd",
    "conv5x5s2": "conv 32->64 5x5 s2 64² b16 fwd+bwd",
    "maxpool": "max-pool 2x2 64ch 32² b32 fwd+bwd",
    "conv3x3_56": "conv 64->64 3x3 56² b128 fwd+bwd",
    "conv3x3s2_56": "conv 128->256 3x3 s2 56² b128 fwd+bwd",
}


def spec(name: str, dry: bool) -> dict:
    """Shapes of one workload: batch, input (C, H, W) or features, and the op's arguments.
    ``dry`` shrinks batch and image size (not channels) so the CPU runs it in milliseconds."""
    def size(n, s):
        return (2, min(s, 8)) if dry else (n, s)

    if name == "lenet5":
        return {"batch": 2 if dry else 64, "input": (1, 28, 28), "classes": 10}
    if name == "article_cnn":
        b, s = size(32, 64)
        return {"batch": b, "input": (3, max(s, 16), max(s, 16)), "classes": 2}
    if name == "mlp":
        return {"batch": 2 if dry else 32, "input": (784,), "classes": 10}
    if name == "bn_cnn":
        b, s = size(64, 32)
        return {"batch": b, "input": (3, s, s), "classes": 10}
    conv = {
        "conv3x3": (32, 64, 32, 64, 3, 1, 1),
        "conv5x5s2": (16, 32, 64, 64, 5, 2, 2),
        "conv3x3_56": (128, 64, 56, 64, 3, 1, 1),
        "conv3x3s2_56": (128, 128, 56, 256, 3, 2, 1),
    }
    if name in conv:
        n, c, s, k, f, stride, pad = conv[name]
        b, s = size(n, s)
        return {"batch": b, "input": (c, s, s), "weight": (k, c, f, f),
                "kwargs": {"stride": stride, "padding": pad}}
    if name == "maxpool":
        b, s = size(32, 32)
        return {"batch": b, "input": (64, s, s), "kwargs": {"kernel_size": 2}}
    raise SystemExit(f"unknown workload {name!r}; choose from {', '.join(WORKLOADS)}")


def _arrays(name, dry):
    """The NumPy data both sides start from: x, targets (train steps), weight, upstream grad."""
    import numpy as np

    rng = np.random.default_rng(0)
    s = spec(name, dry)
    x = rng.standard_normal((s["batch"], *s["input"]), dtype=np.float32)
    y = rng.integers(0, s["classes"], s["batch"]) if "classes" in s else None
    w = (rng.standard_normal(s["weight"], dtype=np.float32) * 0.05) if "weight" in s else None
    return s, x, y, w, rng


# ---------------------------------------------------------------------- the two sides


def ours(name, device, dry):
    """(step, sync) running one step of ``name`` with tinygrad_cnn on ``device``; the model's
    parameters in order (for PyTorch to copy), or None for single ops."""
    import numpy as np

    import tinygrad_cnn as tc
    import tinygrad_cnn.nn.functional as F
    from tinygrad_cnn import models, nn

    s, x, y, w, rng = _arrays(name, dry)
    sync = _sync_ours(device)
    xt = tc.tensor(x, device=device, requires_grad="classes" not in s)
    if "classes" not in s:
        wt = None if w is None else tc.tensor(w, device=device, requires_grad=True)

        def op():
            return F.conv2d(xt, wt, **s["kwargs"]) if wt is not None else \
                F.max_pool2d(xt, **s["kwargs"])

        with tc.no_grad():
            shape = op().shape
        g = tc.tensor(rng.standard_normal(shape, dtype=np.float32), device=device)

        def step():
            xt.grad = None
            if wt is not None:
                wt.grad = None
            op().backward(g)

        return step, sync, None
    tc.manual_seed(0)
    model = {
        "lenet5": lambda: models.lenet5(),
        "article_cnn": lambda: models.article_cnn(s["input"], 2),
        "mlp": lambda: nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10)),
        "bn_cnn": lambda: _bn_cnn(nn, s["input"]),
    }[name]().to(device)
    opt = (tc.optim.Adam(model.parameters(), lr=1e-3) if name == "article_cnn"
           else tc.optim.SGD(model.parameters(), lr=0.01, momentum=0.9))
    loss_fn = nn.CrossEntropyLoss()
    yt = tc.tensor(y, device=device)

    def step():
        opt.zero_grad()
        loss_fn(model(xt), yt).backward()
        opt.step()

    return step, sync, [p.numpy().copy() for p in model.parameters()]


def _bn_cnn(nn, input_shape):
    """Two conv-BatchNorm-ReLU blocks, a 2x2 max pool, dropout and a linear classifier: the
    layers of the zoo's larger models, built from ``nn`` (ours or PyTorch's, same order)."""
    c, h, w = input_shape
    return nn.Sequential(
        nn.Conv2d(c, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Dropout(0.25), nn.Flatten(), nn.Linear(64 * (h // 2) * (w // 2), 10))


def _sync_ours(device):
    if device == "cpu":
        return lambda: None
    import tinygrad_cnn as tc

    cp = tc.backend.require_gpu()
    return cp.cuda.Device().synchronize


def theirs(name, device, dry, weights):
    """(step, sync) of the same step with PyTorch on ``device`` ("cuda" or "cpu")."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch import nn

    s, x, y, w, rng = _arrays(name, dry)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    xt = torch.tensor(x, device=device, requires_grad="classes" not in s)
    if "classes" not in s:
        wt = None if w is None else torch.tensor(w, device=device, requires_grad=True)

        def op():
            return F.conv2d(xt, wt, **s["kwargs"]) if wt is not None else \
                F.max_pool2d(xt, **s["kwargs"])

        with torch.no_grad():
            shape = tuple(op().shape)
        g = torch.tensor(rng.standard_normal(shape, dtype=np.float32), device=device)

        def step():
            xt.grad = None
            if wt is not None:
                wt.grad = None
            op().backward(g)

        return step, sync
    if name == "lenet5":
        model = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, 10))
    elif name == "article_cnn":
        c, h, w_ = s["input"]
        model = nn.Sequential(nn.Conv2d(c, 32, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                              nn.Linear(32 * ((h - 4) // 2) * ((w_ - 4) // 2), 2))
    elif name == "bn_cnn":
        model = _bn_cnn(nn, s["input"])
    else:
        model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    with torch.no_grad():  # the same weights as ours
        for p, value in zip(model.parameters(), weights, strict=True):
            assert tuple(p.shape) == value.shape, (name, tuple(p.shape), value.shape)
            p.copy_(torch.from_numpy(value))
    model.to(device)
    opt = (torch.optim.Adam(model.parameters(), lr=1e-3) if name == "article_cnn"
           else torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9))
    loss_fn = nn.CrossEntropyLoss()
    yt = torch.tensor(y, device=device)

    def step():
        opt.zero_grad()
        loss_fn(model(xt), yt).backward()
        opt.step()

    return step, sync


# ---------------------------------------------------------------------- measuring


def median_ms(step, sync, warmup, repeats):
    """Median wall time of one synchronised step, after ``warmup`` steps (and after our
    kernels' background compiles have finished)."""
    for _ in range(warmup):
        step()
    sync()
    from tinygrad_cnn.cuda import wait_for_compiles  # noqa: PLC0415 - ROOT is on the path here

    wait_for_compiles()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def used_bytes(side, device):
    """GPU bytes this side holds now (CuPy pool in use / torch allocated); 0 on the CPU."""
    gc.collect()  # earlier workloads' tensors, freed only with their reference cycles
    if device in ("cpu", None):
        return 0
    if side == "ours":
        import tinygrad_cnn as tc

        return tc.backend.require_gpu().get_default_memory_pool().used_bytes()
    import torch

    return torch.cuda.memory_allocated()


def peak_ours_mib(step, sync, device, base):
    """High-water mark of the CuPy pool's used bytes over two steps, above ``base`` (the bytes
    in use before the workload was built), so it counts the workload's parameters, inputs and
    everything a step allocates. None on the CPU."""
    if device == "cpu":
        return None
    import tinygrad_cnn as tc

    cp = tc.backend.require_gpu()
    pool = cp.get_default_memory_pool()
    sync()

    class Peak(cp.cuda.MemoryHook):
        name = "tc_benchmark_peak"

        def __init__(self):
            self.peak = pool.used_bytes()

        def malloc_postprocess(self, **kwargs):
            self.peak = max(self.peak, pool.used_bytes())

    hook = Peak()
    with hook:
        for _ in range(2):
            step()
        sync()
    return (hook.peak - base) / 2**20


def peak_theirs_mib(step, sync, device, base):
    """torch.cuda.max_memory_allocated() over two steps, above ``base`` (as peak_ours_mib)."""
    if device != "cuda":
        return None
    import torch

    sync()
    torch.cuda.reset_peak_memory_stats()
    for _ in range(2):
        step()
    sync()
    return (torch.cuda.max_memory_allocated() - base) / 2**20


def _torch_tf32(torch, matmul: bool, cudnn: bool):
    torch.backends.cuda.matmul.allow_tf32 = matmul
    torch.backends.cudnn.allow_tf32 = cudnn


def measure(name, args, torch):
    """One table row's figures for workload ``name``."""
    import tinygrad_cnn as tc

    ours_device = "cpu" if args.dry_run else "gpu"
    torch_device = "cpu" if args.dry_run else "cuda"
    row = {}
    base = used_bytes("ours", ours_device)
    step, sync, weights = ours(name, ours_device, args.dry_run)
    previous = {k: os.environ.get(k) for k in (KERNELS_ENV, CUDNN_ENV)}
    try:
        # (label, our CUDA kernels, cuDNN, TF32 for cuDNN, deterministic cuDNN)
        for label, kernels, cudnn, tf32, deterministic in (
                ("ours", "1", "1", False, False),
                ("ours_nocudnn", "1", "0", False, False),
                ("ours_nokernels", "0", "0", False, False),
                ("ours_deterministic", "1", "1", False, True),
                ("ours_torch_defaults", "1", "1", True, False)):
            os.environ[KERNELS_ENV], os.environ[CUDNN_ENV] = kernels, cudnn
            tc.backends.cudnn.allow_tf32, tc.backends.cudnn.deterministic = tf32, deterministic
            row[label] = median_ms(step, sync, args.warmup, args.repeats)
        os.environ[KERNELS_ENV] = os.environ[CUDNN_ENV] = "1"
        tc.backends.cudnn.allow_tf32, tc.backends.cudnn.deterministic = False, False
        row["ours_mib"] = peak_ours_mib(step, sync, ours_device, base)
    finally:
        tc.backends.cudnn.allow_tf32, tc.backends.cudnn.deterministic = False, False
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    del step, sync
    if torch is not None:
        base = used_bytes("torch", torch_device)
        step, sync = theirs(name, torch_device, args.dry_run, weights)
        _torch_tf32(torch, False, False)
        row["torch"] = median_ms(step, sync, args.warmup, args.repeats)
        row["torch_mib"] = peak_theirs_mib(step, sync, torch_device, base)
        _torch_tf32(torch, False, True)  # PyTorch's defaults
        row["torch_default"] = median_ms(step, sync, args.warmup, args.repeats)
        _torch_tf32(torch, False, False)
    return row


def first_step(name, dry):
    """Seconds from process start to the first synchronised step of ``name`` (run in a fresh
    process by cold_start); printed as JSON."""
    t0 = time.perf_counter()
    sys.path.insert(0, ROOT)
    import tinygrad_cnn  # noqa: F401

    imported = time.perf_counter()
    step, sync, _ = ours(name, "cpu" if dry else "gpu", dry)
    step()
    sync()
    done = time.perf_counter()
    from tinygrad_cnn.cuda import kernel  # noqa: PLC0415 - ROOT is on the path here

    print(json.dumps({"import_s": imported - t0, "first_step_s": done - imported,
                      "total_s": done - t0, "convolutions": convolution_path(),
                      "ours_compiled": kernel.compiles_started()}))


def convolution_path() -> str:
    """Which path this process's GPU convolutions take: cuDNN, or im2col and why."""
    from tinygrad_cnn.cuda import cudnn_conv

    reason = cudnn_conv.unavailable_reason()
    return "through cuDNN" if reason is None else f"by im2col (no cuDNN: {reason})"


def child_env(**extra) -> dict:
    """The environment of a child process: this one's plus ``extra``, with the project first on
    PYTHONPATH and the entries already there kept (packages installed beside the project, such
    as the cuDNN frontend, must stay importable: a child without them measures another path)."""
    path = [ROOT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {**os.environ, **extra, "PYTHONPATH": os.pathsep.join(path)}


def cold_start(name, dry):
    """First step in a fresh process with an empty kernel cache, then with that cache warm."""
    results = {}
    with tempfile.TemporaryDirectory(prefix="tc_cupy_cache_") as cache:
        env = child_env(CUPY_CACHE_DIR=cache)
        cmd = [sys.executable, os.path.abspath(__file__), "--first-step", name]
        if dry:
            cmd.append("--dry-run")
        for label in ("cold", "warm"):
            done = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"first step ({label} cache) failed:\n{done.stderr}")
            results[label] = json.loads(done.stdout.strip().splitlines()[-1])
            results[label]["cached_kernels"] = sum(len(files) for _, _, files in os.walk(cache))
    return results


# ---------------------------------------------------------------------- the table


def _f(value, digits=3):
    return "n/a" if value is None else f"{value:.{digits}g}"


def _ratio(a, b):
    return "n/a" if a is None or b is None else f"{a / b:.2f}×"


def table(rows, cold, header):
    lines = [*header, "",
             "| workload | ours ms | ours, no cuDNN | ours, no cuDNN or kernels | "
             "ours, deterministic cuDNN | ours, PyTorch's defaults | "
             "PyTorch fp32 (TF32 off) | ratio | PyTorch default | ratio | "
             "peak MiB ours / PyTorch |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in rows.items():
        lines.append(
            f"| {WORKLOADS[name]} | {_f(r['ours'])} | {_f(r['ours_nocudnn'])} | "
            f"{_f(r['ours_nokernels'])} | {_f(r['ours_deterministic'])} | "
            f"{_f(r['ours_torch_defaults'])} | {_f(r.get('torch'))} | "
            f"**{_ratio(r['ours'], r.get('torch'))}** | {_f(r.get('torch_default'))} | "
            f"{_ratio(r['ours'], r.get('torch_default'))} | "
            f"{_f(r['ours_mib'], 4)} / {_f(r.get('torch_mib'), 4)} |")
    if cold:
        name, result = cold
        lines += ["", f"First {WORKLOADS[name]} in a fresh process (import + build + step): "
                      f"{result['cold']['total_s']:.2f} s with an empty kernel cache "
                      f"(import {result['cold']['import_s']:.2f} s, "
                      f"{result['cold']['cached_kernels']} kernels compiled and cached, "
                      f"{result['cold']['ours_compiled']} of ours compiled: the rest of ours "
                      "from shipped cubins), "
                      f"{result['warm']['total_s']:.2f} s with it warm; convolutions "
                      f"{result['cold']['convolutions']}."]
    return "\n".join(lines)


def _header(args, torch):
    import tinygrad_cnn as tc

    when = f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC"
    if args.dry_run:
        where = f"DRY RUN on the CPU ({platform.machine()}): tiny sizes, the numbers mean nothing"
    else:
        cp = tc.backend.require_gpu()
        props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        where = f"{name}, CuPy {cp.__version__}, CUDA runtime {cp.cuda.runtime.runtimeGetVersion()}"
    theirs_ = f"PyTorch {torch.__version__}" if torch is not None else "PyTorch not installed"
    return [f"Measured {when}: {where}; {theirs_}; Python {platform.python_version()}.",
            f"Median of {args.repeats} synchronised steps after {args.warmup} warm-up steps, "
            "both frameworks in one process on the same data and weights."]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", choices=list(WORKLOADS), default=list(WORKLOADS))
    parser.add_argument("--repeats", type=int, default=None, help="timed steps (default 25)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps (default 5)")
    parser.add_argument("--dry-run", action="store_true",
                        help="tiny sizes on the CPU, PyTorch on its CPU: checks the code paths")
    parser.add_argument("--no-cold-start", action="store_true",
                        help="skip the first-step timing in fresh processes")
    parser.add_argument("--cold-start-workload", choices=list(WORKLOADS), default="lenet5")
    parser.add_argument("--first-step", choices=list(WORKLOADS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 2 if args.dry_run else 25
    if args.warmup is None:
        args.warmup = 1 if args.dry_run else 5
    if args.repeats < 1 or args.warmup < 0:
        parser.error("--repeats must be >= 1 and --warmup >= 0")
    sys.path.insert(0, ROOT)
    if args.first_step:
        first_step(args.first_step, args.dry_run)
        return 0
    import tinygrad_cnn as tc

    if not args.dry_run and not tc.gpu_available():
        print(f"benchmarks/gpu.py: no GPU, nothing measured: "
              f"{tc.backend.gpu_unavailable_reason()}")
        return 0
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None and args.dry_run:
        torch.set_num_threads(1)  # tiny CPU ops: a thread pool only adds start-up and spinning
    if torch is not None and not args.dry_run and not torch.cuda.is_available():
        print("PyTorch has no CUDA device here; timing tinygrad_cnn alone", file=sys.stderr)
        torch = None
    # the cold start runs first, before this process has compiled (and cached) anything
    cold = None if args.no_cold_start else (args.cold_start_workload,
                                            cold_start(args.cold_start_workload, args.dry_run))
    rows = {}
    for name in args.only:
        rows[name] = measure(name, args, torch)
        print(f"{name}: {json.dumps({k: v and round(v, 4) for k, v in rows[name].items()})}",
              file=sys.stderr)
    print(table(rows, cold, _header(args, torch)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
