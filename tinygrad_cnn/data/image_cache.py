"""The decoded cache of an ImageFolder: one uint8 ``.npy`` array (N, 3, H, W) on disk.

The file name carries a digest of everything the pixels depend on (the folder, every file's
relative path, label, size and modification time, ``image_size``, ``max_pixels`` and this
format's version), so a cache whose inputs changed is never found, only rebuilt. It is built in
parallel by worker processes that decode disjoint chunks and write them with positioned writes
(``os.pwrite``) into a file created under a temporary name; the finished file is renamed into
place (atomic on POSIX), after the JSON side file that lists the unreadable images.

Reads use positioned reads too, not a memory map: a map would keep every page read so far in
the process' resident memory (a 23,000-image cache at 224 px is 3.5 GB), while reads leave the
pages in the OS page cache, shared and reclaimable, and the process' RSS at one batch.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

_VERSION = 1
_CHUNK = 64  # images per task: large enough to amortise the task, small enough to balance


def _digest(root: Path, samples, image_size, max_pixels) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([_VERSION, os.path.abspath(root), list(image_size), max_pixels]).encode())
    for path, label in samples:  # stat of every file: renames, edits and touches all show
        st = os.stat(path)
        h.update(f"{os.path.relpath(path, root)}\0{label}\0{st.st_size}\0{st.st_mtime_ns}\n"
                 .encode())
    return h.hexdigest()[:24]


def cache_files(cache_dir, root, samples, image_size, max_pixels) -> tuple[Path, Path, str]:
    """(array path, side-file path, name prefix shared by every version of this folder's cache)."""
    cache_dir = Path(cache_dir)
    name = hashlib.sha256(os.path.abspath(root).encode()).hexdigest()[:12]
    prefix = f"imagefolder-{Path(root).name}-{name}-{image_size[0]}x{image_size[1]}-"
    digest = _digest(Path(root), samples, image_size, max_pixels)
    return cache_dir / f"{prefix}{digest}.npy", cache_dir / f"{prefix}{digest}.json", prefix


def open_cache(dataset, samples, cache_dir, num_workers, progress):
    """The path of a valid cache for ``samples`` (building it if needed), and its failures
    [(path, reason)] (files that could not be decoded; their rows are zeros)."""
    cache_dir = Path(cache_dir)
    if cache_dir.exists() and not cache_dir.is_dir():
        raise NotADirectoryError(f"cache={os.fspath(cache_dir)!r} is a file, not a folder")
    cache_dir.mkdir(parents=True, exist_ok=True)
    array_path, side_path, prefix = cache_files(cache_dir, dataset.root, samples,
                                                dataset.image_size, dataset.max_pixels)
    if array_path.is_file() and side_path.is_file():
        expected = (len(samples), 3, *dataset.image_size)
        try:
            shape = np.load(array_path, mmap_mode="r").shape
            failed = [tuple(f) for f in json.loads(side_path.read_text())["failed"]]
        except (OSError, ValueError, KeyError):  # damaged: rebuild it
            shape, failed = None, None
        if shape == expected and failed is not None:
            return array_path, failed
    failed = _build(dataset, samples, array_path, side_path, num_workers, progress)
    for old in cache_dir.glob(prefix + "*"):  # earlier versions of this folder's cache
        if old not in (array_path, side_path):
            old.unlink(missing_ok=True)
    return array_path, failed


def _build(dataset, samples, array_path, side_path, num_workers, progress):
    from tinygrad_cnn.data.images import _progress  # noqa: PLC0415 - avoid a cycle

    n, (h, w) = len(samples), dataset.image_size
    tmp = array_path.with_name(f".{array_path.name}.{os.getpid()}.tmp")
    array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(n, 3, h, w))
    offset = array.offset  # bytes of the .npy header
    del array  # the file now has its header and its full (sparse) size
    paths = [str(p) for p, _ in samples]
    chunks = [(start, paths[start:start + _CHUNK]) for start in range(0, n, _CHUNK)]
    args = (str(tmp), offset, dataset.image_size, dataset.max_pixels)
    workers = num_workers if num_workers is not None else (os.cpu_count() or 1)
    bar = _progress(progress, total=n, desc="caching images", unit="img")
    failed = []
    try:
        if workers <= 1 or len(chunks) == 1:
            for start, chunk in chunks:
                failed += _decode_chunk(*args, start, chunk)
                bar.update(len(chunk))
        else:
            # fork: the workers need nothing pickled but the chunk, and start in milliseconds
            methods = multiprocessing.get_all_start_methods()
            ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
            with ProcessPoolExecutor(max_workers=min(workers, len(chunks)), mp_context=ctx) as ex:
                futures = {ex.submit(_decode_chunk, *args, start, chunk): len(chunk)
                           for start, chunk in chunks}
                for future in as_completed(futures):
                    failed += future.result()
                    bar.update(futures[future])
        failed.sort()
        side_tmp = side_path.with_name(f".{side_path.name}.{os.getpid()}.tmp")
        side_tmp.write_text(json.dumps({"root": os.path.abspath(dataset.root), "images": n,
                                        "image_size": list(dataset.image_size),
                                        "failed": failed}))
        os.replace(side_tmp, side_path)
        os.replace(tmp, array_path)  # last: a complete array is the mark of a complete cache
    finally:
        bar.close()
        tmp.unlink(missing_ok=True)
    return [tuple(f) for f in failed]


def _decode_chunk(tmp, offset, image_size, max_pixels, start, paths):
    """Decode ``paths`` into rows start.. of the array file; [(path, reason)] of failures."""
    from tinygrad_cnn.data.images import load_image  # noqa: PLC0415

    h, w = image_size
    row = 3 * h * w
    block = np.zeros((len(paths), 3, h, w), np.uint8)
    failed = []
    for k, path in enumerate(paths):
        try:
            block[k] = load_image(path, image_size, max_pixels)
        except OSError as e:
            failed.append((path, str(e)))
    fd = os.open(tmp, os.O_WRONLY)
    try:
        data, pos = memoryview(block.reshape(-1)), offset + start * row
        while len(data):
            written = os.pwrite(fd, data, pos)
            data, pos = data[written:], pos + written
    finally:
        os.close(fd)
    return failed


def array_offset(path) -> int:
    """Bytes of the ``.npy`` header before the first row of the array at ``path``."""
    return int(np.load(path, mmap_mode="r").offset)


def read_rows(file, offset: int, rows: np.ndarray, image_size) -> np.ndarray:
    """uint8 (len(rows), 3, H, W): the given rows of the cache file, by positioned reads."""
    h, w = image_size
    row = 3 * h * w
    out = np.empty((len(rows), 3, h, w), np.uint8)
    flat = out.reshape(len(rows), row)
    fd = file.fileno()
    for k, r in enumerate(rows.tolist()):  # one read per image (a few microseconds each)
        got = os.preadv(fd, [flat[k]], offset + r * row)
        if got != row:
            raise OSError(f"image cache {file.name} is truncated (row {r}); delete it to rebuild")
    return out
