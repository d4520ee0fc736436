"""Data-parallel scaling on this machine: images/s with 1 and 2 MPI ranks, and the bandwidth of
DistributedDataParallel's bucketed gradient all-reduce against a raw mpi4py Allreduce.

    python benchmarks/distributed.py                  # the table (needs the distributed extra)
    python benchmarks/distributed.py --steps 50

Each configuration runs under ``mpiexec -n R`` in fresh processes, one BLAS/conv thread per rank
(so 2 ranks use the 2 cores that 1 rank with 1 thread leaves half idle). Per-rank batch: LeNet-5
64 (1x28x28, SGD momentum), article CNN 32 (3x64x64, Adam); images/s counts every rank's images.
The all-reduce compares, on the same bytes (float32 gradients of 10 M parameters in 40 tensors of
mixed sizes), ``DistributedDataParallel``'s reduction (flatten + scale into 25 MiB buckets, one
all-reduce each, gradients as views of the result) with ``comm.Allreduce(IN_PLACE, buf)`` on one
ready-made contiguous buffer: the ratio is what bucketing costs over the raw collective.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def _worker(args) -> None:
    import numpy as np

    import tinygrad_cnn as tc
    import tinygrad_cnn.distributed as dist
    from tinygrad_cnn import models

    tc.set_num_threads(1)
    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    rng = np.random.default_rng(rank)
    result = {"ranks": world}
    if args.workload == "allreduce":
        sizes = np.random.default_rng(0).integers(10_000, 490_000, size=40)  # same on all ranks
        sizes = (sizes * (10_000_000 / sizes.sum())).astype(int)
        params = [tc.nn.Parameter(tc.zeros(int(n))) for n in sizes]
        holder = tc.nn.Module()
        holder.params = params
        ddp = dist.DistributedDataParallel(holder)
        nbytes = int(sum(sizes)) * 4
        buf = np.ones(int(sum(sizes)), np.float32)
        from mpi4py import MPI

        comm = MPI.COMM_WORLD

        def bucketed():
            for p in params:
                p.grad = tc.Tensor._from_array(np.ones(p.shape, np.float32))
            start = time.perf_counter()
            ddp._reduce_gradients()
            return time.perf_counter() - start

        def raw():
            comm.Barrier()
            start = time.perf_counter()
            comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
            return time.perf_counter() - start

        times = {"bucketed": [], "raw": []}
        for i in range(args.steps):
            dist.barrier()
            for name, fn in (("bucketed", bucketed), ("raw", raw)) if i % 2 else \
                    (("raw", raw), ("bucketed", bucketed)):
                times[name].append(fn())
        for name, ts in times.items():
            result[f"{name}_ms"] = 1e3 * float(np.median(ts[2:]))
            result[f"{name}_GBps"] = nbytes / float(np.median(ts[2:])) / 1e9
        result["MB"] = nbytes / 1e6
    else:
        batch = {"lenet5": 64, "article_cnn": 32}[args.workload]
        shape = {"lenet5": (1, 28, 28), "article_cnn": (3, 64, 64)}[args.workload]
        classes = {"lenet5": 10, "article_cnn": 2}[args.workload]
        tc.manual_seed(0)
        model = models.lenet5() if args.workload == "lenet5" else models.article_cnn(shape, 2)
        ddp = dist.DistributedDataParallel(model)
        opt = (tc.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
               if args.workload == "lenet5" else tc.optim.Adam(model.parameters(), lr=1e-3))
        x = tc.tensor(rng.standard_normal((batch, *shape), dtype=np.float32))
        y = tc.tensor(rng.integers(0, classes, batch))
        loss_fn = tc.nn.CrossEntropyLoss()

        def step():
            loss = loss_fn(ddp(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()

        for _ in range(5):
            step()
        dist.barrier()
        start = time.perf_counter()
        for _ in range(args.steps):
            step()
        dist.barrier()
        seconds = time.perf_counter() - start
        result["images_per_s"] = world * batch * args.steps / seconds
        result["ms_per_step"] = 1e3 * seconds / args.steps
    if rank == 0:
        print(json.dumps(result), flush=True)
    dist.destroy_process_group()


def _run(workload, ranks, steps):
    mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if not os.path.exists(mpiexec):
        mpiexec = shutil.which("mpiexec")
    if mpiexec is None:
        sys.exit("no mpiexec: pip install 'tinygrad_cnn[distributed]'")
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([mpiexec, "-n", str(ranks), sys.executable, __file__, "--worker",
                          "--workload", workload, "--steps", str(steps)],
                         capture_output=True, text=True, env=env, check=True, timeout=900)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def _blas() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown"
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    return ", ".join(f"{p['internal_api']} {p.get('version')} ({p.get('architecture')})"
                     for p in pools) or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--workload", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args)
        return
    print(f"{time.strftime('%Y-%m-%d')}, {_cpu_model()}, {os.cpu_count()} cores, BLAS "
          f"{_blas()}, load average {os.getloadavg()[0]:.1f}")
    print("| workload | 1 rank, images/s | 2 ranks, images/s | speed-up |")
    print("|---|---|---|---|")
    for workload in ("lenet5", "article_cnn"):
        one, two = _run(workload, 1, args.steps), _run(workload, 2, args.steps)
        print(f"| {workload} | {one['images_per_s']:.0f} | {two['images_per_s']:.0f} | "
              f"{two['images_per_s'] / one['images_per_s']:.2f}x |", flush=True)
    r = _run("allreduce", 2, max(args.steps, 20))
    print(f"\nall-reduce of {r['MB']:.0f} MB of float32 gradients on 2 ranks (median):")
    print("| path | ms | GB/s | share of raw |")
    print("|---|---|---|---|")
    print(f"| raw mpi4py Allreduce | {r['raw_ms']:.1f} | {r['raw_GBps']:.2f} | 100% |")
    print(f"| DDP buckets (25 MiB) | {r['bucketed_ms']:.1f} | {r['bucketed_GBps']:.2f} | "
          f"{100 * r['raw_ms'] / r['bucketed_ms']:.0f}% |")


if __name__ == "__main__":
    main()
