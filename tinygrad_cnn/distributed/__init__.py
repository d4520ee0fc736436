"""Data-parallel training on several processes: MPI (mpi4py) on CPUs, NCCL (CuPy) on GPUs.

    mpiexec -n 2 python train.py        # in train.py:

    import tinygrad_cnn as tc
    import tinygrad_cnn.distributed as dist

    dist.init_process_group("mpi")
    model = dist.DistributedDataParallel(make_model())
    sampler = dist.DistributedSampler(dataset, shuffle=True, seed=0)

Importing this package needs no MPI: mpi4py is imported by ``init_process_group``. See
docs/distributed.md.
"""

from tinygrad_cnn.distributed.collectives import (
    all_gather,
    all_reduce,
    broadcast,
    differentiable_all_reduce,
)
from tinygrad_cnn.distributed.ddp import DistributedDataParallel
from tinygrad_cnn.distributed.process_group import (
    DistributedError,
    ReduceOp,
    abort_all,
    barrier,
    cuda_aware_mpi,
    destroy_process_group,
    get_backend,
    get_local_rank,
    get_rank,
    get_world_size,
    init_process_group,
    is_available,
    is_initialized,
    launcher_world_size,
)
from tinygrad_cnn.distributed.sampler import DistributedSampler
from tinygrad_cnn.distributed.sync_batchnorm import SyncBatchNorm

__all__ = [
    "DistributedDataParallel", "DistributedError", "DistributedSampler", "ReduceOp",
    "SyncBatchNorm", "abort_all", "all_gather", "all_reduce", "barrier", "broadcast",
    "cuda_aware_mpi", "destroy_process_group", "differentiable_all_reduce", "get_backend",
    "get_local_rank", "get_rank", "get_world_size", "init_process_group", "is_available",
    "is_initialized", "launcher_world_size",
]
