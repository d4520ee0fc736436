"""Checkpoints: ``save(obj, path)`` / ``load(path, map_location=None)``, data only, never pickle.

Two file formats hold the same tree of dicts, lists, tuples, numbers, strings, bools, None,
Tensors and NumPy arrays (tree.py): safetensors (safetensors_format.py, the default when the
``safetensors`` package is installed) and an uncompressed ``.npz`` (npz_format.py, NumPy only).
``load`` tells them apart by the file's first bytes, never by its name, and reads plain
safetensors files from other libraries too. Saving to a path is atomic (atomic.py).

This package imports NumPy directly: the file formats are host-side (GPU tensors are copied to the
host to be written and back to the GPU when loaded).
"""

from __future__ import annotations

import errno
import os
import stat

from tinygrad_cnn import backend
from tinygrad_cnn.serialization import npz_format, safetensors_format
from tinygrad_cnn.serialization.atomic import describe_mode, write_atomically
from tinygrad_cnn.serialization.npz_format import HEADER
from tinygrad_cnn.serialization.tree import FORMAT, VERSION, CheckpointError, decode
from tinygrad_cnn.tensor import Tensor

FORMATS = ("safetensors", "npz")

__all__ = ["save", "load", "CheckpointError", "FORMAT", "VERSION", "HEADER", "FORMATS",
           "default_format"]


def default_format(path=None) -> str:
    """The format ``save`` writes to ``path`` when none is given: "npz" for a name ending in
    ``.npz``, "safetensors" for ``.safetensors``, otherwise "safetensors" when the package is
    installed and "npz" when it is not."""
    if path is not None and not hasattr(path, "write"):
        suffix = os.path.splitext(os.fspath(path))[1].lower()
        if suffix == ".npz":
            return "npz"
        if suffix == ".safetensors":
            return "safetensors"
    return "safetensors" if safetensors_format.available() else "npz"


# --------------------------------------------------------------------------- save


def save(obj, f, format: str | None = None) -> None:
    """Write ``obj`` to ``f`` (a path, or a binary file object opened for writing).

    ``obj``: nested dicts (any str/int/float/bool/None keys, order kept), lists and tuples of
    Tensors, NumPy arrays, NumPy scalars, and Python ints, floats, strings, bools and None; e.g.
    ``{"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}``. A tensor that
    appears twice is stored once and loads as one tensor.

    ``format``: "safetensors" or "npz"; None picks by the name (see ``default_format``).
    Saving to a path is atomic: the new file is written next to the target and renamed over it,
    so an interrupted save leaves the previous file whole. Symlinks are written through, the
    target keeps its permissions, and anything but a regular file (a directory, a device, a
    FIFO) is refused.
    """
    if format is None:
        format = default_format(f)
    if format not in FORMATS:
        raise ValueError(f"save: unknown format {format!r}; use one of {list(FORMATS)}")
    write = safetensors_format.write if format == "safetensors" else npz_format.write
    if hasattr(f, "write"):
        write(obj, f)
    else:
        write_atomically(f, lambda handle: write(obj, handle))


# --------------------------------------------------------------------------- load


def load(f, map_location=None):
    """Read a checkpoint written by ``save`` (either format), or any safetensors file, from a
    path or a seekable binary file object.

    Tensors keep their dtype and go to ``map_location`` ("cpu" or "gpu"), or, when it is None, to
    the device they were saved from. NumPy arrays stay NumPy arrays. A safetensors file written by
    another library (no tinygrad_cnn metadata) loads as a flat ``{name: Tensor}`` dict on the CPU
    (or ``map_location``). A file that is truncated, corrupted, or not a checkpoint raises
    ``CheckpointError`` (a ValueError) naming it and the problem; nothing in a file is ever
    executed, and nothing is read or inflated beyond the sizes its headers declare.
    """
    is_file = hasattr(f, "read")
    if not is_file:
        f = os.fspath(f)
    name = repr(f) if not is_file else f"<{type(f).__name__}>"
    target = backend.normalize_device(map_location) if map_location is not None else None
    if is_file:
        if not f.seekable():
            raise CheckpointError(f"{name} is not seekable; tc.load needs a seekable binary file "
                                  "(read the bytes into io.BytesIO first)")
        tree, arrays = _read(f, name)
    else:
        with _open_regular(f, name) as handle:
            tree, arrays = _read(handle, name, path=f)
    if tree is None:  # a plain safetensors file from elsewhere
        tree = {"dict": [[key, {"tensor": key}] for key in arrays]}
    try:
        return decode(tree, arrays, target)
    except CheckpointError as e:
        raise CheckpointError(f"{name}: {e}") from None


def _open_regular(path: str, name: str):
    """``open(path, "rb")``, refusing FIFOs, devices and sockets (opening a FIFO would wait for
    a writer; a device never ends). O_NONBLOCK lets the open itself return for a FIFO."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
        if not stat.S_ISREG(mode):
            raise CheckpointError(f"{name} is {describe_mode(mode)}, not a regular file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _read(handle, name: str, path=None):
    """(tree, arrays) of an open file, its format told by its first bytes."""
    start = handle.tell()
    head = handle.read(16)
    size = handle.seek(0, os.SEEK_END) - start
    handle.seek(start)
    if head[:4] in npz_format.MAGIC:
        return npz_format.read(handle, name, size)
    if safetensors_format.is_safetensors(head):
        return safetensors_format.read(path if path is not None else handle, name)
    if head.startswith(b"\x93NUMPY"):
        raise CheckpointError(f"{name} is a single NumPy array, not a tinygrad_cnn checkpoint")
    if len(head) < 9:
        raise CheckpointError(f"{name} is truncated or corrupted ({len(head)} bytes long)")
    raise CheckpointError(
        f"{name} is not a tinygrad_cnn checkpoint: it is neither a .npz archive nor a "
        "safetensors file (perhaps a pickle, such as an old torch.save file, or a text file); "
        "tinygrad_cnn never unpickles files"
    )
