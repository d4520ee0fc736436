"""tc.load on hostile and malformed files (issue 13, section 4), written by the tests: zip bombs,
sizes that disagree with headers, malformed trees, members that are not arrays, truncated and
flipped bytes, hostile safetensors headers; and non-native byte order, which is accepted."""

import io
import json
import re
import tracemalloc
import zipfile

import numpy as np
import pytest

import tinygrad_cnn as tc
from tinygrad_cnn.serialization import HEADER, CheckpointError

OURS = {"format": "tinygrad_cnn.checkpoint", "version": 1}


def npy_bytes(array=None, header=None, data=b""):
    """A .npy file: of ``array``, or a hand-written header dict literal followed by ``data``."""
    if array is not None:
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, array, allow_pickle=False)
        return buffer.getvalue()
    text = header.encode("latin1")
    text += b" " * (63 - (10 + len(text)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text + data


def header_member(tree):
    return npy_bytes(np.frombuffer(json.dumps({**OURS, "tree": tree}).encode(), np.uint8))


def write_zip(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        for name, data in members.items():
            z.writestr(name, data)


def one_tensor_tree(name="a0"):
    return {"dict": [["w", {"tensor": name, "device": "cpu", "requires_grad": False}]]}


def peak_memory(fn):
    """(exception raised by fn or None, peak bytes allocated while it ran)."""
    tracemalloc.start()
    try:
        fn()
        error = None
    except Exception as e:  # the caller checks which
        error = e
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return error, peak


# --------------------------------------------------------------------------- .npz


def test_zip_bomb_is_refused_before_inflating(tmp_path):
    path = tmp_path / "bomb.ckpt"
    n = 16 * 2**20  # 64 MiB of float32 zeros: its .npy header and zip sizes agree, but deflate
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:  # packs it ~1000x
        z.writestr(f"{HEADER}.npy", header_member(one_tensor_tree()))
        with z.open("a0.npy", "w", force_zip64=True) as member:
            member.write(npy_bytes(header=f"{{'descr': '<f4', 'fortran_order': False, "
                                          f"'shape': ({n},), }}"))
            zeros = bytes(2**20)
            for _ in range(4 * n // len(zeros)):
                member.write(zeros)
    assert path.stat().st_size < 2**20
    error, peak = peak_memory(lambda: tc.load(path))
    assert isinstance(error, CheckpointError), error
    assert "bomb.ckpt" in str(error) and "zip bomb" in str(error)
    assert peak < 8 * 2**20  # nothing near the 64 MiB it would inflate to was allocated


def test_a_compressed_checkpoint_that_is_not_a_bomb_loads(tmp_path):
    path = tmp_path / "compressed.ckpt"
    w = np.random.default_rng(0).normal(size=(50, 40))
    write_zip(path, {f"{HEADER}.npy": header_member(one_tensor_tree()), "a0.npy": npy_bytes(w)},
              compression=zipfile.ZIP_DEFLATED)
    np.testing.assert_array_equal(tc.load(path)["w"].numpy(), w)


@pytest.mark.parametrize("shape", ["(1000000000,)", "(2, 3)", "(4, 0, 100000000000)"])
def test_npy_header_that_disagrees_with_the_member_size(tmp_path, shape):
    path = tmp_path / "liar.ckpt"
    member = npy_bytes(header=f"{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}",
                       data=bytes(80))  # 10 float64s
    write_zip(path, {f"{HEADER}.npy": header_member(one_tensor_tree()), "a0.npy": member})
    error, peak = peak_memory(lambda: tc.load(path))
    assert isinstance(error, CheckpointError), error
    assert "liar.ckpt" in str(error) and "'a0.npy'" in str(error)
    assert "declares" in str(error) and "holds" in str(error)
    assert peak < 2**20


@pytest.mark.parametrize(
    "members,match",
    [
        ({"a0.npy": b"just some bytes, not an array"}, r"'a0\.npy' is not a \.npy array"),
        ({"a0.npy": npy_bytes(header="{'descr': '<f4', 'fortran_order': False, "
                                     "'shape': (-1,), }")}, "malformed .npy header"),
        ({"a0.npy": npy_bytes(header="__import__('os').system('echo hi')")},
         "malformed .npy header"),
        ({"a0.npy": npy_bytes(header="{'descr': [('x', '<f4')], 'fortran_order': False, "
                                     "'shape': (1,), }", data=bytes(4))}, "unsupported dtype"),
        ({"a0.npy": b"\x93NUMPY\x09\x00rest"}, "unsupported .npy format version"),
        ({"data.pkl": b"\x80\x04K\x01."}, r"zip archive but not a tinygrad_cnn checkpoint.*"
                                          r"data\.pkl.*never unpickles"),
    ],
)
def test_members_that_are_not_arrays(tmp_path, members, match):
    path = tmp_path / "odd.ckpt"
    write_zip(path, {f"{HEADER}.npy": header_member(one_tensor_tree()), **members})
    with pytest.raises(CheckpointError, match=r"odd\.ckpt.*" + match):
        tc.load(path)


@pytest.mark.parametrize(
    "tree,arrays,match",
    [
        ({"tensor": [1]}, {}, r"malformed tensor node, its array name is \[1\]"),
        ({"tensor": {"a": 1}}, {}, "malformed tensor node"),
        ({"ndarray": [1]}, {}, r"refers to array '\[1\]'"),
        ({"dict": [[[1], 2]]}, {}, "malformed dict key"),
        ({"dict": [[{"k": 1}, 2]]}, {}, "malformed dict key"),
        ({"dict": "x"}, {}, "malformed tree node"),
        ({"list": {"a": 1}}, {}, "malformed tree node"),
        ([1, 2], {}, "malformed tree node"),
        ({}, {}, "malformed tree node"),
        ({"tensor": "a0", "device": 5}, {"a0": np.ones(2)}, "saved on device '5'"),
        ({"tensor": "a0", "device": ["gpu"]}, {"a0": np.ones(2)}, "saved on device"),
        ({"tensor": "a0", "requires_grad": "yes"}, {"a0": np.ones(2)}, "requires_grad is yes"),
        ({"scalar": "a0"}, {"a0": np.ones(2)}, r"scalar node with an array of shape \(2,\)"),
        ({"ndarray": "a0", "dtype": "O", "shape": [1]}, {"a0": np.zeros(8, np.uint8)},
         "cannot be loaded without pickle"),
        ({"ndarray": "a0", "dtype": "nonsense", "shape": [1]}, {"a0": np.zeros(8, np.uint8)},
         "bad dtype"),
        ({"ndarray": "a0", "dtype": "<f8", "shape": [2]}, {"a0": np.zeros(8, np.uint8)},
         r"8 stored bytes do not hold a float64 array of shape \(2,\)"),
        ({"ndarray": "a0", "dtype": "<f8", "shape": "big"}, {"a0": np.zeros(8, np.uint8)},
         "bad shape"),
        ({"tensor": "a0"}, {"a0": np.array(["text"])}, "unsupported dtype"),
    ],
)
def test_malformed_trees_raise_checkpoint_errors(tmp_path, tree, arrays, match):
    path = tmp_path / "hand.ckpt"
    members = {f"{HEADER}.npy": header_member(tree)}
    members.update({f"{k}.npy": npy_bytes(v) for k, v in arrays.items()})
    write_zip(path, members)
    with pytest.raises(CheckpointError, match=r"hand\.ckpt'?: .*" + match):
        tc.load(path)


@pytest.mark.parametrize("header", [np.ones(3), np.frombuffer(b"[1, 2]", np.uint8),
                                    np.frombuffer(b"\xff\xfe", np.uint8)])
def test_malformed_header_members(tmp_path, header):
    path = tmp_path / "hdr.ckpt"
    write_zip(path, {f"{HEADER}.npy": npy_bytes(header)})
    with pytest.raises(CheckpointError, match=r"hdr\.ckpt.*header"):
        tc.load(path)


@pytest.mark.parametrize("fmt", ["npz", "safetensors"])
def test_every_truncation_and_many_flipped_bytes_give_checkpoint_errors(tmp_path, fmt):
    """No other exception type, whatever part of the file is damaged."""
    path = tmp_path / "x.ckpt"
    tc.save({"w": tc.Tensor(np.arange(40.0).reshape(5, 8)), "b": [tc.ones(3), "s", 1.5],
             "n": np.arange(3)}, path, format=fmt)
    data = path.read_bytes()
    for keep in range(0, len(data), 7):
        path.write_bytes(data[:keep])
        with pytest.raises(CheckpointError, match=r"x\.ckpt"):
            tc.load(path)
    rng = np.random.default_rng(0)
    for position in rng.integers(0, len(data), size=300):
        damaged = bytearray(data)
        damaged[position] ^= 1 << int(rng.integers(8))
        path.write_bytes(bytes(damaged))
        try:
            tc.load(path)  # a flip in padding or an unchecked name may still load
        except CheckpointError as e:
            assert "x.ckpt" in str(e)


# --------------------------------------------------------------------------- byte order


def test_big_endian_arrays_load_as_native_tensors(tmp_path):
    path = tmp_path / "be.ckpt"
    tree = {"dict": [["w", {"tensor": "a0"}], ["i", {"tensor": "a1"}], ["raw", {"ndarray": "a2"}]]}
    write_zip(path, {f"{HEADER}.npy": header_member(tree),
                     "a0.npy": npy_bytes(np.arange(6, dtype=">f4").reshape(2, 3)),
                     "a1.npy": npy_bytes(np.array([1, -2], dtype=">i8")),
                     "a2.npy": npy_bytes(np.array([1.5], dtype=">f8"))})
    loaded = tc.load(path)
    assert loaded["w"].dtype == np.float32 and loaded["w"].dtype.isnative
    np.testing.assert_array_equal(loaded["w"].numpy(), np.arange(6).reshape(2, 3))
    assert loaded["i"].dtype == np.int64 and loaded["i"].tolist() == [1, -2]
    assert loaded["raw"].dtype == np.dtype(">f8")  # NumPy arrays stay as they were saved
    loaded["w"].data += 1  # a writable tensor that computes
    assert (loaded["w"] * 2).sum().item() == 2 * sum(range(1, 7))


@pytest.mark.parametrize("dtype", [">f4", ">f8", ">i4", ">i8", ">f2", "<f4"])
def test_tensor_accepts_non_native_byte_order(dtype):
    values = np.array([1.5, -2.0, 3.0]).astype(dtype)
    t = tc.Tensor(values)
    assert t.dtype == np.dtype(dtype).newbyteorder("=") and t.dtype.isnative
    np.testing.assert_array_equal(t.numpy(), values)
    assert tc.tensor(values).dtype == t.dtype
    np.testing.assert_array_equal((t + t).numpy(), 2 * values.astype(t.dtype))


# --------------------------------------------------------------------------- safetensors


def st_bytes(header, data=b"", length=None):
    """A safetensors file from a header dict and data bytes (``length`` overrides the size)."""
    text = json.dumps(header).encode()
    n = len(text) if length is None else length
    return n.to_bytes(8, "little") + text + data


def ours(tree, **extra):
    """tinygrad_cnn's safetensors metadata for ``tree``; ``extra`` replaces entries."""
    return {"format": "tinygrad_cnn.checkpoint", "version": "1", "tree": json.dumps(tree),
            **extra}


F32x2 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
BAD = "is a corrupted or truncated safetensors file"


@pytest.mark.parametrize(
    "content,match",
    [
        (st_bytes({"w": F32x2}, bytes(8), length=2**62), BAD + " .*header too large"),
        (st_bytes({"w": F32x2}, bytes(8), length=10**7), BAD),
        (st_bytes({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 10**12]}}, bytes(8)),
         BAD),
        (st_bytes({"w": {"dtype": "F32", "shape": [10**9], "data_offsets": [0, 8]}}, bytes(8)),
         BAD),
        (st_bytes({"a": F32x2, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}},
                  bytes(12)), BAD),  # overlapping byte ranges
        (st_bytes({"a": F32x2, "b": F32x2}, bytes(8)), BAD),  # the same range twice
        (st_bytes({"w": {"dtype": "XX", "shape": [2], "data_offsets": [0, 8]}}, bytes(8)),
         BAD),
        # NumPy cannot hold bfloat16, unless ml_dtypes (which onnx imports) registered it with
        # NumPy in this process: then the dtype check refuses it by name
        (st_bytes({"w": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}, bytes(4)),
         "a tensor NumPy cannot hold|unsupported dtype 'bfloat16'"),
        (b"\x05\x00\x00\x00\x00\x00\x00\x00{xyz}", BAD),
        (st_bytes({"w": F32x2, "__metadata__": ours({"tensor": [1]})}, bytes(8)),
         "malformed tensor node"),
        (st_bytes({"w": F32x2, "__metadata__": ours({"tensor": "zz"})}, bytes(8)),
         "refers to array 'zz'"),
        (st_bytes({"w": F32x2, "__metadata__": {**ours(None), "tree": "{not json"}}, bytes(8)),
         "header is corrupted"),
        (st_bytes({"w": F32x2, "__metadata__": {**ours({"tensor": "w"}), "version": "7"}},
                  bytes(8)), "version 7"),
        (st_bytes({"w": F32x2, "__metadata__": ours({"tensor": "w"}, crc32='{"w": 1}')},
                  bytes(8)), "CRC-32"),
        (st_bytes({"w": F32x2, "__metadata__": ours({"tensor": "w"}, crc32="[1]")},
                  bytes(8)), "header is corrupted"),
    ],
)
def test_hostile_safetensors_files(tmp_path, content, match):
    pytest.importorskip("safetensors", reason="reading .safetensors files needs safetensors")
    path = tmp_path / "evil.safetensors"
    path.write_bytes(content)
    error, peak = peak_memory(lambda: tc.load(path))
    assert isinstance(error, CheckpointError), repr(error)
    assert "evil.safetensors" in str(error)
    assert re.search(match, str(error)), str(error)
    assert peak < 2**20
    error, _ = peak_memory(lambda: tc.load(io.BytesIO(content)))  # file objects too
    assert isinstance(error, CheckpointError), repr(error)


# --------------------------------------------------------------------------- what is at the path


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="FIFOs are POSIX")
def test_load_refuses_a_fifo_instead_of_waiting_for_a_writer(tmp_path):
    import os
    import subprocess
    import sys

    fifo = tmp_path / "pipe.ckpt"
    os.mkfifo(fifo)
    code = ("import tinygrad_cnn as tc, sys\n"
            "try:\n    tc.load(sys.argv[1])\n"
            "except tc.CheckpointError as e:\n    print(e)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    try:  # open() of a FIFO blocks until someone writes: the timeout only guards against that
        out = subprocess.run([sys.executable, "-c", code, str(fifo)], capture_output=True,
                             text=True, timeout=120, env=env)
    except subprocess.TimeoutExpired:  # (subprocess.run has killed the blocked child)
        pytest.fail("tc.load blocked on a FIFO")
    assert "pipe.ckpt' is a FIFO (named pipe), not a regular file" in out.stdout, out


def test_load_needs_a_seekable_file_object():
    class Stream(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, b):
            return 0

        def seekable(self):
            return False

    with pytest.raises(CheckpointError, match="<Stream> is not seekable"):
        tc.load(Stream())
