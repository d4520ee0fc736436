"""Time whole training steps (forward, loss, backward, optimizer step) next to PyTorch CPU.

    python benchmarks/train_step.py                      # every workload, 2 rounds, a table
    python benchmarks/train_step.py --write-docs         # ... and put it in docs/benchmarks.md
    python benchmarks/train_step.py --only lenet5 mlp    # some workloads
    python benchmarks/train_step.py --growth             # RSS over 1,000 LeNet-5 steps, each side

Each side of each workload runs in a fresh process of its own (``--worker``), so neither framework
disturbs the other (OpenBLAS's spinning threads, PyTorch's OpenMP pool, either's allocator) and the
peak RSS of the process is that side's alone. The two sides alternate within a round and the
order flips from one round to the next; the table keeps each side's lowest round median (the
round least disturbed by other load). A worker builds the model, runs warm-up steps for at least
WARMUP_S seconds, then times ``--steps`` steps one by one and prints their median as JSON.

Both sides use ``--threads`` threads (BLAS, OpenMP, tinygrad_cnn's conv threads). PyTorch comes
from the ``bench`` extra: ``pip install 'tinygrad_cnn[bench]'``; without it only our times are
printed. OPENBLAS_CORETYPE (which makes OpenBLAS pick a kernel for another CPU) changes NumPy's
GEMM rate and so our figures: the BLAS kernel in use is printed; see docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import time
from datetime import datetime, timezone

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
DOCS = os.path.join(ROOT, "docs", "benchmarks.md")
WARMUP_S = 1.0  # a process's first second is slow for both sides (page faults, thread start-up)

# name -> description (the table's first column)
WORKLOADS = {
    "lenet5": "LeNet-5 1x28x28, batch 64, CE, SGD momentum 0.9",
    "article_cnn": "article CNN 3x64x64, batch 32, conv 32@5x5, ReLU, max-pool 2, dense 2, "
                   "CE, Adam",
    "mlp": "MLP 784-256-10, batch 32, CE, SGD momentum 0.9",
    "digits_cnn": "digits_cnn 1x8x8 (the main job's model), batch 32, CE, Adam",
    "conv3x3": "conv 64->64 3x3 pad 1, 32x32, batch 32, fwd+bwd",
    "conv5x5s2": "conv 32->64 5x5 stride 2 pad 2, 64x64, batch 16, fwd+bwd",
    "maxpool": "max-pool 2x2, 64ch 32x32, batch 32, fwd+bwd",
}


# ---------------------------------------------------------------------- the workloads, each side


def _data(name, rng):
    """(inputs, class targets or None, conv weight shape or None, op keyword arguments)."""
    import numpy as np

    def batch(n, shape, classes):
        return (rng.standard_normal((n, *shape), dtype=np.float32),
                rng.integers(0, classes, n).astype(np.int64))

    if name == "lenet5":
        return (*batch(64, (1, 28, 28), 10), None, None)
    if name == "article_cnn":
        return (*batch(32, (3, 64, 64), 2), None, None)
    if name == "mlp":
        return (*batch(32, (784,), 10), None, None)
    if name == "digits_cnn":
        return (*batch(32, (1, 8, 8), 10), None, None)
    if name == "conv3x3":
        return (rng.standard_normal((32, 64, 32, 32), dtype=np.float32), None, (64, 64, 3, 3),
                {"padding": 1})
    if name == "conv5x5s2":
        return (rng.standard_normal((16, 32, 64, 64), dtype=np.float32), None, (64, 32, 5, 5),
                {"stride": 2, "padding": 2})
    if name == "maxpool":
        return (rng.standard_normal((32, 64, 32, 32), dtype=np.float32), None, None,
                {"kernel_size": 2})
    raise ValueError(f"unknown workload {name!r}; choose from {', '.join(WORKLOADS)}")


def ours(name, threads):
    """A function running one training step of workload ``name`` with tinygrad_cnn."""
    import numpy as np

    sys.path.insert(0, ROOT)
    import tinygrad_cnn as tc
    import tinygrad_cnn.nn.functional as F
    from tinygrad_cnn import models, nn

    tc.set_num_threads(threads)
    rng = np.random.default_rng(0)
    x, y, w_shape, kwargs = _data(name, rng)
    if y is None:  # a single op, forward + backward of a random upstream gradient
        xt = tc.Tensor(x, requires_grad=True)
        wt = None if w_shape is None else tc.Tensor(
            rng.standard_normal(w_shape, dtype=np.float32) * 0.05, requires_grad=True)

        def op():
            return F.conv2d(xt, wt, **kwargs) if wt is not None else F.max_pool2d(xt, **kwargs)

        with tc.no_grad():
            g = tc.Tensor(rng.standard_normal(op().shape, dtype=np.float32))

        def step():
            xt.grad = None
            if wt is not None:
                wt.grad = None
            op().backward(g)

        return step
    model = {
        "lenet5": lambda: models.lenet5(),
        "article_cnn": lambda: models.article_cnn((3, 64, 64), 2),
        "mlp": lambda: nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10)),
        "digits_cnn": lambda: models.digits_cnn(),
    }[name]()
    opt = (tc.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
           if name in ("lenet5", "mlp") else tc.optim.Adam(model.parameters(), lr=1e-3))
    loss_fn = nn.CrossEntropyLoss()
    xt, yt = tc.Tensor(x), tc.Tensor(y)

    def step():
        opt.zero_grad()
        loss_fn(model(xt), yt).backward()
        opt.step()

    return step


def theirs(name, threads):
    """The same step with PyTorch (same shapes, same optimizer settings)."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch import nn

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x, y, w_shape, kwargs = _data(name, rng)
    if y is None:
        xt = torch.tensor(x, requires_grad=True)
        wt = None if w_shape is None else torch.tensor(
            rng.standard_normal(w_shape, dtype=np.float32) * 0.05, requires_grad=True)

        def op():
            return F.conv2d(xt, wt, **kwargs) if wt is not None else F.max_pool2d(xt, **kwargs)

        with torch.no_grad():
            g = torch.tensor(rng.standard_normal(tuple(op().shape), dtype=np.float32))

        def step():
            xt.grad = None
            if wt is not None:
                wt.grad = None
            op().backward(g)

        return step
    if name == "lenet5":
        model = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, 10))
    elif name == "article_cnn":
        model = nn.Sequential(nn.Conv2d(3, 32, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                              nn.Linear(32 * 30 * 30, 2))
    elif name == "mlp":
        model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    else:  # digits_cnn, as tinygrad_cnn.models.digits_cnn()
        model = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 2 * 2, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = (torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
           if name in ("lenet5", "mlp") else torch.optim.Adam(model.parameters(), lr=1e-3))
    loss_fn = nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        opt.zero_grad()
        loss_fn(model(xt), yt).backward()
        opt.step()

    return step


# ---------------------------------------------------------------------- one side, one process


def _rss_mib():
    """Resident memory now, from /proc (Linux), in MiB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _blas_kernel():
    """The BLAS libraries this process loaded, as threadpoolctl sees them."""
    import threadpoolctl

    found = [f"{i.get('internal_api')} {i.get('version') or ''} "
             f"{i.get('architecture') or ''}".strip()
             for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    return ", ".join(found) or "none found by threadpoolctl"


def worker(side, name, steps, threads, growth):
    """Run one side of one workload and print a JSON line of results."""
    if side == "torch":
        import torch  # noqa: F401
    else:
        sys.path.insert(0, ROOT)
        import tinygrad_cnn  # noqa: F401
    rss_start = _rss_mib()  # the framework imported, nothing built yet
    step = (ours if side == "ours" else theirs)(name, threads)
    rss_built = _rss_mib()
    start, warmed = time.perf_counter(), 0
    while warmed < 5 or time.perf_counter() - start < WARMUP_S:
        step()
        warmed += 1
    times, rss_at = [], {}
    for i in range(1, steps + 1):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
        if growth and i in (100, steps):
            rss_at[i] = round(_rss_mib(), 1)
    times.sort()
    print(json.dumps({
        "ms": 1000 * times[len(times) // 2], "peak_rss_mib": _peak_rss_mib(),
        "rss_start_mib": rss_start, "rss_built_mib": rss_built, "rss_at": rss_at,
        "blas": _blas_kernel(), "warmup_steps": warmed,
    }))


def run_worker(side, name, args, growth=False):
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(args.threads)
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", side, "--workload", name,
           "--steps", str(args.steps), "--threads", str(args.threads)]
    if growth:
        cmd.append("--growth-worker")
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{side} {name} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------- the table


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _have_torch():
    found = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True)
    return found.returncode == 0


def table(args):
    torch_ok = _have_torch()
    sides = ["ours", "torch"] if torch_ok else ["ours"]
    load_before = os.getloadavg()
    results = {name: {side: [] for side in sides} for name in args.only}
    for r in range(args.rounds):
        for name in args.only:
            order = sides if r % 2 == 0 else sides[::-1]
            for side in order:
                results[name][side].append(run_worker(side, name, args))
                print(f"round {r + 1} {name} {side}: {results[name][side][-1]['ms']:.3f} ms",
                      file=sys.stderr)
    load_after = os.getloadavg()
    blas = {side: results[args.only[0]][side][0]["blas"] for side in sides}
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    lines = [
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {_cpu_model()} "
        f"({os.cpu_count()} cores), {args.threads} threads each side, Python "
        f"{platform.python_version()}, OPENBLAS_CORETYPE="
        f"{coretype if coretype is not None else 'unset'}.",
        f"BLAS: tinygrad_cnn (NumPy) {blas['ours']}"
        + (f"; PyTorch {blas['torch']}" if torch_ok else "; PyTorch not installed") + ".",
        f"Median of {args.steps} steps after >= {WARMUP_S:g} s of warm-up, lowest of "
        f"{args.rounds} interleaved rounds, each side in its own process. Load average "
        f"(1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after.",
        "",
        "| workload | PyTorch ms | tinygrad_cnn ms | ratio | peak RSS MiB, PyTorch / ours |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in args.only:
        mine = min(results[name]["ours"], key=lambda r: r["ms"])
        rss_mine = max(r["peak_rss_mib"] for r in results[name]["ours"])
        if torch_ok:
            theirs_ = min(results[name]["torch"], key=lambda r: r["ms"])
            rss_theirs = max(r["peak_rss_mib"] for r in results[name]["torch"])
            lines.append(f"| {WORKLOADS[name]} | {theirs_['ms']:.3g} | {mine['ms']:.3g} | "
                         f"**{mine['ms'] / theirs_['ms']:.2f}x** | "
                         f"{rss_theirs:.0f} / {rss_mine:.0f} |")
        else:
            lines.append(f"| {WORKLOADS[name]} | - | {mine['ms']:.3g} | - | - / "
                         f"{rss_mine:.0f} |")
    return "\n".join(lines)


def growth(args):
    """RSS of each side after 100 and after 1,000 LeNet-5 steps, and its peak."""
    args.steps = 1000
    lines = ["| LeNet-5, 1,000 steps | RSS after imports MiB | after 100 steps | after 1,000 steps "
             "| peak RSS | peak above imports |",
             "|---|---:|---:|---:|---:|---:|"]
    for side in (["torch", "ours"] if _have_torch() else ["ours"]):
        r = run_worker(side, "lenet5", args, growth=True)
        lines.append(f"| {'PyTorch' if side == 'torch' else 'tinygrad_cnn'} | "
                     f"{r['rss_start_mib']:.0f} | {r['rss_at']['100']:.0f} | "
                     f"{r['rss_at']['1000']:.0f} | {r['peak_rss_mib']:.0f} | "
                     f"{r['peak_rss_mib'] - r['rss_start_mib']:.0f} |")
    return "\n".join(lines)


def write_docs(text, block_name):
    """Replace the block between this script's markers named ``block_name`` in
    docs/benchmarks.md (appended at the end the first time)."""
    begin = f"<!-- train_step.py {block_name}: begin -->"
    end = f"<!-- train_step.py {block_name}: end -->"
    with open(DOCS) as f:
        page = f.read()
    block = f"{begin}\n{text}\n{end}"
    if begin in page:
        page = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, page,
                      flags=re.S)
    else:
        page += f"\n{block}\n"
    with open(DOCS, "w") as f:
        f.write(page)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS),
                   metavar="WORKLOAD", help=f"some of: {', '.join(WORKLOADS)}")
    p.add_argument("--steps", type=int, default=40, help="timed steps per process (median)")
    p.add_argument("--rounds", type=int, default=2, help="interleaved rounds (lowest kept)")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="threads, both sides")
    p.add_argument("--write-docs", action="store_true",
                   help="also replace this table (one per thread count, and --growth's) in "
                        "docs/benchmarks.md")
    p.add_argument("--growth", action="store_true",
                   help="RSS over 1,000 LeNet-5 steps, each side, instead of the table")
    p.add_argument("--worker", choices=["ours", "torch"], help=argparse.SUPPRESS)
    p.add_argument("--workload", help=argparse.SUPPRESS)
    p.add_argument("--growth-worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.steps < 30 and not args.worker:
        p.error("--steps must be at least 30")
    if args.worker:
        return worker(args.worker, args.workload, args.steps, args.threads, args.growth_worker)
    text = growth(args) if args.growth else table(args)
    print(text)
    if args.write_docs:
        write_docs(text, "growth" if args.growth else f"table, {args.threads} threads")


if __name__ == "__main__":
    main()
