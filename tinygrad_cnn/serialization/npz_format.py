"""The ``.npz`` checkpoint format: a zip archive of ``.npy`` arrays ``a0``, ``a1``, ... plus the
entry ``__tinygrad_cnn__``, the UTF-8 JSON header (see tree.py).

Written with ``np.savez`` (uncompressed). Read here member by member instead of with
``np.load``, so that nothing is inflated beyond what the headers declare: each member's ``.npy``
header (dtype and shape) must agree with the size the zip directory declares for it, and a
compressed member may inflate to at most ``MAX_RATIO`` times its compressed size, so a hostile
file cannot make ``tc.load`` allocate more than ``MAX_RATIO`` times its own size (a "zip bomb").
"""

from __future__ import annotations

import json
import math
import zipfile

import numpy as np

from tinygrad_cnn.serialization.tree import CheckpointError, Encoder, check_header, header

HEADER = "__tinygrad_cnn__"
MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip's first local file header, or an empty zip
MAX_RATIO = 100  # deflate of real weights gains < 2x; only runs of equal bytes gain ~1000x
_NPY_MAGIC = b"\x93NUMPY"


def write(obj, handle) -> None:
    """Write ``obj`` to the binary file ``handle`` as an uncompressed .npz checkpoint."""
    encoder = Encoder(lambda path: f"a{len(encoder.arrays)}")
    tree = encoder.encode(obj)
    text = json.dumps(header(tree), allow_nan=True)
    encoder.arrays[HEADER] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    np.savez(handle, **encoder.arrays)


def read(f, name: str, size: int):
    """The tree's JSON header and the arrays (name -> writable NumPy array) of the .npz ``f``,
    a seekable binary file of ``size`` bytes."""
    try:
        archive = zipfile.ZipFile(f)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
        raise CheckpointError(f"{name} is truncated or corrupted ({type(e).__name__}: {e})") \
            from None
    with archive:
        infos = archive.infolist()
        if not infos or not all(i.filename.endswith(".npy") for i in infos):
            others = [i.filename for i in infos if not i.filename.endswith(".npy")][:5]
            raise CheckpointError(
                f"{name} is a zip archive but not a tinygrad_cnn checkpoint: it holds "
                f"{others or 'no'} entries that are not NumPy arrays (a torch.save file is a zip "
                "of pickles; tinygrad_cnn never unpickles files)"
            )
        _check_sizes(infos, name, size)
        arrays = {}
        for info in infos:
            key = info.filename[: -len(".npy")]
            arrays[key] = _read_member(archive, info, name)
    if HEADER not in arrays:
        raise CheckpointError(
            f"{name} is a NumPy .npz file but not a tinygrad_cnn checkpoint (it has no "
            f"{HEADER!r} entry); its arrays: {sorted(arrays)[:10]}"
        )
    raw = arrays.pop(HEADER)
    try:
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise ValueError(f"it is a {raw.dtype} array of shape {raw.shape}, not bytes")
        value = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise CheckpointError(f"{name}: the checkpoint header is corrupted ({e})") from None
    try:
        return check_header(value), arrays
    except CheckpointError as e:
        raise CheckpointError(f"{name}: {e}") from None


def _check_sizes(infos: list, name: str, size: int) -> None:
    """Refuse sizes in the zip directory that the file cannot hold, before inflating anything:
    members that overlap or reach past the end, or more than MAX_RATIO x the file in all."""
    stored = [i for i in infos if i.compress_type == zipfile.ZIP_STORED]
    for info in stored:
        if info.compress_size != info.file_size:
            raise CheckpointError(f"{name}, entry {info.filename!r}: stored (uncompressed) but "
                                  f"declares {info.compress_size} bytes stored and "
                                  f"{info.file_size} bytes of data")
    for info in infos:
        if info.header_offset + info.compress_size > size:
            raise CheckpointError(f"{name} is truncated or corrupted: entry {info.filename!r} "
                                  f"declares {info.compress_size} bytes at offset "
                                  f"{info.header_offset}, past the end of the {size}-byte file")
    if sum(i.compress_size for i in infos) > size:
        raise CheckpointError(f"{name} is corrupted or hostile: its entries declare more "
                              f"compressed bytes than the {size}-byte file holds (overlapping "
                              "entries)")


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str) -> np.ndarray:
    """One .npy member, its size checked against its header before its data is read."""
    member = f"{name}, entry {info.filename!r}"
    if info.flag_bits & 0x1:
        raise CheckpointError(f"{member} is encrypted")
    if info.compress_type != zipfile.ZIP_STORED and info.file_size > MAX_RATIO * max(
            info.compress_size, 1) + 4096:
        raise CheckpointError(
            f"{member} would inflate from {info.compress_size} to {info.file_size} bytes (more "
            f"than {MAX_RATIO}x): refusing a possible zip bomb"
        )
    try:
        with archive.open(info) as stream:
            dtype, shape, fortran = _read_npy_header(stream, member)
            count = math.prod(shape)
            nbytes = count * dtype.itemsize
            header_size = stream.tell() if stream.seekable() else None
            if header_size is not None and header_size + nbytes != info.file_size:
                raise CheckpointError(
                    f"{member}: its .npy header declares a {dtype} array of shape {shape} "
                    f"({nbytes} bytes) but the entry holds {info.file_size - header_size} bytes"
                )
            buffer = bytearray(nbytes)
            view, got = memoryview(buffer), 0
            while got < nbytes:
                n = stream.readinto(view[got:])
                if not n:
                    raise CheckpointError(f"{member} is truncated ({got} of {nbytes} bytes)")
                got += n
            if stream.read(1):
                raise CheckpointError(f"{member} holds more bytes than its .npy header declares")
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError,
            RuntimeError) as e:  # bad CRC, damaged deflate stream, unsupported compression
        raise CheckpointError(f"{name} is truncated or corrupted ({type(e).__name__}: {e})") \
            from None
    array = np.frombuffer(buffer, dtype=dtype)
    return array.reshape(shape[::-1]).T if fortran else array.reshape(shape)


def _read_npy_header(stream, member: str):
    """(dtype, shape, fortran_order) from the start of a .npy stream, with pickle refused."""
    magic = stream.read(len(_NPY_MAGIC) + 2)
    if len(magic) < 8 or not magic.startswith(_NPY_MAGIC):
        raise CheckpointError(f"{member} is not a .npy array")
    version = (magic[6], magic[7])
    read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                   (2, 0): np.lib.format.read_array_header_2_0}.get(version)
    if read_header is None:
        raise CheckpointError(f"{member}: unsupported .npy format version {version}")
    try:
        shape, fortran, dtype = read_header(stream, max_header_size=10_000)
    except (ValueError, SyntaxError, TypeError, OverflowError, MemoryError) as e:
        raise CheckpointError(f"{member}: malformed .npy header ({e})") from None
    if any(s < 0 for s in shape):
        raise CheckpointError(f"{member}: malformed .npy header (negative shape {shape})")
    if dtype.hasobject:
        raise CheckpointError(
            f"{member} holds an object array, which only pickle could read; tinygrad_cnn never "
            "unpickles files"
        )
    if dtype.kind == "V" or dtype.itemsize == 0:
        raise CheckpointError(f"{member}: unsupported dtype {dtype} for a checkpoint array")
    return dtype, tuple(int(s) for s in shape), bool(fortran)
