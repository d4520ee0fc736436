"""The checkpoint tree, shared by both file formats: a JSON description of nested dicts, lists,
tuples, numbers, strings, bools and None, whose arrays are stored beside it by name.

Nodes: ``{"dict": [[key, node], ...]}``, ``{"list": [...]}``, ``{"tuple": [...]}``,
``{"tensor": name, "device": "cpu", "requires_grad": false}``, ``{"ndarray": name}``,
``{"scalar": name}``, and plain JSON for numbers, strings, booleans and null. An ``ndarray`` or
``scalar`` node whose dtype the file format cannot hold natively also has ``"dtype"`` (NumPy's
``dtype.str``, e.g. ``"<c16"``) and ``"shape"``: its array is stored as raw bytes (uint8).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from tinygrad_cnn import backend
from tinygrad_cnn.tensor import Tensor

FORMAT = "tinygrad_cnn.checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A file that is not a readable tinygrad_cnn checkpoint (truncated, corrupted or foreign)."""


# --------------------------------------------------------------------------- encode


class Encoder:
    """Turns an object into a tree node; ``arrays`` collects the arrays by the names it gives.

    ``name_array(path)`` picks the stored name of an array found at ``path`` (the keys and
    indices leading to it); ``native(dtype)`` says whether the format stores that dtype as is.
    """

    def __init__(self, name_array, native=lambda dtype: True):
        self.arrays: dict[str, np.ndarray] = {}
        self.name_array = name_array
        self.native = native
        self._tensor_names: dict[int, str] = {}
        self._active: set[int] = set()

    def encode(self, obj, where: str = "obj", path: tuple = ()):
        """The JSON node for ``obj`` (``where`` names it in error messages)."""
        if obj is None or type(obj) in (bool, int, float, str):
            return obj
        if isinstance(obj, str):
            return str(obj)
        if isinstance(obj, Tensor):
            if id(obj) not in self._tensor_names:  # a tensor saved twice is stored once
                self._tensor_names[id(obj)] = self._add(backend.to_numpy(obj.data), path)
            return {"tensor": self._tensor_names[id(obj)], "device": obj.device,
                    "requires_grad": obj.requires_grad}
        if isinstance(obj, (np.ndarray, np.generic)):
            kind = "ndarray" if isinstance(obj, np.ndarray) else "scalar"
            array = np.asarray(obj)
            if array.dtype.hasobject or array.dtype.kind == "V":
                raise TypeError(f"save: {where} has dtype {array.dtype}, which cannot be stored "
                                "without pickle")
            if self.native(array.dtype):
                return {kind: self._add(array, path)}
            raw = np.frombuffer(np.ascontiguousarray(array).tobytes(), dtype=np.uint8)
            return {kind: self._add(raw, path), "dtype": array.dtype.str,
                    "shape": list(array.shape)}
        if backend.is_gpu_array(obj):
            raise TypeError(f"save: {where} is a CuPy array; wrap it in a Tensor or call .get() "
                            "first")
        if isinstance(obj, (dict, list, tuple)):
            if id(obj) in self._active:
                raise ValueError(f"save: {where} contains itself (a reference cycle)")
            self._active.add(id(obj))
            if isinstance(obj, dict):
                items = []
                for key, value in obj.items():
                    if key is not None and not isinstance(key, (str, int, float, bool)):
                        raise TypeError(
                            f"save: {where} has a key of type {type(key).__name__} ({key!r}); "
                            "keys must be str, int, float, bool or None"
                        )
                    items.append([key, self.encode(value, f"{where}[{key!r}]", path + (key,))])
                node = {"dict": items}
            else:
                kind = "list" if isinstance(obj, list) else "tuple"
                node = {kind: [self.encode(v, f"{where}[{i}]", path + (i,))
                               for i, v in enumerate(obj)]}
            self._active.discard(id(obj))
            return node
        if isinstance(obj, numbers.Integral):
            return int(obj)
        if isinstance(obj, numbers.Real):
            return float(obj)
        raise TypeError(
            f"save: {where} is a {type(obj).__name__}, which a checkpoint cannot hold; use "
            "Tensors, NumPy arrays, numbers, strings, bools, None, and dicts/lists/tuples of them"
        )

    def _add(self, array: np.ndarray, path: tuple) -> str:
        name = self.name_array(path)
        self.arrays[name] = array
        return name


def header(tree) -> dict:
    """The checkpoint's JSON header: this format's name and version, and the encoded
    ``tree``."""
    return {"format": FORMAT, "version": VERSION, "tree": tree}


# --------------------------------------------------------------------------- decode


def check_header(value) -> object:
    """The tree of a decoded JSON header; CheckpointError (without the file name) if it is not
    one of ours or of another version."""
    if not isinstance(value, dict) or value.get("format") != FORMAT or "tree" not in value:
        raise CheckpointError("the checkpoint header is not a tinygrad_cnn header")
    if value.get("version") != VERSION:
        raise CheckpointError(
            f"checkpoint format version {value.get('version')!r}, this tinygrad_cnn reads "
            f"version {VERSION}"
        )
    return value["tree"]


def decode(tree, arrays: dict, target):
    """The object that ``tree`` describes, with ``arrays`` (name -> NumPy array) put in place.

    Tensors go to ``target`` ("cpu"/"gpu") or, when it is None, to the device they were saved
    from. Every malformed node raises CheckpointError naming where it is.
    """
    try:
        return _decode(tree, arrays, {}, target, "obj")
    except RecursionError:
        raise CheckpointError("the checkpoint's tree is nested too deeply") from None


def _decode(node, arrays: dict, tensors: dict, target, where: str):
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if not isinstance(node, dict) or len(node) == 0:
        raise CheckpointError(f"{where}: malformed tree node {str(node)[:60]}")
    if "dict" in node:
        out = {}
        for item in _expect_list(node["dict"], where):
            if not isinstance(item, list) or len(item) != 2:
                raise CheckpointError(f"{where}: malformed dict item {str(item)[:60]}")
            key = item[0]
            if key is not None and not isinstance(key, (str, int, float, bool)):
                raise CheckpointError(f"{where}: malformed dict key {str(key)[:60]}")
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
        if not isinstance(key, str):
            raise CheckpointError(f"{where}: malformed tensor node, its array name is "
                                  f"{str(key)[:60]}, not a string")
        if key not in tensors:
            tensors[key] = _tensor(node, _array(arrays, key, where), target, where)
        return tensors[key]
    if "ndarray" in node:
        return _typed(node, _array(arrays, node["ndarray"], where), where)
    if "scalar" in node:
        array = _typed(node, _array(arrays, node["scalar"], where), where)
        if array.ndim != 0:
            raise CheckpointError(f"{where}: a scalar node with an array of shape {array.shape}")
        return array[()]
    raise CheckpointError(f"{where}: unknown tree node with keys {sorted(map(str, node))[:5]}")


def _tensor(node: dict, array: np.ndarray, target, where: str) -> Tensor:
    if not array.dtype.isnative:  # e.g. a big-endian array written on another machine
        array = array.astype(array.dtype.newbyteorder("="))
    try:
        backend.check_dtype(array.dtype)
    except TypeError as e:
        raise CheckpointError(f"{where}: {e}") from None
    saved_on = node.get("device", backend.CPU)
    device = target if target is not None else saved_on
    try:
        device = backend.normalize_device(device)
        if device == backend.GPU:
            backend.require_gpu()
    except (ValueError, RuntimeError, TypeError, AttributeError) as e:
        raise CheckpointError(
            f"{where} was saved on device {str(saved_on)[:40]!r}, which cannot be used here "
            f"({e}); pass map_location='cpu'"
        ) from None
    requires_grad = node.get("requires_grad", False)
    if not isinstance(requires_grad, bool):
        raise CheckpointError(f"{where}: requires_grad is {str(requires_grad)[:40]}, not a bool")
    tensor = Tensor(array, device=device)
    if requires_grad and array.dtype.kind == "f":
        tensor.requires_grad = True
    return tensor


def _typed(node: dict, array: np.ndarray, where: str) -> np.ndarray:
    """The array of an ndarray/scalar node; raw bytes are viewed as the node's dtype and shape."""
    if "dtype" not in node:
        return array
    dtype, shape = node.get("dtype"), node.get("shape")
    try:
        if not isinstance(dtype, str) or len(dtype) > 40:
            raise TypeError("not a short string")
        dtype = np.dtype(dtype)
    except (TypeError, ValueError, SyntaxError) as e:
        raise CheckpointError(f"{where}: bad dtype {str(dtype)[:40]!r} ({e})") from None
    if dtype.hasobject or dtype.kind == "V" or dtype.itemsize == 0:
        raise CheckpointError(f"{where}: dtype {dtype} cannot be loaded without pickle")
    if (not isinstance(shape, list) or len(shape) > 64
            or not all(type(s) is int and s >= 0 for s in shape)):
        raise CheckpointError(f"{where}: bad shape {str(shape)[:60]}")
    nbytes = math.prod(shape) * dtype.itemsize
    if array.dtype != np.uint8 or array.ndim != 1 or array.size != nbytes:
        raise CheckpointError(f"{where}: {array.size} stored bytes do not hold a {dtype} array of "
                              f"shape {tuple(shape)}")
    return array.view(dtype).reshape(shape)


def _expect_list(value, where: str) -> list:
    if not isinstance(value, list):
        raise CheckpointError(f"{where}: malformed tree node")
    return value


def _array(arrays: dict, key, where: str) -> np.ndarray:
    if not isinstance(key, str) or key not in arrays:
        raise CheckpointError(f"{where} refers to array {str(key)[:60]!r}, which the file does "
                              "not contain")
    return arrays[key]
