"""Worker processes for the DataLoader: each fetches whole batches and hands them back through
shared memory; the main process keeps the batches in order, and notices failures.

Protocol. The main process sends task ``(epoch_id, b, indices, key)`` to worker ``b %
num_workers`` (round robin, as PyTorch), at most ``prefetch_factor * num_workers`` tasks ahead
of the batch it is waiting for. The worker fetches the batch inside ``batch_random(key)`` (so
random transforms draw the same numbers whichever process runs them), copies its arrays into one
of its ``multiprocessing.shared_memory`` blocks and puts ``(epoch_id, b, status, (block name,
layout, offsets), log records)`` on the result queue; only the layout is pickled. The main
process copies the arrays out and sends ``("free", name)`` back, so the worker reuses its few
blocks (about prefetch_factor + 1 each): no block is created or page faulted in steady state.
The main process unlinks every block when the workers stop.

Failures. An exception in a worker is sent back with its traceback and re-raised in the main
process. A worker that dies (killed, ``os._exit``, out of memory) is noticed by polling the
processes while waiting for results, and raises a RuntimeError naming the worker, its exit code
and signal: never a hang. ``timeout`` (seconds, 0 = none) bounds the wait for one batch.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import random
import signal
import traceback
from dataclasses import dataclass
from multiprocessing import resource_tracker, shared_memory

import numpy as np

from tinygrad_cnn import backend
from tinygrad_cnn.data.dataset import batch_random, warn_once

_POLL_S = 0.1  # how often a waiting main process checks that its workers are alive
_ALIGN = 64


@dataclass(frozen=True)
class WorkerInfo:
    """What ``get_worker_info()`` returns inside a worker (as PyTorch's)."""

    id: int
    num_workers: int
    seed: int
    dataset: object


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """In a DataLoader worker: its WorkerInfo (id, num_workers, seed, dataset); else None.

    Use it in ``worker_init_fn`` or in a dataset to split work or seed per worker.
    """
    return _worker_info


def fetch(dataset, indices, collate_fn, raw: bool = False):
    """One batch of ``dataset`` at ``indices``: ``__getitems__`` when there is one (and no
    ``collate_fn``), else the collated samples. ``raw``: the batch without the dataset's
    elementwise tail (``dataset._raw_batch``; see dataset.batch_tail), which the main
    process applies."""
    if raw:
        return dataset._raw_batch(indices)
    if collate_fn is None and hasattr(dataset, "__getitems__"):
        return dataset.__getitems__(indices)
    from tinygrad_cnn.data.loader import default_collate  # noqa: PLC0415 - avoid a cycle

    return (collate_fn or default_collate)([dataset[int(i)] for i in indices])


# --------------------------------------------------------------------------- shared memory


def _layout(value, arrays):
    """A picklable description of ``value`` with its numeric arrays replaced by slots."""
    if isinstance(value, tuple):
        return ("tuple", [_layout(v, arrays) for v in value])
    if isinstance(value, list):
        return ("list", [_layout(v, arrays) for v in value])
    if isinstance(value, dict):
        return ("dict", {k: _layout(v, arrays) for k, v in value.items()})
    if isinstance(value, np.ndarray) and value.dtype.kind in "biufc":
        arrays.append(np.ascontiguousarray(value))
        return ("array", len(arrays) - 1)
    return ("object", value)


def _specs(arrays):
    """[(dtype, shape, offset)] of ``arrays`` packed into one block, and the block's size."""
    specs, offset = [], 0
    for a in arrays:
        specs.append((a.dtype.str, a.shape, offset))
        offset += (a.nbytes + _ALIGN - 1) // _ALIGN * _ALIGN
    return specs, max(offset, 1)


class WorkerBlocks:
    """A worker's shared-memory blocks, reused: the main process sends a block's name back
    once it has copied the batch out, so steady state creates no block and faults no page."""

    def __init__(self, prefix: str, worker_id: int):
        self.prefix = f"{prefix}w{worker_id}s"
        self.count = 0
        self.free: dict[str, shared_memory.SharedMemory] = {}
        self.busy: dict[str, shared_memory.SharedMemory] = {}

    def release(self, name: str) -> None:
        """Block ``name`` is free again: the main process has copied its batch out."""
        if name in self.busy:
            self.free[name] = self.busy.pop(name)

    def put(self, value):
        """Copy the arrays of ``value`` into a block; (name, layout, specs) for the reader."""
        arrays = []
        layout = _layout(value, arrays)
        specs, size = _specs(arrays)
        block = next((blk for blk in self.free.values() if blk.size >= size), None)
        if block is None:
            block = shared_memory.SharedMemory(name=f"{self.prefix}{self.count}", create=True,
                                               size=size)
            # the main process unlinks every block at shutdown: no tracker for them here
            resource_tracker.unregister(block._name, "shared_memory")  # noqa: SLF001
            self.count += 1
        else:
            del self.free[block.name]
        self.busy[block.name] = block
        for a, (_, shape, off) in zip(arrays, specs, strict=True):
            np.ndarray(shape, a.dtype, buffer=block.buf, offset=off)[...] = a
        return block.name, layout, specs


def block_name(prefix: str, worker_id: int, k: int) -> str:
    """The name of worker ``worker_id``'s ``k``-th shared-memory block (as WorkerBlocks names
    them)."""
    return f"{prefix}w{worker_id}s{k}"


def _rebuild(layout, arrays):
    kind, content = layout
    if kind == "tuple":
        return tuple(_rebuild(v, arrays) for v in content)
    if kind == "list":
        return [_rebuild(v, arrays) for v in content]
    if kind == "dict":
        return {k: _rebuild(v, arrays) for k, v in content.items()}
    if kind == "array":
        return arrays[content]
    return content


def unlink_block(name: str) -> None:
    """Remove a block a dead worker may have left behind (no error if there is none)."""
    try:
        block = shared_memory.SharedMemory(name=name)
    except (FileNotFoundError, OSError):
        return
    block.close()
    block.unlink()


# --------------------------------------------------------------------------- the worker


class _Collect(logging.Handler):
    """Keeps the log records of a worker, to be re-emitted by the main process."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.records = []

    def emit(self, record):
        self.records.append((record.name, record.levelno, record.getMessage()))

    def take(self):
        out, self.records = self.records, []
        return out


def _worker_loop(dataset, collate_fn, index_queue, result_queue, worker_id, num_workers, seed,
                 worker_init_fn, parent_pid, prefix, raw=False):
    global _worker_info
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process' to handle
    _worker_info = WorkerInfo(worker_id, num_workers, seed, dataset)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    backend.manual_seed(seed % 2**63)
    collect = _Collect()
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if name.startswith("tinygrad_cnn") and isinstance(logger, logging.Logger):
            logger.handlers = []  # handlers a fork inherited would print a second time
            logger.propagate = True
    log = logging.getLogger("tinygrad_cnn")
    log.addHandler(collect)
    log.propagate = False  # the main process logs them, once
    if worker_init_fn is not None:
        try:
            worker_init_fn(worker_id)
        except Exception:  # reported with the first task's answer
            result_queue.put((-1, -1, "error", _error(worker_id, "worker_init_fn"), []))
            return
    blocks = WorkerBlocks(prefix, worker_id)
    while True:
        try:
            task = index_queue.get(timeout=1.0)
        except queue.Empty:
            if os.getppid() != parent_pid:  # the main process is gone: stop
                return
            continue
        if task is None:
            return
        if task[0] == "free":  # the main process has copied this block out
            blocks.release(task[1])
            continue
        epoch_id, b, indices, key = task
        try:
            with batch_random(key):
                batch = fetch(dataset, indices, collate_fn, raw)
            payload = blocks.put(batch)
            result_queue.put((epoch_id, b, "ok", payload, collect.take()))
        except Exception:
            result_queue.put((epoch_id, b, "error", _error(worker_id, f"batch {b}"),
                              collect.take()))


def _error(worker_id, where):
    return worker_id, where, traceback.format_exc()


class WorkerError(RuntimeError):
    """An exception raised in a DataLoader worker; the message holds its traceback."""


# --------------------------------------------------------------------------- the main side


def _context(method):
    if method is None:
        # fork where the OS has it (Linux): workers start in milliseconds and inherit the
        # dataset and transforms without pickling (lambdas work), as PyTorch's default there.
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    if isinstance(method, str):
        try:
            return multiprocessing.get_context(method)
        except ValueError:
            raise ValueError(f"multiprocessing_context must be one of "
                             f"{multiprocessing.get_all_start_methods()}, got {method!r}") from None
    return method


class WorkerPool:
    """``num_workers`` processes serving one DataLoader (kept across epochs when persistent).

    It keeps no reference to its loader: a persistent loader the program drops is freed (and
    its workers stopped, ``DataLoader.__del__``) at once, not by a later garbage collection in
    whichever thread runs it."""

    _count = 0

    def __init__(self, loader):
        self.prefetch_factor = loader.prefetch_factor
        ctx = _context(loader.multiprocessing_context)
        resource_tracker.ensure_running()  # one tracker, shared by forked workers
        self.parent_pid = os.getpid()
        WorkerPool._count += 1  # block names are unique per pool: "tgcnn<pid>p<pool>..."
        self.prefix = f"tgcnn{self.parent_pid}p{WorkerPool._count}"
        self.result_queue = ctx.Queue()
        self.index_queues, self.processes = [], []
        base = loader._worker_base_seed()
        # the dataset's elementwise tail (uint8 -> float), applied here once per batch by the
        # loader: the workers pass 4x smaller uint8 batches (fixed for the pool's lifetime)
        self.tail = loader._batch_tail()
        for w in range(loader.num_workers):
            q = ctx.Queue()
            p = ctx.Process(target=_worker_loop, daemon=True, name=f"DataLoader worker {w}",
                            args=(loader.dataset, loader.collate_fn, q, self.result_queue, w,
                                  loader.num_workers, base + w, loader.worker_init_fn,
                                  self.parent_pid, self.prefix, self.tail is not None))
            p.start()
            self.index_queues.append(q)
            self.processes.append(p)
        self.epoch_id = 0
        self.pending: dict[tuple[int, int], int] = {}  # (epoch_id, b) -> worker
        self.pending_worker: dict[tuple[int, int], int] = {}
        self.blocks: dict[str, shared_memory.SharedMemory] = {}  # attached, by name
        self.closed = False

    def put(self, epoch_id, b, indices, key):
        """Ask worker ``b % num_workers`` for batch ``b`` of epoch ``epoch_id``: the samples at
        ``indices``, drawn under ``batch_random(key)``."""
        w = b % len(self.processes)
        self.pending[(epoch_id, b)] = w
        self.index_queues[w].put((epoch_id, b, indices, key))

    def get(self, timeout: float):
        """The next (epoch_id, b, value) from any worker; raises on a failed or dead worker."""
        waited = 0.0
        while True:
            try:
                epoch_id, b, status, payload, records = self.result_queue.get(timeout=_POLL_S)
            except queue.Empty:
                self._check_alive()
                waited += _POLL_S
                if timeout and waited >= timeout:
                    self.shutdown()
                    raise RuntimeError(f"DataLoader timed out: no batch from the workers in "
                                       f"{timeout:g} s (timeout={timeout:g})") from None
                continue
            for name, level, message in records:  # each distinct message once per process
                warn_once(name, message, level)
            self.pending_worker[(epoch_id, b)] = self.pending.pop((epoch_id, b), None)
            if status == "error":
                worker_id, where, tb = payload
                self.shutdown()
                raise WorkerError(f"DataLoader worker {worker_id} raised an exception in "
                                  f"{where}; its traceback:\n{tb}")
            return epoch_id, b, self._read(self.pending_worker.pop((epoch_id, b)), *payload)

    def _read(self, worker_id, name, layout, specs):
        """Copy a batch out of a worker's block and hand the block back to the worker."""
        block = self.blocks.get(name)
        if block is None:  # first use of this block: attach once, keep it mapped
            block = self.blocks[name] = shared_memory.SharedMemory(name=name)
        arrays = [np.array(np.ndarray(shape, np.dtype(dt), buffer=block.buf, offset=off))
                  for dt, shape, off in specs]
        self.index_queues[worker_id].put(("free", name))
        return _rebuild(layout, arrays)

    def _check_alive(self):
        for w, p in enumerate(self.processes):
            if p.exitcode is not None:
                code = p.exitcode
                how = (f"killed by signal {signal.Signals(-code).name}" if code < 0
                       else f"exit code {code}")
                self.shutdown()
                raise RuntimeError(
                    f"DataLoader worker {w} (pid {p.pid}) exited unexpectedly ({how}); if it ran "
                    "out of memory, lower batch_size, num_workers or prefetch_factor")

    def shutdown(self):
        """Stop the workers (terminating any that do not exit within a second) and unlink
        their shared-memory blocks; a second call does nothing."""
        if self.closed:
            return
        self.closed = True
        for q in self.index_queues:
            try:
                q.put(None)
            except (OSError, ValueError):
                pass
        for p in self.processes:
            p.join(timeout=1.0)
        for p in self.processes:
            if p.is_alive():
                p.terminate()
                p.join(timeout=1.0)
        for block in self.blocks.values():
            block.close()
            block.unlink()  # also unregisters it from the resource tracker
        seen = {}
        for name in self.blocks:  # blocks not yet read (a stopped or dead worker's) by name
            w, k = name[len(self.prefix) + 1:].split("s")
            seen[int(w)] = max(seen.get(int(w), -1), int(k))
        ahead = (self.prefetch_factor or 2) + 2
        for w in range(len(self.processes)):
            for k in range(seen.get(w, -1) + ahead + 1):
                if block_name(self.prefix, w, k) not in self.blocks:
                    unlink_block(block_name(self.prefix, w, k))
        self.blocks.clear()
        self.pending.clear()
        for q in [*self.index_queues, self.result_queue]:
            q.cancel_join_thread()
            q.close()
