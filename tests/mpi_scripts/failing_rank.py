"""Run under mpiexec -n 2 with argv[1] in {raise, hang, mismatch}: the job must end with an
error naming the failing rank (or the collective that timed out), not hang."""

import sys
import time

import tinygrad_cnn as tc
import tinygrad_cnn.distributed as dist

mode = sys.argv[1]
dist.init_process_group("mpi", timeout=3 if mode == "hang" else None)
rank = dist.get_rank()
if mode == "raise":
    if rank == 1:
        raise ValueError("bad batch on purpose")
    dist.all_reduce(tc.ones(3))  # rank 0 waits here for a rank that is gone
elif mode == "hang":
    if rank == 1:
        time.sleep(60)  # never joins: rank 0's all_reduce times out after 3 s
    dist.all_reduce(tc.ones(3))
elif mode == "mismatch":
    model = tc.nn.Linear(3, 4 if rank == 0 else 5)
    dist.DistributedDataParallel(model)
print("unreachable", flush=True)
