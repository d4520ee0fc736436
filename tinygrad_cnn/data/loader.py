"""DataLoader: batches of a Dataset as Tensors on the chosen device.

Batches are assembled on the host with NumPy (indexing, stacking, transforms), in this process
or in worker processes (workers.py), and moved to the device once per batch, so a GPU run copies
each batch exactly once (on the GPU, the next batch's copy overlaps the current step).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from tinygrad_cnn import backend
from tinygrad_cnn.data.dataset import _rng, batch_random, batch_tail
from tinygrad_cnn.data.workers import WorkerPool, fetch
from tinygrad_cnn.tensor import Tensor


def default_collate(samples):
    """Stack a list of samples ``[(x0, y0), (x1, y1), ...]`` into ``(X, Y)`` arrays.

    Arrays are stacked along a new first axis; Python numbers become a 1-D array.
    """
    if not samples:
        raise ValueError("default_collate: got an empty list of samples")
    first = samples[0]
    if isinstance(first, (tuple, list)):
        sizes = {len(s) for s in samples}
        if len(sizes) != 1:
            raise ValueError(f"default_collate: samples have different lengths {sorted(sizes)}")
        return tuple(default_collate([s[i] for s in samples]) for i in range(len(first)))
    if isinstance(first, Tensor):
        samples = [s.numpy() for s in samples]
    if isinstance(first, numbers.Number):
        return np.asarray(samples)
    try:
        return np.stack([np.asarray(s) for s in samples])
    except ValueError as e:
        shapes = sorted({np.shape(s) for s in samples})
        raise ValueError(f"default_collate: cannot stack samples of shapes {shapes}: {e}") from None


def _to_tensor(value, device: str):
    if isinstance(value, Tensor):
        return value.to(device)
    if isinstance(value, (tuple, list)):
        return type(value)(_to_tensor(v, device) for v in value)
    if isinstance(value, dict):
        return {k: _to_tensor(v, device) for k, v in value.items()}
    array = np.asarray(value)
    if array.dtype.kind in "USO":  # strings (e.g. file names) stay on the host as they are
        return value
    if array.dtype == np.float64:  # batches use the library's default float (float32)
        array = array.astype(backend.DEFAULT_FLOAT)
    return Tensor(array, device=device)


def _empty(batch) -> bool:
    first = batch[0] if isinstance(batch, (tuple, list)) and batch else batch
    return hasattr(first, "shape") and len(first.shape) > 0 and first.shape[0] == 0


class DataLoader:
    """Iterate over ``dataset`` in batches of Tensors on ``device``.

    Args:
        dataset: a Dataset (``__getitem__`` and ``__len__``; ``__getitems__`` for fast batches).
        batch_size: samples per batch (the last one may be smaller unless ``drop_last``).
        shuffle: draw a new random order every epoch.
        drop_last: drop the last incomplete batch.
        seed: seed of this loader's own random order: epoch e is shuffled by a generator
            seeded with (seed, e), so every epoch differs and any epoch can be reproduced
            (``set_epoch``, used when training resumes). Without it the library's generator
            (``tc.manual_seed``) is used.
        generator: a ``numpy.random.Generator`` to draw the order from (overrides ``seed``).
        collate_fn: turns a list of samples into a batch (default: ``default_collate``).
        device: "cpu" or "gpu"; default: the library's default device.
        num_workers: worker processes fetching batches (0: in this process). Batches come back
            through shared memory, in order; the batches, their order and their random
            augmentation are the same whatever ``num_workers`` is (each batch's transforms draw
            from a generator seeded with (seed, epoch, batch index)).
        prefetch_factor: batches each worker prepares ahead (default 2; only with workers).
        persistent_workers: keep the workers alive between epochs (only with workers).
        worker_init_fn: called as ``worker_init_fn(worker_id)`` in each worker at start;
            ``get_worker_info()`` gives (id, num_workers, seed, dataset) there.
        timeout: seconds to wait for one batch from the workers before raising (0: no limit;
            a worker that dies is reported at once either way).
        multiprocessing_context: "fork", "spawn" or "forkserver" (default: fork where the OS
            has it, else spawn; spawn needs a picklable dataset and transforms).
        pin_memory: on the GPU, stage batches in page-locked host memory and copy the next
            batch on a separate CUDA stream while the current one trains (default: True).

    Yields:
        tuples such as ``(images (B, C, H, W) float32, labels (B,) int64)`` of Tensors.
    """

    def __init__(self, dataset, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False, seed=None, generator=None, collate_fn=None,
                 device=None, num_workers: int = 0, prefetch_factor: int | None = None,
                 persistent_workers: bool = False, worker_init_fn=None, timeout: float = 0,
                 multiprocessing_context=None, pin_memory: bool = True):
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) \
                or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
            raise TypeError(
                f"DataLoader needs a dataset with __getitem__ and __len__, "
                f"got {type(dataset).__name__}"
            )
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
                                 or seed < 0):
            raise ValueError(f"DataLoader seed must be a non-negative integer or None, "
                             f"got {seed!r}")
        if generator is not None and not isinstance(generator, np.random.Generator):
            raise TypeError(f"DataLoader generator must be a numpy.random.Generator, "
                            f"got {type(generator).__name__}")
        if isinstance(num_workers, bool) or not isinstance(num_workers, numbers.Integral) \
                or num_workers < 0:
            raise ValueError(f"num_workers must be a non-negative integer, got {num_workers!r}")
        if prefetch_factor is not None:
            if num_workers == 0:
                raise ValueError("prefetch_factor needs num_workers > 0 (it counts batches "
                                 "each worker prepares ahead)")
            if isinstance(prefetch_factor, bool) or not isinstance(
                    prefetch_factor, numbers.Integral) or prefetch_factor < 1:
                raise ValueError(f"prefetch_factor must be a positive integer, "
                                 f"got {prefetch_factor!r}")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers=True needs num_workers > 0")
        if not isinstance(timeout, numbers.Real) or timeout < 0:
            raise ValueError(f"timeout must be a non-negative number of seconds, got {timeout!r}")
        if worker_init_fn is not None and not callable(worker_init_fn):
            raise TypeError("worker_init_fn must be callable")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.collate_fn = collate_fn
        self.device = backend.normalize_device(device)
        self.seed = None if seed is None else int(seed)
        self._generator = generator
        self._epoch = 0
        self.num_workers = int(num_workers)
        self.prefetch_factor = 2 if prefetch_factor is None and num_workers else prefetch_factor
        self.persistent_workers = bool(persistent_workers)
        self.worker_init_fn = worker_init_fn
        self.timeout = float(timeout)
        self.multiprocessing_context = multiprocessing_context
        self.pin_memory = bool(pin_memory)
        self._pool = None

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration use the order of epoch ``epoch`` (with ``seed``)."""
        self._epoch = int(epoch)

    def _random_source(self) -> np.random.Generator:
        return _rng(generator=self._generator)

    def _plan(self):
        """This epoch's batches of indices and the key that seeds their random transforms."""
        n = len(self.dataset)
        epoch, self._epoch = self._epoch, self._epoch + 1
        if not self.shuffle:
            order = np.arange(n)
        elif self._generator is None and self.seed is not None:
            order = np.random.default_rng((self.seed, epoch)).permutation(n)
        else:
            order = self._random_source().permutation(n)
        if self.seed is not None and self._generator is None:
            key = (self.seed, epoch)
        else:
            key = (int(self._random_source().integers(2**62)), epoch)
        batches = [order[b * self.batch_size : (b + 1) * self.batch_size]
                   for b in range(len(self))]
        return batches, key

    def _worker_base_seed(self) -> int:
        """Worker w is seeded with base + w (as PyTorch's base_seed + worker_id)."""
        if self.seed is not None and self._generator is None:
            return int(np.random.default_rng((self.seed, 2**31)).integers(2**62))
        return int(self._random_source().integers(2**62))

    def _batch_tail(self):
        """The dataset's elementwise tail (see dataset.batch_tail) when batches come from its
        ``__getitems__``, else None."""
        if self.collate_fn is not None or not hasattr(self.dataset, "__getitems__"):
            return None
        return batch_tail(self.dataset)

    def _fetch(self, indices: np.ndarray):
        return fetch(self.dataset, indices, self.collate_fn)

    def _host_batches(self, first: int, plan):
        batches, key = self._plan() if plan is None else plan
        if self.num_workers == 0:
            for b in range(first, len(batches)):
                with batch_random((*key, b)):
                    yield self._fetch(batches[b])
            return
        yield from self._worker_batches(batches, key, first)

    def _worker_batches(self, batches, key, first: int = 0):
        pool = self._pool
        if pool is None or pool.closed:
            pool = WorkerPool(self)
            if self.persistent_workers:
                self._pool = pool
        pool.epoch_id += 1
        epoch_id, n = pool.epoch_id, len(batches)
        ahead = self.prefetch_factor * self.num_workers
        sent, ready = first, {}
        try:
            while sent < min(first + ahead, n):
                pool.put(epoch_id, sent, batches[sent], (*key, sent))
                sent += 1
            for b in range(first, n):
                while b not in ready:
                    got_epoch, got_b, value = pool.get(self.timeout)
                    if got_epoch == epoch_id:  # results of an abandoned epoch are dropped
                        ready[got_b] = value
                if sent < n:
                    pool.put(epoch_id, sent, batches[sent], (*key, sent))
                    sent += 1
                batch = ready.pop(b)
                if pool.tail is not None:  # the uint8 -> float end of the dataset's transform
                    batch = (pool.tail(batch[0]), *batch[1:])
                yield batch
        finally:
            if not self.persistent_workers:
                pool.shutdown()

    def __iter__(self):
        yield from self._batches(0, None)  # the epoch's order drawn at its first batch

    def _iter_from(self, first: int):
        """This epoch's batches from batch ``first`` on (the same order and random transforms
        as a whole epoch's), the earlier ones neither fetched nor transformed: how ``fit``
        resumes an epoch interrupted after batch ``first``. The order is drawn now, where a
        whole epoch's iterator draws it at its first batch."""
        return self._batches(first, self._plan())

    def _batches(self, first: int, plan):
        host = (b for b in self._host_batches(first, plan) if not _empty(b))  # all unreadable
        if self.device == backend.GPU:
            from tinygrad_cnn.data.gpu_prefetch import prefetch_to_gpu  # noqa: PLC0415

            yield from prefetch_to_gpu(host, pin_memory=self.pin_memory)
            return
        for batch in host:
            yield _to_tensor(batch, self.device)

    def shutdown_workers(self) -> None:
        """Stop persistent workers now (they also stop when the loader is garbage collected)."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __del__(self):
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown()

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_pool"] = None
        return state

    def __repr__(self) -> str:
        workers = f", num_workers={self.num_workers}" if self.num_workers else ""
        return (f"DataLoader({type(self.dataset).__name__} of {len(self.dataset)}, "
                f"batch_size={self.batch_size}, shuffle={self.shuffle}{workers}, "
                f"device={self.device!r})")
