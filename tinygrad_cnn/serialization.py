"""Checkpoints: ``save(obj, path)`` / ``load(path, map_location=None)``, data only, never pickle.

A checkpoint is an uncompressed ``.npz`` (a zip of ``.npy`` arrays) written with NumPy: the arrays
are entries ``a0``, ``a1``, ... and one more entry, ``__tinygrad_cnn__``, holds a UTF-8 JSON header
describing the tree (dicts, lists, tuples, numbers, strings, bools, None) with references to the
arrays. Loading uses ``np.load(allow_pickle=False)`` and ``json``, so a file can only ever give
back data: no code from it runs.

This module imports NumPy directly: the file format is host-side (GPU tensors are copied to the
host to be written and back to the GPU when loaded).
"""

from __future__ import annotations

import json
import numbers
import os
import tempfile

import numpy as np

from tinygrad_cnn import backend
from tinygrad_cnn.tensor import Tensor

FORMAT = "tinygrad_cnn.checkpoint"
VERSION = 1
HEADER = "__tinygrad_cnn__"


class CheckpointError(ValueError):
    """A file that is not a readable tinygrad_cnn checkpoint (truncated, corrupted or foreign)."""


# --------------------------------------------------------------------------- save


def save(obj, f) -> None:
    """Write ``obj`` to ``f`` (a path, or a binary file object opened for writing).

    ``obj``: nested dicts (any str/int/float/bool/None keys, order kept), lists and tuples of
    Tensors, NumPy arrays, NumPy scalars, and Python ints, floats, strings, bools and None; e.g.
    ``{"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}``. A tensor that
    appears twice is stored once and loads as one tensor. Saving to a path writes a temporary file
    in the same directory and renames it over ``path``, so an interrupted save never damages the
    previous checkpoint.
    """
    arrays: dict[str, np.ndarray] = {}
    tree = _encode(obj, arrays, {}, set(), "obj")
    header = json.dumps({"format": FORMAT, "version": VERSION, "tree": tree}, allow_nan=True)
    arrays[HEADER] = np.frombuffer(header.encode("utf-8"), dtype=np.uint8)
    if hasattr(f, "write"):
        np.savez(f, **arrays)
        return
    path = os.fspath(f)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes the file private; save as open() would
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **arrays)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _encode(obj, arrays: dict, array_names: dict, active: set, where: str):
    """The JSON node for ``obj``; arrays go into ``arrays`` under fresh names."""
    if obj is None or type(obj) in (bool, int, float, str):
        return obj
    if isinstance(obj, str):
        return str(obj)
    if isinstance(obj, Tensor):
        if id(obj) not in array_names:  # a tensor saved twice is stored once
            array_names[id(obj)] = _add_array(arrays, backend.to_numpy(obj.data))
        return {"tensor": array_names[id(obj)], "device": obj.device,
                "requires_grad": obj.requires_grad}
    if isinstance(obj, np.ndarray):
        _check_array_dtype(obj.dtype, where)
        return {"ndarray": _add_array(arrays, obj)}
    if isinstance(obj, np.generic):
        _check_array_dtype(obj.dtype, where)
        return {"scalar": _add_array(arrays, np.asarray(obj))}
    if backend.is_gpu_array(obj):
        raise TypeError(f"save: {where} is a CuPy array; wrap it in a Tensor or call .get() first")
    if isinstance(obj, (dict, list, tuple)):
        if id(obj) in active:
            raise ValueError(f"save: {where} contains itself (a reference cycle)")
        active.add(id(obj))
        if isinstance(obj, dict):
            items = []
            for key, value in obj.items():
                if key is not None and not isinstance(key, (str, int, float, bool)):
                    raise TypeError(
                        f"save: {where} has a key of type {type(key).__name__} ({key!r}); keys "
                        "must be str, int, float, bool or None"
                    )
                where_item = f"{where}[{key!r}]"
                items.append([key, _encode(value, arrays, array_names, active, where_item)])
            node = {"dict": items}
        else:
            kind = "list" if isinstance(obj, list) else "tuple"
            node = {kind: [_encode(v, arrays, array_names, active, f"{where}[{i}]")
                           for i, v in enumerate(obj)]}
        active.discard(id(obj))
        return node
    if isinstance(obj, numbers.Integral):
        return int(obj)
    if isinstance(obj, numbers.Real):
        return float(obj)
    raise TypeError(
        f"save: {where} is a {type(obj).__name__}, which a checkpoint cannot hold; use Tensors, "
        "NumPy arrays, numbers, strings, bools, None, and dicts/lists/tuples of them"
    )


def _add_array(arrays: dict, array: np.ndarray) -> str:
    name = f"a{len(arrays)}"
    arrays[name] = array
    return name


def _check_array_dtype(dtype, where: str) -> None:
    if dtype.hasobject or dtype.kind == "V":
        raise TypeError(f"save: {where} has dtype {dtype}, which cannot be stored without pickle")


# --------------------------------------------------------------------------- load


def load(f, map_location=None):
    """Read a checkpoint written by ``save`` from a path or a binary file object.

    Tensors keep their dtype and go to ``map_location`` ("cpu" or "gpu"), or, when it is None, to
    the device they were saved from. NumPy arrays stay NumPy arrays. A file that is truncated,
    corrupted, or not a tinygrad_cnn checkpoint raises ``CheckpointError`` (a ValueError) naming
    it; nothing in the file is ever executed.
    """
    name = repr(os.fspath(f)) if not hasattr(f, "read") else f"<{type(f).__name__}>"
    target = backend.normalize_device(map_location) if map_location is not None else None
    arrays = _read_arrays(f, name)
    try:
        header = json.loads(bytes(arrays.pop(HEADER)).decode("utf-8"))
    except KeyError:
        raise CheckpointError(
            f"{name} is a NumPy .npz file but not a tinygrad_cnn checkpoint (it has no "
            f"{HEADER!r} entry); its arrays: {sorted(arrays)[:10]}"
        ) from None
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise CheckpointError(f"{name}: the checkpoint header is corrupted ({e})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT or "tree" not in header:
        raise CheckpointError(f"{name}: the checkpoint header is not a tinygrad_cnn header")
    if header.get("version") != VERSION:
        raise CheckpointError(
            f"{name}: checkpoint format version {header.get('version')!r}, this tinygrad_cnn "
            f"reads version {VERSION}"
        )
    try:
        return _decode(header["tree"], arrays, {}, target, "obj")
    except RecursionError:
        raise CheckpointError(f"{name}: the checkpoint's tree is nested too deeply") from None
    except CheckpointError as e:
        raise CheckpointError(f"{name}: {e}") from None


def _read_arrays(f, name: str) -> dict:
    """Every array of the .npz, read eagerly (so CRC errors surface here) with pickle disabled."""
    try:
        data = np.load(f, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise CheckpointError(f"{name} is a single NumPy array, not a tinygrad_cnn checkpoint")
        with data:
            return {key: data[key] for key in data.files}
    except (CheckpointError, FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except ValueError as e:
        if "Object arrays" in str(e):
            raise CheckpointError(
                f"{name} holds an object array, which only pickle could read; tinygrad_cnn "
                "never unpickles files"
            ) from None
        if "pickle" in str(e):
            raise CheckpointError(
                f"{name} is not a tinygrad_cnn checkpoint: it is neither a .npz archive nor a "
                "NumPy array (perhaps a pickle, such as a torch.save file, or a text file); "
                "tinygrad_cnn never unpickles files"
            ) from None
        raise CheckpointError(f"{name} is corrupted or not a checkpoint ({e})") from None
    except Exception as e:  # BadZipFile, EOFError, zlib.error, ... from a damaged archive
        raise CheckpointError(
            f"{name} is truncated or corrupted ({type(e).__name__}: {e})"
        ) from None


def _decode(node, arrays: dict, tensors: dict, target, where: str):
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if not isinstance(node, dict) or len(node) == 0:
        raise CheckpointError(f"{where}: malformed tree node {str(node)[:60]}")
    if "dict" in node:
        out = {}
        for item in _expect_list(node["dict"], where):
            if not isinstance(item, list) or len(item) != 2:
                raise CheckpointError(f"{where}: malformed dict item")
            key = item[0]
            if isinstance(key, (list, dict)):
                raise CheckpointError(f"{where}: malformed dict key")
            out[key] = _decode(item[1], arrays, tensors, target, f"{where}[{key!r}]")
        return out
    if "list" in node:
        return [_decode(v, arrays, tensors, target, f"{where}[{i}]")
                for i, v in enumerate(_expect_list(node["list"], where))]
    if "tuple" in node:
        return tuple(_decode(v, arrays, tensors, target, f"{where}[{i}]")
                     for i, v in enumerate(_expect_list(node["tuple"], where)))
    if "tensor" in node:
        key = node["tensor"]
        if key not in tensors:
            array = _array(arrays, key, where)
            try:
                backend.check_dtype(array.dtype)
            except TypeError as e:
                raise CheckpointError(f"{where}: {e}") from None
            device = target if target is not None else node.get("device", backend.CPU)
            try:
                device = backend.normalize_device(device)
                if device == backend.GPU:
                    backend.require_gpu()
            except (ValueError, RuntimeError) as e:
                raise CheckpointError(
                    f"{where} was saved on device {node.get('device')!r}, which cannot be used "
                    f"here ({e}); pass map_location='cpu'"
                ) from None
            tensor = Tensor(array, device=device)
            if node.get("requires_grad") and array.dtype.kind == "f":
                tensor.requires_grad = True
            tensors[key] = tensor
        return tensors[key]
    if "ndarray" in node:
        return _array(arrays, node["ndarray"], where)
    if "scalar" in node:
        return _array(arrays, node["scalar"], where)[()]
    raise CheckpointError(f"{where}: unknown tree node with keys {sorted(node)[:5]}")


def _expect_list(value, where: str) -> list:
    if not isinstance(value, list):
        raise CheckpointError(f"{where}: malformed tree node")
    return value


def _array(arrays: dict, key, where: str) -> np.ndarray:
    if not isinstance(key, str) or key not in arrays or key == HEADER:
        raise CheckpointError(f"{where} refers to array {key!r}, which the file does not contain")
    return arrays[key]
