"""CPU threads: the conv ops split their batch into parts run on a thread pool.

Left to itself, a conv step on NumPy threads only its matrix products (inside BLAS); its copies
(im2col, col2im) run on one core, and OpenBLAS's idle worker threads keep spinning for a while
after each product, so they cannot share the copies either. Here each of ``get_num_threads()``
workers takes whole batch items (their copies and their products, BLAS held to one thread
meanwhile), and every core works through the whole step.

``set_num_threads`` / ``get_num_threads`` mirror PyTorch's. The pool starts on first use, is
dropped in a forked child, and is used only for NumPy arrays (CuPy runs its kernels itself).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import threadpoolctl

# Below this many bytes of im2col columns per call, handing parts to threads costs more than
# it gains. Measured in whole training steps on 2 idle cores (docs/benchmarks.md), where a split
# also costs the ops after it (their input was written by the other core): LeNet-5's first conv
# (5 MiB of columns) split made its step 8.9 ms against 5.5-6.5 ms unsplit; the article CNN's
# conv (35 MiB) split made its step 31-34 ms against 41 ms unsplit. (On the conv op alone, split
# paid from 4.5 MiB.)
MIN_PARALLEL_BYTES = 16 * 2**20

# Products of fewer multiply-adds (M*N*K) than this run with BLAS at one thread, as do conv calls
# below MIN_PARALLEL_BYTES: waking BLAS's threads costs more than they save there, and on a
# machine busier than its cores every multi-threaded product waits for a descheduled thread
# (2 threads, load average 5: digits_cnn's step 9-24 ms with BLAS's threads, 2.4 ms without;
# docs/benchmarks.md). 2**24 is about 0.3 ms of one core's work.
MIN_THREADED_MACS = 2**24

_lock = threading.Lock()
_num_threads: int | None = None  # None: BLAS's thread count, read on first use
_pool: ThreadPoolExecutor | None = None
_blas = None  # threadpoolctl's controller of the BLAS libraries, found on first use
_blas_users = 0  # callers now holding BLAS to one thread
_blas_restore = None  # [(BLAS library, its thread count)] of those held at one thread
_local = threading.local()  # .in_worker: this thread is draining a batch_map's ranges


def _blas_controller():
    """The BLAS libraries loaded when first asked (NumPy's among them: the products run there)."""
    global _blas
    if _blas is None:
        _blas = threadpoolctl.ThreadpoolController().select(user_api="blas")
    return _blas


def get_num_threads() -> int:
    """Threads used by the conv ops on the CPU (as ``torch.get_num_threads``).

    Defaults to BLAS's thread count (which follows OMP_NUM_THREADS / OPENBLAS_NUM_THREADS, else
    the number of cores), or 1 when no BLAS library whose threads can be set is found.
    """
    global _num_threads
    with _lock:
        if _num_threads is None:
            counts = [lib.get_num_threads() for lib in _blas_controller().lib_controllers]
            _num_threads = max(counts, default=1)
        return _num_threads


def set_num_threads(num_threads: int) -> None:
    """Use ``num_threads`` threads on the CPU: for the conv ops' batch parts and for BLAS (as
    ``torch.set_num_threads``). Process-wide; call it between steps, not during one."""
    global _num_threads, _pool
    if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1:
        raise ValueError(f"set_num_threads: expected a positive int, got {num_threads!r}")
    # every BLAS library loaded by now; the limiter is never restored, so the count stays
    threadpoolctl.threadpool_limits(limits=num_threads, user_api="blas")
    with _lock:
        _num_threads = num_threads
        old, _pool = _pool, None
    if old is not None:
        old.shutdown(wait=False)


def part_count(xp, batch: int, work_bytes: int) -> int:
    """How many parts to split a batch of ``batch`` items into: 1 unless the arrays are NumPy's
    and the call's im2col columns (``work_bytes``) are large enough to repay the threads."""
    if xp.__name__ != "numpy" or batch < 2 or work_bytes < MIN_PARALLEL_BYTES:
        return 1
    return min(get_num_threads(), batch)


# Elementwise and pooling ops on at least this many bytes split their batch across the threads
# (NumPy releases the GIL in its loops). Measured on the article CNN's step (2 idle cores): its
# ReLU and max-pool on 14 MiB maps were a third of the step on one core.
MIN_PARALLEL_ROWS_BYTES = 8 * 2**20


def row_ranges(xp, rows: int, nbytes: int) -> list[tuple[int, int]]:
    """The parts of the first dim (``rows`` long) an elementwise or pooling op on ``nbytes`` of
    data runs in, one per thread: several when the arrays are NumPy's and large enough, else
    [(0, rows)]. Run them with :func:`batch_map`, each part writing only its own rows."""
    parts = min(get_num_threads(), rows) if xp.__name__ == "numpy" else 1
    if parts < 2 or nbytes < MIN_PARALLEL_ROWS_BYTES:
        return [(0, rows)]
    step = -(-rows // parts)
    return [(start, min(start + step, rows)) for start in range(0, rows, step)]


class small_products:
    """``with small_products(small):`` BLAS at one thread inside the block when ``small`` (and
    more than one thread is in use); nothing otherwise."""

    def __init__(self, small: bool):
        self.hold = bool(small) and get_num_threads() > 1 and not getattr(_local, "in_worker",
                                                                           False)

    def __enter__(self):
        if self.hold:
            _hold_blas_to_one_thread()
        return self

    def __exit__(self, *exc):
        if self.hold:
            _release_blas()
        return False


def batch_map(fn, ranges, work_bytes=None):
    """[fn(start, stop) for (start, stop) in ranges], shared between the calling thread and the
    pool's workers when there is more than one range, BLAS held to one thread meanwhile.

    A single range whose im2col columns (``work_bytes``) are below MIN_PARALLEL_BYTES runs with
    BLAS at one thread too (see MIN_THREADED_MACS).

    ``fn`` must write only its own part of any shared output. The first exception is raised once
    every thread has stopped. Called from inside another batch_map (an op inside an op), it runs
    in the calling thread alone.
    """
    threads = min(get_num_threads(), len(ranges))
    if threads < 2 or getattr(_local, "in_worker", False):
        with small_products(work_bytes is not None and work_bytes < MIN_PARALLEL_BYTES):
            return [fn(start, stop) for start, stop in ranges]
    results = [None] * len(ranges)
    taken = [0]  # next range to hand out
    take_lock = threading.Lock()
    failed = threading.Event()

    def drain():
        _local.in_worker = True
        try:
            while not failed.is_set():
                with take_lock:
                    i = taken[0]
                    taken[0] += 1
                if i >= len(ranges):
                    return
                results[i] = fn(*ranges[i])
        except BaseException:
            failed.set()  # the others stop after their current range
            raise
        finally:
            _local.in_worker = False

    _hold_blas_to_one_thread()
    try:
        helpers = [_get_pool().submit(drain) for _ in range(threads - 1)]
        try:
            drain()
        finally:
            errors = [helper.exception() for helper in helpers]  # waits for each
        for error in errors:
            if error is not None:
                raise error
    finally:
        _release_blas()
    return results


def _get_pool() -> ThreadPoolExecutor:
    """The workers that help the calling thread: get_num_threads() - 1 of them."""
    global _pool
    threads = get_num_threads()
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=max(threads - 1, 1),
                                       thread_name_prefix="tinygrad_cnn")
        return _pool


def _hold_blas_to_one_thread():
    """BLAS at one thread until the matching _release_blas; nested and concurrent callers share
    one limit, and the last one out restores BLAS's thread count. The libraries' own setters,
    not threadpoolctl's ``limit`` (which reads every library's whole description first): a
    hold and release cost 1.3 us instead of 4.7 us, a few held products per step."""
    global _blas_users, _blas_restore
    with _lock:
        if _blas_users == 0:
            libraries = _blas_controller().lib_controllers
            _blas_restore = [(lib, count) for lib in libraries
                             if (count := lib.get_num_threads()) not in (None, 1)]
            for lib, _ in _blas_restore:
                lib.set_num_threads(1)
        _blas_users += 1


def _release_blas():
    global _blas_users, _blas_restore
    with _lock:
        _blas_users -= 1
        if _blas_users == 0:
            for lib, count in _blas_restore:
                lib.set_num_threads(count)
            _blas_restore = None


def _after_fork_in_child():
    """A forked child has none of the parent's threads: start afresh."""
    global _lock, _pool, _blas_users, _blas_restore, _local
    _lock = threading.Lock()
    _pool, _blas_users, _blas_restore, _local = None, 0, None, threading.local()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
