"""tc.save / tc.load: round trips, map_location, bad files, no code execution, atomic saves.

Tests that take the ``fmt`` fixture run for both file formats (safetensors and .npz)."""

import io
import json
import math
import os
import pickle
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

import tinygrad_cnn as tc
from tests.devices import default_device
from tinygrad_cnn import optim
from tinygrad_cnn.serialization import HEADER, CheckpointError


@pytest.fixture(params=["npz", "safetensors"])
def fmt(request):
    """Each checkpoint file format in turn."""
    return request.param


def sample_tree():
    w = tc.Tensor(np.arange(6, dtype=np.float32).reshape(2, 3), requires_grad=True)
    return {
        "model": OrderedDict([("z.weight", w), ("a.bias", tc.Tensor(np.array([0.5, -1.5])))]),
        "tensors": [
            tc.Tensor(np.array(3.25)),  # 0-d
            tc.Tensor(np.zeros((0, 3), dtype=np.float16)),  # empty
            tc.Tensor(np.array([1, -2, 3], dtype=np.int64)),
            tc.Tensor(np.array([[True, False]])),
            tc.Tensor(np.array([7, 255], dtype=np.uint8)),
            tc.Tensor(np.asfortranarray(np.arange(12.0).reshape(3, 4))[:, ::2]),  # a strided view
        ],
        "numpy": np.array([[1.5, 2.5]], dtype=np.float64),
        # dtypes safetensors has no name for are stored as bytes, byte order kept
        "numpy_other": [np.array(["ab", "ç"]), np.array([1 + 2j]), np.arange(3, dtype=">f4"),
                        np.asfortranarray(np.ones((2, 3), np.uint16)), np.complex128(1j)],
        "numpy_scalar": np.float32(0.25),
        "numbers": (1, 2**70, -0.0, 1e-300, math.inf, 0.1 + 0.2),
        "flags": [True, False, None],
        "text": "épreuve ✓",
        7: "int key",
        2.5: "float key",
        "nested": {"empty_list": [], "empty_dict": {}, "empty_tuple": ()},
    }


def assert_same_tree(a, b, where="obj"):
    assert type(a) is type(b) or (isinstance(a, dict) and type(b) is dict) \
        or (isinstance(a, tc.Tensor) and type(b) is tc.Tensor), f"{where}: {type(a)} vs {type(b)}"
    if isinstance(a, dict):
        assert list(a) == list(b), f"{where}: key order"
        for k in a:
            assert type(k) is type(list(b)[list(a).index(k)])
            assert_same_tree(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_tree(x, y, f"{where}[{i}]")
    elif isinstance(a, tc.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape and a.requires_grad == b.requires_grad
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    elif isinstance(a, (np.ndarray, np.generic)):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b and (not isinstance(a, float) or math.copysign(1, a) == math.copysign(1, b))


def test_round_trip_keeps_types_dtypes_values_and_order(tmp_path, fmt):
    tree = sample_tree()
    path = tmp_path / "everything.ckpt"
    tc.save(tree, path, format=fmt)
    loaded = tc.load(path)
    assert_same_tree(tree, loaded)
    assert isinstance(loaded["numpy"], np.ndarray)
    assert isinstance(loaded["numpy_scalar"], np.float32)
    weight = loaded["model"]["z.weight"]
    assert weight.device == default_device() and weight.is_leaf
    # writable: the optimizers update parameters in place
    assert all(t.numpy().flags.writeable for t in loaded["tensors"])
    nan = tc.load(_save_bytes({"x": math.nan}, fmt))["x"]
    assert math.isnan(nan)


def _save_bytes(obj, fmt=None) -> io.BytesIO:
    buffer = io.BytesIO()
    tc.save(obj, buffer, format=fmt)
    buffer.seek(0)
    return buffer


def test_file_objects_and_shared_tensors(fmt):
    t = tc.Tensor(np.ones(3))
    loaded = tc.load(_save_bytes({"a": t, "b": [t], "c": tc.Tensor(np.ones(3))}, fmt))
    assert loaded["a"] is loaded["b"][0]  # one tensor stays one tensor
    assert loaded["a"] is not loaded["c"]


def test_file_is_a_plain_npz_without_pickle(tmp_path):
    path = tmp_path / "c.npz"
    tc.save({"w": tc.Tensor(np.arange(3.0)), "epoch": 3}, path)
    with np.load(path, allow_pickle=False) as data:
        header = json.loads(bytes(data[HEADER]).decode("utf-8"))
        assert header["format"] == "tinygrad_cnn.checkpoint" and header["version"] == 1
        assert sorted(data.files) == sorted([HEADER, "a0"])
        np.testing.assert_array_equal(data["a0"], np.arange(3.0))
    assert not any(name.endswith(".tmp") for name in os.listdir(tmp_path))
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask


def test_map_location(device, tmp_path, fmt):
    path = tmp_path / "d.ckpt"
    x = tc.Tensor(np.arange(4, dtype=np.float32), device=device)
    tc.save({"x": x, "n": np.arange(2)}, path, format=fmt)
    assert tc.load(path)["x"].device == device  # default: where it was saved from
    on_cpu = tc.load(path, map_location="cpu")
    assert on_cpu["x"].device == "cpu" and on_cpu["x"].dtype == np.float32
    assert isinstance(on_cpu["n"], np.ndarray)  # NumPy arrays stay NumPy arrays
    moved = tc.load(path, map_location=device)
    assert moved["x"].device == device
    np.testing.assert_array_equal(moved["x"].numpy(), np.arange(4))
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        tc.load(path, map_location="tpu")


def write_custom_npz(path, header, **arrays):
    """An npz with a hand-made header, for files this library would never write."""
    text = header if isinstance(header, str) else json.dumps(header)
    np.savez(path, **{HEADER: np.frombuffer(text.encode(), dtype=np.uint8)}, **arrays)


def test_gpu_checkpoint_on_a_machine_without_gpu(tmp_path):
    if tc.gpu_available():
        pytest.skip("this machine has a GPU")
    path = tmp_path / "gpu.npz"
    header = {"format": "tinygrad_cnn.checkpoint", "version": 1,
              "tree": {"dict": [["w", {"tensor": "a0", "device": "gpu", "requires_grad": False}]]}}
    write_custom_npz(path, header, a0=np.ones(2))
    with pytest.raises(CheckpointError, match=r"saved on device 'gpu'.*map_location='cpu'"):
        tc.load(path)
    assert tc.load(path, map_location="cpu")["w"].device == "cpu"


# --------------------------------------------------------------------------- bad files


class RunsCode:
    """Unpickling this runs code: it writes a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('ran')",))


def test_loading_a_malicious_pickle_never_runs_it(tmp_path):
    marker = tmp_path / "marker"
    payload = pickle.dumps({"model": RunsCode(marker)})
    path = tmp_path / "evil.pt"
    path.write_bytes(payload)
    with pytest.raises(CheckpointError, match="evil.pt.*never unpickles"):
        tc.load(path)
    assert not marker.exists()
    # the same payload hidden in an npz object array
    np.savez(tmp_path / "evil.npz", **{HEADER: np.frombuffer(b"{}", dtype=np.uint8),
                                       "a0": np.array([RunsCode(marker)], dtype=object)})
    with pytest.raises(CheckpointError, match="object array"):
        tc.load(tmp_path / "evil.npz")
    assert not marker.exists()
    pickle.loads(payload)  # proof that the payload is live: pickle itself does run it
    assert marker.read_text() == "ran"


@pytest.fixture
def good_checkpoint(tmp_path, fmt):
    path = tmp_path / "good.ckpt"
    tc.save({"w": tc.Tensor(np.random.default_rng(0).normal(size=(64, 64))), "epoch": 1}, path,
            format=fmt)
    return path


def test_truncated_file(good_checkpoint):
    data = good_checkpoint.read_bytes()
    for keep in (len(data) // 2, len(data) - 10, 30, 0):
        good_checkpoint.write_bytes(data[:keep])
        with pytest.raises(CheckpointError, match=r"good\.ckpt.*(truncated|corrupted|not a)"):
            tc.load(good_checkpoint)


def test_corrupted_bytes_are_detected(good_checkpoint):
    data = bytearray(good_checkpoint.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside the array's data: the CRC-32 no longer matches
    good_checkpoint.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"good\.ckpt' is (truncated or )?corrupted.*CRC"):
        tc.load(good_checkpoint)


def test_foreign_files(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("just some text\n")
    with pytest.raises(CheckpointError, match=r"notes\.txt' is not a tinygrad_cnn checkpoint"):
        tc.load(text)
    np.savez(tmp_path / "other.npz", weights=np.ones(3))
    with pytest.raises(CheckpointError, match=r"other\.npz' is a NumPy \.npz file but not a "
                                              r"tinygrad_cnn checkpoint.*\['weights'\]"):
        tc.load(tmp_path / "other.npz")
    np.save(tmp_path / "single.npy", np.ones(3))
    with pytest.raises(CheckpointError, match="single NumPy array"):
        tc.load(tmp_path / "single.npy")
    with pytest.raises(FileNotFoundError):
        tc.load(tmp_path / "missing.ckpt")
    assert issubclass(CheckpointError, ValueError)


@pytest.mark.parametrize(
    "header,arrays,match",
    [
        ("{not json", {}, "header is corrupted"),
        ({"format": "something else", "tree": None}, {}, "not a tinygrad_cnn header"),
        ({"format": "tinygrad_cnn.checkpoint", "version": 99, "tree": None}, {}, "version 99"),
        ({"format": "tinygrad_cnn.checkpoint", "version": 1, "tree": {"tensor": "a7"}}, {},
         "refers to array 'a7'"),
        ({"format": "tinygrad_cnn.checkpoint", "version": 1, "tree": {"weird": 1}}, {},
         "unknown tree node"),
        ({"format": "tinygrad_cnn.checkpoint", "version": 1, "tree": {"dict": [[1]]}}, {},
         "malformed dict item"),
        ({"format": "tinygrad_cnn.checkpoint", "version": 1, "tree": {"tensor": "a0"}},
         {"a0": np.ones(2, dtype=np.complex64)}, "unsupported dtype 'complex64'"),
    ],
)
def test_malformed_headers(tmp_path, header, arrays, match):
    path = tmp_path / "bad.npz"
    write_custom_npz(path, header, **arrays)
    with pytest.raises(CheckpointError, match=match):
        tc.load(path)


def test_deeply_nested_header_is_an_error_not_a_crash(tmp_path):
    path = tmp_path / "deep.npz"
    tree = '{"list": [' * 100_000 + "1" + "]}" * 100_000
    write_custom_npz(path, '{"format": "tinygrad_cnn.checkpoint", "version": 1, "tree": '
                     + tree + "}")
    with pytest.raises(CheckpointError, match="deep.npz"):
        tc.load(path)


# --------------------------------------------------------------------------- saving


def test_a_failed_save_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "model.ckpt"
    old = {"w": tc.Tensor(np.arange(1000.0)), "epoch": 1}
    tc.save(old, path, format="npz")
    real_write_array = np.lib.format.write_array
    calls = []

    def write_then_fail(fp, array, *args, **kwargs):
        calls.append(array.shape)
        if len(calls) == 2:  # the first array is written, then the "disk" fails
            fp.write(b"\0" * 100)
            raise OSError("No space left on device")
        return real_write_array(fp, array, *args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", write_then_fail)
    new = {"w": tc.Tensor(np.zeros(1000)), "b": tc.Tensor(np.ones(5)), "epoch": 2}
    with pytest.raises(OSError, match="model.ckpt'.*No space left"):
        tc.save(new, path, format="npz")
    assert len(calls) == 2
    monkeypatch.undo()
    loaded = tc.load(path)
    assert loaded["epoch"] == 1
    np.testing.assert_array_equal(loaded["w"].numpy(), np.arange(1000.0))
    assert os.listdir(tmp_path) == ["model.ckpt"]  # the temporary file was removed


def test_save_rejects_what_it_cannot_store(tmp_path):
    path = tmp_path / "x.ckpt"
    with pytest.raises(TypeError, match=r"obj\['model'\]\['layer'\] is a set"):
        tc.save({"model": {"layer": {1, 2}}}, path)
    with pytest.raises(TypeError, match=r"obj\[0\] is a function"):
        tc.save([lambda: 1], path)
    with pytest.raises(TypeError, match=r"key of type tuple \(\(1, 2\)\)"):
        tc.save({(1, 2): 3}, path)
    with pytest.raises(TypeError, match="dtype object"):
        tc.save({"a": np.array([None])}, path)
    loop = {"a": []}
    loop["a"].append(loop)
    with pytest.raises(ValueError, match=r"obj\['a'\]\[0\] contains itself"):
        tc.save(loop, path)
    assert not path.exists() and os.listdir(tmp_path) == []


# --------------------------------------------------------------------------- training resume


def test_model_optimizer_scheduler_checkpoint_resumes_bit_for_bit(tmp_path):
    nn = tc.nn
    rng = np.random.default_rng(1)
    x = tc.Tensor(rng.normal(size=(16, 5)))
    y = tc.Tensor(rng.normal(size=(16, 2)))

    def build():
        tc.manual_seed(0)
        model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 2)).double()
        opt = optim.Adam(model.parameters(), lr=0.01, amsgrad=True)
        return model, opt, optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)

    def run(model, opt, scheduler, epochs):
        for _ in range(epochs):
            opt.zero_grad()
            r = model(x) - y
            (r * r).mean().backward()
            opt.step()
            scheduler.step()

    model, opt, scheduler = build()
    run(model, opt, scheduler, 20)
    uninterrupted = {k: v.numpy().copy() for k, v in model.state_dict().items()}

    model, opt, scheduler = build()
    run(model, opt, scheduler, 10)
    tc.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
             "scheduler": scheduler.state_dict(), "epoch": 10}, tmp_path / "run.ckpt")
    del model, opt, scheduler

    model, opt, scheduler = build()
    checkpoint = tc.load(tmp_path / "run.ckpt")
    model.load_state_dict(checkpoint["model"])
    opt.load_state_dict(checkpoint["optimizer"])
    scheduler.load_state_dict(checkpoint["scheduler"])
    assert checkpoint["epoch"] == 10
    run(model, opt, scheduler, 10)
    resumed = model.state_dict()
    assert list(resumed) == list(uninterrupted)
    for key, value in uninterrupted.items():
        np.testing.assert_array_equal(resumed[key].numpy(), value, err_msg=key)


# --------------------------------------------------------------------------- docs


def python_blocks(path):
    """The ```python blocks of a Markdown page."""
    blocks, inside, current = [], False, []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() == "```python":
            inside, current = True, []
        elif line.strip() == "```" and inside:
            inside = False
            blocks.append("\n".join(current))
        elif inside:
            current.append(line)
    return blocks


def test_checkpoints_page_examples_run(capsys):
    pytest.importorskip("safetensors", reason="the page's safetensors example needs it")
    page = Path(__file__).resolve().parents[1] / "docs" / "checkpoints.md"
    blocks = python_blocks(page)
    assert len(blocks) == 4
    for i, block in enumerate(blocks):
        exec(compile(block, f"{page}:block{i}", "exec"), {"__name__": "docs_example"})
    out = capsys.readouterr().out
    assert "10 True" in out and "never unpickles" in out and "'fc.weight': tensor" in out
