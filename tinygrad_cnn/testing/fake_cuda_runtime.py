"""The fake CuPy's ``cupy.cuda``: one device, streams and events on which copies and kernels
have already finished, and pinned host memory as a bytearray (tests only; see fake_cupy.py)."""

from __future__ import annotations


class Device:
    """``cupy.cuda.Device``: a context manager that selects nothing (there is one device)."""

    compute_capability = "00"  # as getDeviceProperties' major and minor: no real GPU's

    def __init__(self, device_id=0):
        self.id = device_id

    def use(self):
        """Make it the current device: nothing to do."""

    def synchronize(self):
        """Wait for the device's work: it has all finished already."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class Event:
    """``cupy.cuda.Event``: already complete."""

    def synchronize(self):
        """Wait for the event: returns at once."""


class Stream:
    """A CUDA stream: copies and kernels run at once here, so waiting is a no-op."""

    ptr = 0

    def __init__(self, null=False, non_blocking=False, ptds=False):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def synchronize(self):
        """Wait for the stream's work: it has all finished already."""

    def record(self, event=None):
        """``event`` (or a new Event) recorded on this stream: complete at once."""
        return event or Event()

    def wait_event(self, event):
        """Make later work wait for ``event``: nothing to wait for."""


class Runtime:
    """``cupy.cuda.runtime``: one device and its properties."""

    @staticmethod
    def getDeviceCount():  # noqa: N802 - CUDA's name
        """1: there is one fake device."""
        return 1

    @staticmethod
    def getDeviceProperties(device_id):  # noqa: N802 - CUDA's name
        """A dict of the properties code reads: name (bytes), totalGlobalMem (1 GiB), major and
        minor (0)."""
        return {"name": b"fake GPU (NumPy, tinygrad_cnn.testing.fake_cupy)",
                "totalGlobalMem": 1 << 30, "major": 0, "minor": 0}


class Cuda:
    """``cupy.cuda``: the runtime, devices, streams, events and pinned memory."""

    runtime = Runtime()
    Device = Device
    Stream = Stream
    Event = Event

    @staticmethod
    def alloc_pinned_memory(nbytes):
        """``nbytes`` of "pinned" host memory: a bytearray."""
        return bytearray(nbytes)  # host memory NumPy can view with frombuffer

    @staticmethod
    def get_current_stream():
        """A new Stream (all streams behave alike here)."""
        return Stream()


cuda = Cuda()
