"""The process group: which rank this process is, how many there are, and the collectives.

Backends: ``"mpi"`` (mpi4py, host arrays; GPU arrays staged through the host unless the MPI is
CUDA-aware) and ``"nccl"`` (CuPy's ``cupy.cuda.nccl``, GPU arrays reduced on the GPU; the NCCL
communicator is created from a unique id that rank 0 broadcasts over MPI). Rank and world size
come from the launcher (``mpiexec``, ``srun``): both backends start MPI.

Collectives on arrays live here; ``collectives.py`` gives the Tensor API on top of them.

Failure handling: MPI has no timeout on a collective, so every collective here first meets the
other ranks in a non-blocking barrier waited on with a deadline (``timeout`` of
init_process_group), and only then runs the blocking collective, whose partners are known to be
there (MPICH's blocking all-reduce is 10-15% faster than its non-blocking one; the barrier costs
microseconds). On a timeout it raises ``DistributedError`` naming the collective. An
exception that nobody catches on any rank prints "rank R of N failed: ..." and aborts every
rank (``MPI_Abort``), so the job ends with an error naming the failing rank instead of hanging
in the other ranks' next collective.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import timedelta

import numpy as np

from tinygrad_cnn import backend

DEFAULT_TIMEOUT = timedelta(minutes=30)  # PyTorch's default for its process groups
BACKENDS = ("mpi", "nccl")
# environment variables launchers set: (rank, size, local rank)
_LAUNCHER_VARS = (
    ("PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID"),                     # MPICH (hydra), Intel MPI
    ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"),  # Open MPI
    ("PMIX_RANK", "PMIX_SIZE", "PMIX_LOCAL_RANK"),                    # PMIx launchers
    ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"),               # srun
)


class DistributedError(RuntimeError):
    """A collective failed or timed out, or the process group is used wrongly."""


class ReduceOp:
    """Reduction operations of ``all_reduce`` (PyTorch's ``dist.ReduceOp`` names)."""

    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"


_REDUCE_OPS = (ReduceOp.SUM, ReduceOp.AVG, ReduceOp.PRODUCT, ReduceOp.MIN, ReduceOp.MAX)


class _Group:
    """The one process group of this process (PyTorch's default group)."""

    def __init__(self, backend_name, comm, timeout, local_rank, nccl_comm=None):
        self.backend = backend_name
        self.comm = comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        self.timeout = timeout
        self.local_rank = local_rank
        self.nccl_comm = nccl_comm


_group: _Group | None = None
_previous_excepthook = None


def launcher_world_size() -> int:
    """The number of ranks a launcher (mpiexec, srun) started, read from its environment;
    1 when this process was not started by one. Needs no MPI import."""
    for rank_var, size_var, _ in _LAUNCHER_VARS:
        if rank_var in os.environ and size_var in os.environ:
            try:
                return int(os.environ[size_var])
            except ValueError:
                continue
    return 1


def _mpi():
    try:
        from mpi4py import MPI  # noqa: PLC0415 - optional dependency, imported on use
    except ImportError as e:
        raise ImportError(
            f"tinygrad_cnn.distributed needs mpi4py and an MPI library ({e}); install them with "
            "pip install 'tinygrad_cnn[distributed]' (mpi4py and the mpich wheel), or pip install "
            "mpi4py against your cluster's own MPI (see docs/distributed.md)"
        ) from None
    return MPI


def _local_rank(comm) -> int:
    for _, _, local_var in _LAUNCHER_VARS:
        if local_var in os.environ:
            try:
                return int(os.environ[local_var])
            except ValueError:
                pass
    MPI = _mpi()
    node = comm.Split_type(MPI.COMM_TYPE_SHARED)  # the ranks sharing this machine
    try:
        return node.Get_rank()
    finally:
        node.Free()


def _as_timeout(timeout) -> float:
    if timeout is None:
        timeout = DEFAULT_TIMEOUT
    seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
        raise ValueError(f"init_process_group: timeout must be a positive number of seconds or "
                         f"a timedelta, got {timeout!r}")
    return float(seconds)


def init_process_group(backend: str = "mpi", timeout=None, world_size: int = -1,
                       rank: int = -1) -> None:
    """Join the process group that the launcher started (``mpiexec -n N python script.py``).

    Args:
        backend: "mpi" (CPU or GPU tensors, through mpi4py) or "nccl" (GPU tensors, through
            CuPy's NCCL; each rank uses GPU ``local_rank``).
        timeout: seconds (or a timedelta) a collective may wait for the other ranks before it
            raises DistributedError (default 30 minutes, as PyTorch's).
        world_size, rank: optional checks against what the launcher says (-1: don't check).
    """
    global _group, _previous_excepthook
    if _group is not None:
        raise DistributedError("init_process_group: the process group is already initialized; "
                               "call destroy_process_group() first")
    if backend not in BACKENDS:
        raise ValueError(f"init_process_group: unknown backend {backend!r}; choose 'mpi' or "
                         "'nccl'")
    seconds = _as_timeout(timeout)
    MPI = _mpi()
    comm = MPI.COMM_WORLD.Dup()
    for name, wanted, actual in (("world_size", world_size, comm.Get_size()),
                                 ("rank", rank, comm.Get_rank())):
        if wanted != -1 and wanted != actual:
            comm.Free()
            raise DistributedError(f"init_process_group: {name}={wanted} but the launcher "
                                   f"started this process with {name} {actual}")
    local_rank = _local_rank(comm)
    nccl_comm = _nccl_communicator(comm, local_rank) if backend == "nccl" else None
    _group = _Group(backend, comm, seconds, local_rank, nccl_comm)
    _previous_excepthook = sys.excepthook
    sys.excepthook = _abort_on_uncaught


def destroy_process_group() -> None:
    """Leave the process group (after a barrier-free teardown of its communicators)."""
    global _group, _previous_excepthook
    group = _require("destroy_process_group")
    group.comm.Free()
    _group = None
    if _previous_excepthook is not None:
        sys.excepthook = _previous_excepthook
        _previous_excepthook = None


def is_available() -> bool:
    """True when mpi4py (and so an MPI library) can be imported."""
    try:
        _mpi()
    except ImportError:
        return False
    return True


def is_initialized() -> bool:
    """True between init_process_group() and destroy_process_group()."""
    return _group is not None


def get_rank() -> int:
    """This process's rank, 0 .. world size - 1 (0 when no process group is initialized)."""
    return 0 if _group is None else _group.rank


def get_world_size() -> int:
    """The number of ranks (1 when no process group is initialized)."""
    return 1 if _group is None else _group.size


def get_local_rank() -> int:
    """This process's rank among the ranks on its machine (the GPU it uses with NCCL)."""
    return 0 if _group is None else _group.local_rank


def get_backend() -> str | None:
    """"mpi", "nccl", or None when no process group is initialized."""
    return None if _group is None else _group.backend


def cuda_aware_mpi() -> bool:
    """Whether the MPI library can read GPU memory directly (so GPU tensors need no host copy).

    Asks the library where mpi4py exposes the query; ``TINYGRAD_CNN_CUDA_AWARE_MPI=1`` declares
    it for an MPI that is CUDA-aware but cannot say so."""
    if os.environ.get("TINYGRAD_CNN_CUDA_AWARE_MPI") == "1":
        return True
    try:
        MPI = _mpi()
    except ImportError:
        return False
    query = getattr(MPI, "Query_cuda_support", None)
    try:
        return bool(query()) if query is not None else False
    except Exception:  # an MPI without the extension
        return False


def _require(what: str) -> _Group:
    if _group is None:
        raise DistributedError(f"{what}: the process group is not initialized; call "
                               "tc.distributed.init_process_group() first (and start the script "
                               "with mpiexec -n N)")
    return _group


def _abort_on_uncaught(exc_type, exc, tb):
    """sys.excepthook while a group is initialized: report, then end every rank."""
    (_previous_excepthook or sys.__excepthook__)(exc_type, exc, tb)
    abort_all(exc)


def abort_all(exc: BaseException) -> None:
    """End every rank of the job after ``exc`` on this one (MPI_Abort), saying which rank failed
    and why, so that no other rank waits forever in its next collective. Does nothing outside a
    process group of more than one rank."""
    group = _group
    if group is None or group.size == 1:
        return
    print(f"tinygrad_cnn.distributed: rank {group.rank} of {group.size} failed with "
          f"{type(exc).__name__}: {exc}; aborting all ranks", file=sys.__stderr__, flush=True)
    sys.stdout.flush()
    group.comm.Abort(1)


# --------------------------------------------------------------------------- waiting


def _wait(request, what: str, group: _Group) -> None:
    """Complete a non-blocking MPI request, or raise DistributedError after the timeout.

    The loop is what drives MPI's progress (MPICH progresses inside Test), so it spins: a
    blocking MPI call spins in the same way."""
    if request.Test():
        return
    deadline = time.monotonic() + group.timeout
    spins = 0
    while not request.Test():
        spins += 1
        if spins % 1024 == 0:
            if time.monotonic() > deadline:
                raise DistributedError(
                    f"{what} timed out after {group.timeout:g} s on rank {group.rank} of "
                    f"{group.size}: another rank did not join it (it may have failed, hung, or "
                    "be running a different collective)"
                )
            if spins % (1024 * 64) == 0:
                time.sleep(0.0005)  # a long wait (another rank still computing): yield the core


def _arrive(group: _Group, what: str) -> None:
    """Wait (with the timeout) until every rank has reached collective ``what``."""
    _wait(group.comm.Ibarrier(), what, group)


# --------------------------------------------------------------------------- array collectives


def _mpi_op(op):
    MPI = _mpi()
    return {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.PRODUCT: MPI.PROD,
            ReduceOp.MIN: MPI.MIN, ReduceOp.MAX: MPI.MAX}[op]


def _check_op(op, what):
    if op not in _REDUCE_OPS:
        raise ValueError(f"{what}: unknown reduction {op!r}; use tc.distributed.ReduceOp.SUM, "
                         "AVG, PRODUCT, MIN or MAX")


def _host_staged(group: _Group, array) -> bool:
    """GPU arrays go through the host with the MPI backend unless the MPI is CUDA-aware."""
    return backend.array_module(array) is not np and not cuda_aware_mpi()


def all_reduce_array(array, op: str = ReduceOp.SUM, what: str = "all_reduce") -> None:
    """Reduce a contiguous array across ranks in place (every rank gets the result)."""
    group = _require(what)
    _check_op(op, what)
    if group.size == 1:
        return
    if group.nccl_comm is not None and backend.array_module(array) is not np:
        _nccl_all_reduce(group, array, op)
    elif _host_staged(group, array):
        host = backend.to_numpy(array)
        host = np.ascontiguousarray(host)
        _mpi_all_reduce(group, host, op, what)
        array[...] = backend.array_module(array).asarray(host)
    else:
        _mpi_all_reduce(group, array, op, what)
    if op == ReduceOp.AVG:
        array /= array.dtype.type(group.size)


def _mpi_all_reduce(group, array, op, what):
    if not array.flags.c_contiguous:
        raise DistributedError(f"{what}: needs a contiguous array")
    MPI = _mpi()
    buffer = _mpi_buffer(array)
    _arrive(group, what)
    group.comm.Allreduce(MPI.IN_PLACE, buffer, op=_mpi_op(op))


def _mpi_buffer(array):
    """[array, MPI datatype]: bool and float16 have no default MPI type in mpi4py."""
    if array.dtype == np.bool_:
        raise DistributedError("collectives on bool tensors are not supported; cast to uint8")
    return array


def broadcast_array(array, src: int = 0, what: str = "broadcast") -> None:
    """Overwrite ``array`` on every rank with rank ``src``'s (in place)."""
    group = _require(what)
    if not 0 <= src < group.size:
        raise ValueError(f"{what}: src={src} is not a rank of this group of {group.size}")
    if group.size == 1:
        return
    if group.nccl_comm is not None and backend.array_module(array) is not np:
        _nccl_broadcast(group, array, src)
    elif _host_staged(group, array):
        host = np.ascontiguousarray(backend.to_numpy(array))
        _arrive(group, what)
        group.comm.Bcast(_mpi_buffer(host), root=src)
        array[...] = backend.array_module(array).asarray(host)
    else:
        _arrive(group, what)
        group.comm.Bcast(_mpi_buffer(array), root=src)


def all_gather_array(array, what: str = "all_gather"):
    """(world_size, *array.shape): every rank's ``array``, stacked in rank order."""
    group = _require(what)
    xp = backend.array_module(array)
    out = xp.empty((group.size,) + array.shape, dtype=array.dtype)
    if group.size == 1:
        out[0] = array
        return out
    if group.nccl_comm is not None and xp is not np:
        _nccl_all_gather(group, xp.ascontiguousarray(array), out)
        return out
    send = np.ascontiguousarray(backend.to_numpy(array))
    host = np.empty((group.size,) + array.shape, dtype=array.dtype)
    _arrive(group, what)
    group.comm.Allgather(_mpi_buffer(send), _mpi_buffer(host))
    out[...] = xp.asarray(host)
    return out


def all_gather_object(obj, what: str = "all_gather_object") -> list:
    """Every rank's picklable ``obj``, in rank order (small metadata only: it is pickled)."""
    group = _require(what)
    if group.size == 1:
        return [obj]
    import pickle  # noqa: PLC0415 - only for objects that this process made itself

    payload = np.frombuffer(pickle.dumps(obj), dtype=np.uint8)
    sizes = all_gather_array(np.array([payload.size], dtype=np.int64), what)[:, 0]
    padded = np.zeros(int(sizes.max()), dtype=np.uint8)
    padded[: payload.size] = payload
    gathered = all_gather_array(padded, what)
    return [pickle.loads(gathered[r, : sizes[r]].tobytes()) for r in range(group.size)]


def barrier(what: str = "barrier") -> None:
    """Wait until every rank reaches this call (or raise after the timeout)."""
    group = _require(what)
    if group.size > 1:
        _wait(group.comm.Ibarrier(), what, group)


# --------------------------------------------------------------------------- NCCL (GPU)


def _nccl_module():
    try:
        from cupy.cuda import nccl  # noqa: PLC0415 - optional, GPU machines only
    except ImportError as e:
        raise DistributedError(f"backend='nccl' needs CuPy built with NCCL ({e}); use "
                               "backend='mpi' or install cupy-cuda12x/13x") from None
    return nccl


def _nccl_communicator(comm, local_rank):
    cupy = backend.require_gpu()
    nccl = _nccl_module()
    cupy.cuda.Device(local_rank % cupy.cuda.runtime.getDeviceCount()).use()
    uid = nccl.get_unique_id() if comm.Get_rank() == 0 else None
    uid = comm.bcast(uid, root=0)  # a tuple of ints: the id every rank joins with
    return nccl.NcclCommunicator(comm.Get_size(), uid, comm.Get_rank())


def _nccl_dtype(nccl, dtype):
    table = {"float16": nccl.NCCL_FLOAT16, "float32": nccl.NCCL_FLOAT32,
             "float64": nccl.NCCL_FLOAT64, "int32": nccl.NCCL_INT32, "int64": nccl.NCCL_INT64,
             "uint8": nccl.NCCL_UINT8, "int8": nccl.NCCL_INT8}
    if dtype.name not in table:
        raise DistributedError(f"NCCL collectives do not support dtype {dtype}")
    return table[dtype.name]


def _nccl_all_reduce(group, array, op):
    nccl = _nccl_module()
    cupy = backend.require_gpu()
    ops = {ReduceOp.SUM: nccl.NCCL_SUM, ReduceOp.AVG: nccl.NCCL_SUM,
           ReduceOp.PRODUCT: nccl.NCCL_PROD, ReduceOp.MIN: nccl.NCCL_MIN,
           ReduceOp.MAX: nccl.NCCL_MAX}
    stream = cupy.cuda.get_current_stream()
    group.nccl_comm.allReduce(array.data.ptr, array.data.ptr, array.size,
                              _nccl_dtype(nccl, array.dtype), ops[op], stream.ptr)


def _nccl_broadcast(group, array, src):
    nccl = _nccl_module()
    cupy = backend.require_gpu()
    stream = cupy.cuda.get_current_stream()
    group.nccl_comm.bcast(array.data.ptr, array.size, _nccl_dtype(nccl, array.dtype), src,
                          stream.ptr)


def _nccl_all_gather(group, array, out):
    nccl = _nccl_module()
    cupy = backend.require_gpu()
    stream = cupy.cuda.get_current_stream()
    group.nccl_comm.allGather(array.data.ptr, out.data.ptr, array.size,
                              _nccl_dtype(nccl, array.dtype), stream.ptr)
