"""The safetensors checkpoint format (https://github.com/huggingface/safetensors), through the
``safetensors`` package's NumPy API.

A file is an 8-byte little-endian header length, a JSON header naming each tensor's dtype, shape
and byte range, then the raw little-endian bytes. tinygrad_cnn names each array by its dotted
path in the saved object (``tc.save(model.state_dict(), p)`` gives ``conv1.weight``, ... as in
PyTorch, so ``safetensors.torch.load_file(p)`` reads it as a state dict), and puts the rest of the
object in the header's ``__metadata__``: ``format``, ``version``, ``tree`` (the JSON tree of
tree.py) and ``crc32`` (a checksum per array, so flipped bytes are detected as in a zip). A
safetensors file without that metadata, written by any other library, loads as a flat
``{name: Tensor}`` dict.

The package validates the header before anything is read (its length is capped, every byte range
must lie inside the file, ranges must not overlap and must cover the data exactly), so reading
never allocates more than the file's size.
"""

from __future__ import annotations

import json
import sys
import zlib

import numpy as np

from tinygrad_cnn.serialization.tree import (
    FORMAT,
    VERSION,
    CheckpointError,
    Encoder,
    check_header,
)

# dtypes safetensors stores natively (and safetensors.numpy reads back); others go as raw bytes
_NATIVE = {np.dtype(t) for t in (np.bool_, np.uint8, np.int8, np.int16, np.int32, np.int64,
                                 np.uint16, np.uint32, np.uint64, np.float16, np.float32,
                                 np.float64)}


def available() -> bool:
    """True when the ``safetensors`` package can be imported."""
    try:
        import safetensors.numpy  # noqa: F401
    except ImportError:
        return False
    return True


def _require():
    try:
        import safetensors
        import safetensors.numpy
    except ImportError:
        raise ImportError(
            "reading or writing .safetensors files needs the safetensors package: "
            "pip install safetensors (or the tinygrad_cnn[safetensors] extra)"
        ) from None
    return safetensors


def is_safetensors(head: bytes) -> bool:
    """True when ``head`` (a file's first 9+ bytes) starts like a safetensors file."""
    return len(head) >= 9 and head[8:9] == b"{"


def write(obj, handle) -> None:
    """Write ``obj`` to the binary file ``handle`` as a safetensors checkpoint."""
    st = _require()
    encoder = Encoder(lambda path: _unique_name(encoder.arrays, path),
                      native=lambda dt: dt in _NATIVE)
    tree = encoder.encode(obj)
    arrays = {k: _contiguous(a) for k, a in encoder.arrays.items()}
    metadata = {
        "format": FORMAT,
        "version": str(VERSION),
        "tree": json.dumps(tree, allow_nan=True),
        "crc32": json.dumps({k: _crc32(a) for k, a in arrays.items()}),
    }
    handle.write(st.numpy.save(arrays, metadata=metadata))


def _contiguous(array: np.ndarray) -> np.ndarray:
    """C-contiguous, keeping 0-d arrays 0-d (np.ascontiguousarray makes them 1-d)."""
    return array if array.flags.c_contiguous else array.copy(order="C")


def _unique_name(arrays: dict, path: tuple) -> str:
    base = ".".join(str(p) for p in path) or "obj"
    name, k = base, 1
    while name in arrays:
        name, k = f"{base}#{k}", k + 1
    return name


def _crc32(array: np.ndarray) -> int:
    """CRC-32 of the bytes as stored (little-endian)."""
    if array.dtype.byteorder == ">" or (array.dtype.byteorder == "=" and sys.byteorder == "big"):
        array = array.astype(array.dtype.newbyteorder("<"))
    return zlib.crc32(_contiguous(array).reshape(-1).view(np.uint8).data)


def read(f, name: str):
    """(tree or None, arrays): the tree of a tinygrad_cnn file, None for a plain one, and its
    arrays (name -> writable NumPy array). ``f`` is a path or a binary file object."""
    st = _require()
    try:
        if hasattr(f, "read"):
            data = f.read()
            arrays = st.numpy.load(data)  # validates the header and every byte range
            metadata = _metadata_of_bytes(data)
        else:
            with st.safe_open(f, framework="np") as handle:
                metadata = handle.metadata()
                arrays = {k: handle.get_tensor(k) for k in handle.keys()}
    except st.SafetensorError as e:
        raise CheckpointError(f"{name} is a corrupted or truncated safetensors file ({e})") \
            from None
    except (KeyError, TypeError, ValueError) as e:  # e.g. bfloat16, which NumPy cannot hold
        raise CheckpointError(
            f"{name}: a safetensors file with a tensor NumPy cannot hold "
            f"({type(e).__name__}: {e})"
        ) from None
    arrays = {k: a if a.flags.writeable else a.copy() for k, a in arrays.items()}
    if not metadata or metadata.get("format") != FORMAT:
        return None, arrays
    try:
        check_header({"format": FORMAT, "tree": None, "version": _int(metadata.get("version"))})
    except CheckpointError as e:
        raise CheckpointError(f"{name}: {e}") from None
    try:
        tree = json.loads(metadata.get("tree", ""))
        checksums = json.loads(metadata.get("crc32", "{}"))
        if not isinstance(checksums, dict):
            raise ValueError("crc32 is not a JSON object")
    except (ValueError, RecursionError) as e:  # JSONDecodeError is a ValueError
        raise CheckpointError(f"{name}: the checkpoint header is corrupted ({e})") from None
    for key, expected in checksums.items():
        if key in arrays and _crc32(arrays[key]) != expected:
            raise CheckpointError(
                f"{name} is corrupted: the bytes of tensor {key!r} do not match their CRC-32 "
                "checksum"
            )
    return tree, arrays


def _int(text):
    try:
        return int(text)
    except (TypeError, ValueError):
        return text


def _metadata_of_bytes(data: bytes):
    """The ``__metadata__`` of safetensors bytes that safetensors has already validated."""
    n = int.from_bytes(data[:8], "little")
    return json.loads(data[8:8 + n]).get("__metadata__")
