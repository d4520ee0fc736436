"""Run under mpiexec -n 2: k steps of DDP with per-rank batch B against one process with 2B.

Prints one line per check: "OK name max_abs_diff" or "FAIL name ..."; exit status 1 on a failure.
"""

import sys

import numpy as np

import tinygrad_cnn as tc
import tinygrad_cnn.distributed as dist
from tinygrad_cnn import nn

dist.init_process_group("mpi")
rank, world = dist.get_rank(), dist.get_world_size()
B, STEPS = 4, 3
failed = False


def net(batchnorm):
    layers = [nn.Conv2d(2, 3, 3, padding=1)]
    if batchnorm:
        layers.append(nn.BatchNorm2d(3))
    layers += [nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(3 * 3 * 3, 4)]
    return nn.Sequential(*layers)


def run(dtype, batchnorm, optimizer_name):
    global failed
    rng = np.random.default_rng(7)
    xs = rng.standard_normal((STEPS, world * B, 2, 6, 6)).astype(dtype)
    ys = rng.integers(0, 4, (STEPS, world * B))
    tc.manual_seed(100 + rank)  # different initial weights per rank: DDP must broadcast rank 0's
    model = net(batchnorm).to(dtype=dtype)
    if batchnorm:
        model = dist.SyncBatchNorm.convert_sync_batchnorm(model)
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=0.0005)  # several buckets
    opt_cls = {"sgd": lambda p: tc.optim.SGD(p, lr=0.1, momentum=0.9),
               "adam": lambda p: tc.optim.Adam(p, lr=0.01)}[optimizer_name]
    opt = opt_cls(model.parameters())
    # the reference: one process, the whole batch of 2B, rank 0's initial weights
    tc.manual_seed(100)
    ref = net(batchnorm).to(dtype=dtype)
    ref_opt = opt_cls(ref.parameters())
    for step in range(STEPS):
        x, y = xs[step], ys[step]
        mine = slice(rank * B, (rank + 1) * B)
        loss = tc.nn.functional.cross_entropy(ddp(tc.tensor(x[mine])), tc.tensor(y[mine]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        ref_loss = tc.nn.functional.cross_entropy(ref(tc.tensor(x)), tc.tensor(y))
        ref_opt.zero_grad()
        ref_loss.backward()
        ref_opt.step()
    tol = 1e-12 if dtype == np.float64 else 1e-6
    worst = 0.0
    ref_state = ref.state_dict()
    for name, value in model.state_dict().items():
        a, b = value.numpy().astype(np.float64), ref_state[name].numpy().astype(np.float64)
        worst = max(worst, float(np.max(np.abs(a - b) / (1 + np.abs(b)), initial=0.0)))
    label = f"{np.dtype(dtype).name} batchnorm={batchnorm} {optimizer_name}"
    if worst <= tol:
        print(f"OK {label} {worst:.3g}", flush=True)
    else:
        failed = True
        print(f"FAIL {label} {worst:.3g} > {tol}", flush=True)


for dtype in (np.float64, np.float32):
    for batchnorm in (False, True):
        run(dtype, batchnorm, "sgd")
run(np.float64, False, "adam")
dist.destroy_process_group()
sys.exit(1 if failed else 0)
