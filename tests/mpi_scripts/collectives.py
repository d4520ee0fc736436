"""Run under mpiexec -n 2: the Tensor collectives and the sampler against hand-computed values."""

import sys

import numpy as np

import tinygrad_cnn as tc
import tinygrad_cnn.distributed as dist

dist.init_process_group("mpi")
rank, world = dist.get_rank(), dist.get_world_size()
checks = []
base = np.arange(6.0).reshape(2, 3)
for op, expect in ((dist.ReduceOp.SUM, sum(base + r for r in range(world))),
                   (dist.ReduceOp.AVG, sum(base + r for r in range(world)) / world),
                   (dist.ReduceOp.MAX, base + world - 1), (dist.ReduceOp.MIN, base)):
    t = tc.tensor(base + rank)
    dist.all_reduce(t, op)
    checks.append((f"all_reduce {op}", np.array_equal(t.numpy(), expect)))
t = tc.tensor(np.full(4, float(rank), dtype=np.float32))
dist.broadcast(t, src=1)
checks.append(("broadcast from 1", np.array_equal(t.numpy(), np.full(4, 1.0))))
parts = [tc.zeros(2, 2, dtype=tc.int64) for _ in range(world)]
dist.all_gather(parts, tc.tensor(np.full((2, 2), rank, dtype=np.int64)))
checks.append(("all_gather", all(np.array_equal(p.numpy(), np.full((2, 2), r))
                                 for r, p in enumerate(parts))))
# a transposed (non-contiguous) tensor
t = tc.tensor(base.T.copy()).T
dist.all_reduce(t)
checks.append(("all_reduce of a view", np.array_equal(t.numpy(), base * world)))
# the differentiable all-reduce: d/dx_r sum_r' (w_r' * sum(allreduce(x))) = sum_r' w_r'
x = tc.tensor(np.ones(3), requires_grad=True)
y = (dist.differentiable_all_reduce(x) * float(rank + 1)).sum()
y.backward()
checks.append(("differentiable_all_reduce grad",
               np.array_equal(x.grad.numpy(), np.full(3, sum(range(1, world + 1)), float))))
dist.barrier()
bad = [name for name, ok in checks if not ok]
print(f"rank {rank}: {len(checks) - len(bad)} of {len(checks)} ok {bad}", flush=True)
dist.destroy_process_group()
sys.exit(1 if bad else 0)
