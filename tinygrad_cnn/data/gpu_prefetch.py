"""Host batches to the GPU one step ahead: the next batch is copied while the current trains.

Each batch's arrays are copied into page-locked (pinned) host memory from CuPy's pinned pool
and sent with an asynchronous copy on a separate CUDA stream; an event recorded after the copy
makes the compute stream wait for it only when the batch is used. Pageable memory cannot be
copied asynchronously (the driver stages it synchronously), which is why pinning matters.
Reached only with device="gpu" (CuPy and a CUDA device present).
"""

from __future__ import annotations

import numpy as np

from tinygrad_cnn import backend
from tinygrad_cnn.data.workers import _layout, _rebuild
from tinygrad_cnn.tensor import Tensor


def _host_array(a: np.ndarray) -> np.ndarray:
    if a.dtype == np.float64:  # batches use the library's default float (float32)
        a = a.astype(backend.DEFAULT_FLOAT)
    return np.ascontiguousarray(a)


def prefetch_to_gpu(batches, pin_memory: bool = True):
    """Yield each host batch of ``batches`` as Tensors on the GPU, staging the next one's copy
    before the current one is handed out."""
    cp = backend.require_gpu()
    stream = cp.cuda.Stream(non_blocking=True)

    def stage(batch):
        arrays = []
        layout = _layout(batch, arrays)
        device_arrays, keep = [], []
        with stream:
            for a in arrays:
                a = _host_array(a)
                d = cp.empty(a.shape, a.dtype)
                if pin_memory and a.nbytes:
                    mem = cp.cuda.alloc_pinned_memory(a.nbytes)
                    pinned = np.frombuffer(mem, a.dtype, a.size).reshape(a.shape)
                    pinned[...] = a
                    d.set(pinned, stream=stream)
                    keep.append(mem)  # alive until the copy has finished
                else:
                    d.set(a, stream=stream)
                device_arrays.append(d)
            event = stream.record()
        return layout, device_arrays, event, keep

    def finish(staged):
        layout, device_arrays, event, _keep = staged
        cp.cuda.get_current_stream().wait_event(event)
        event.synchronize()  # the copy (started a step ago) is done: its pinned buffer may go
        return _rebuild(layout, [Tensor(d, device=backend.GPU) for d in device_arrays])

    staged = None
    for batch in batches:
        following = stage(batch)  # starts copying while the caller trains on `staged`
        if staged is not None:
            yield finish(staged)
        staged = following
    if staged is not None:
        yield finish(staged)
