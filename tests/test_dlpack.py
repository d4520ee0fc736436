"""DLPack and from_numpy: zero-copy exchange with NumPy, PyTorch and CuPy. Each test writes
through one library's view and reads the change through the other's."""

import numpy as np
import pytest

import tinygrad_cnn as tc
from tests.conftest import CUDA_SKIP_REASON


def test_from_numpy_shares_memory():
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = tc.from_numpy(array)
    assert t.device == "cpu" and t.dtype == np.float32 and t.shape == (2, 3)
    array[0, 1] = 100.0
    assert t[0, 1].item() == 100.0
    t[1, 2] = -7.0  # Tensor.__setitem__ writes in place
    assert array[1, 2] == -7.0
    strided = np.arange(12.0).reshape(3, 4)[:, ::2]  # a non-contiguous view is shared too
    ts = tc.from_numpy(strided)
    strided[2, 1] = 0.5
    assert ts[2, 1].item() == 0.5


def test_from_numpy_ignores_the_default_device(monkeypatch):
    monkeypatch.setattr(tc.backend, "get_default_device", lambda: "gpu")
    array = np.ones(3)
    assert np.shares_memory(tc.from_numpy(array).data, array)


@pytest.mark.parametrize(
    "bad,error,match",
    [
        (np.ones(3, dtype=">f4"), TypeError, r"byte order .*'>f4'.*tc\.tensor\(array\) copies"),
        (np.ones(3, dtype=np.complex64), TypeError, "from_numpy: unsupported dtype 'complex64'"),
        (np.ones(3, dtype=np.uint16), TypeError, "from_numpy: unsupported dtype 'uint16'"),
        ([1.0, 2.0], TypeError, "expected a NumPy ndarray, got list"),
    ],
)
def test_from_numpy_errors(bad, error, match):
    with pytest.raises(error, match=match):
        tc.from_numpy(bad)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int64, np.int32,
                                   np.int8, np.uint8, np.bool_])
def test_numpy_round_trip_through_dlpack_shares_memory(dtype):
    array = np.zeros((3, 4), dtype=dtype)
    t = tc.from_dlpack(array)
    assert t.dtype == np.dtype(dtype) and t.shape == (3, 4)
    array[1, 2] = 1
    assert t[1, 2].item() == 1
    back = np.from_dlpack(t)  # Tensor.__dlpack__
    assert back.dtype == np.dtype(dtype) and np.shares_memory(back, array)
    back[0, 0] = 1
    assert t[0, 0].item() == 1 and array[0, 0] == 1


@pytest.mark.cpu_only("DLPack exchange of CPU memory with NumPy / PyTorch-CPU")
def test_dlpack_keeps_strides_and_devices():
    t = tc.Tensor(np.arange(24.0).reshape(2, 3, 4)).permute(2, 0, 1)  # a non-contiguous view
    assert t.__dlpack_device__() == (1, 0)
    back = np.from_dlpack(t)
    np.testing.assert_array_equal(back, t.numpy())
    assert np.shares_memory(back, t.data)
    assert tc.from_dlpack(t).data is t.data


@pytest.mark.cpu_only("DLPack exchange of CPU memory with NumPy / PyTorch-CPU")
def test_a_tensor_that_requires_grad_is_not_exported():
    w = tc.Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"require[s]? grad.*detach\(\)"):
        np.from_dlpack(w)
    shared = np.from_dlpack(w.detach())  # as in PyTorch: detach first, memory still shared
    shared[0] = 5.0
    assert w[0].item() == 5.0


class OnDevice:
    """An array-like that claims to live on another DLPack device."""

    def __init__(self, device_type):
        self.device_type = device_type

    def __dlpack_device__(self):
        return (self.device_type, 0)

    def __dlpack__(self, **kwargs):
        raise AssertionError("from_dlpack should refuse before asking for the capsule")


def test_unsupported_devices_and_objects():
    with pytest.raises(ValueError, match=r"on Metal \(DLPack device type 8\).*CPU \(NumPy\) or a "
                                         r"CUDA GPU"):
        tc.from_dlpack(OnDevice(8))
    with pytest.raises(ValueError, match=r"on ROCm"):
        tc.from_dlpack(OnDevice(10))
    with pytest.raises(TypeError, match="expected an array with __dlpack__.*got list"):
        tc.from_dlpack([1.0, 2.0])
    capsule = np.ones(2).__dlpack__()
    with pytest.raises(TypeError, match="bare DLPack capsule"):
        tc.from_dlpack(capsule)
    if not tc.gpu_available():
        with pytest.raises(RuntimeError, match=r"from_dlpack: the array is on CUDA device 0, "
                                               r"which needs the gpu device"):
            tc.from_dlpack(OnDevice(2))


def test_unsupported_dtypes():
    with pytest.raises(TypeError, match="from_dlpack: unsupported dtype 'complex64'"):
        tc.from_dlpack(np.ones(2, dtype=np.complex64))
    with pytest.raises(TypeError, match="from_dlpack: unsupported dtype 'uint32'"):
        tc.from_dlpack(np.ones(2, dtype=np.uint32))


# --------------------------------------------------------------------------- PyTorch


@pytest.mark.cpu_only("DLPack exchange of CPU memory with NumPy / PyTorch-CPU")
def test_torch_cpu_both_ways_share_memory():
    torch = pytest.importorskip("torch", reason="PyTorch is an optional test oracle")
    source = torch.zeros(2, 3)
    t = tc.from_dlpack(source)
    assert t.dtype == np.float32 and t.shape == (2, 3) and t.device == "cpu"
    source[1, 1] = 4.0
    assert t[1, 1].item() == 4.0
    t[0, 2] = -1.0
    assert source[0, 2].item() == -1.0

    mine = tc.Tensor(np.arange(6, dtype=np.float64).reshape(2, 3))
    theirs = torch.from_dlpack(mine)
    assert theirs.dtype == torch.float64 and tuple(theirs.shape) == (2, 3)
    theirs.mul_(2)  # an in-place PyTorch op on our memory
    np.testing.assert_array_equal(mine.numpy(), 2 * np.arange(6.0).reshape(2, 3))
    for dtype in (torch.int64, torch.uint8, torch.bool, torch.float16, torch.int8):
        x = torch.ones(4, dtype=dtype)
        assert tc.from_dlpack(x).tolist() == x.tolist()
        assert torch.equal(torch.from_dlpack(tc.from_dlpack(x)), x)


def test_torch_errors():
    torch = pytest.importorskip("torch", reason="PyTorch is an optional test oracle")
    with pytest.raises((RuntimeError, BufferError, TypeError), match=r"from_dlpack: .*bfloat16"):
        tc.from_dlpack(torch.ones(2, dtype=torch.bfloat16))
    with pytest.raises(BufferError, match=r"from_dlpack: .*detach"):
        tc.from_dlpack(torch.ones(2, requires_grad=True))
    assert tc.from_dlpack(torch.ones(2, requires_grad=True).detach()).tolist() == [1.0, 1.0]


# --------------------------------------------------------------------------- GPU


def test_cupy_both_ways_share_memory(device):
    if device != "gpu":
        pytest.skip("the CuPy exchange is tested on the gpu device")
    if CUDA_SKIP_REASON:
        pytest.skip(CUDA_SKIP_REASON)
    import cupy

    source = cupy.zeros((2, 3), dtype=cupy.float32)
    t = tc.from_dlpack(source)
    assert t.device == "gpu" and t.data.data.ptr == source.data.ptr
    source[1, 1] = 3.0
    assert t[1, 1].item() == 3.0
    mine = tc.ones(4, device="gpu")
    theirs = cupy.from_dlpack(mine)
    theirs *= 2
    assert mine.tolist() == [2.0] * 4
    assert mine.__dlpack_device__()[0] == 2  # kDLCUDA
    torch = pytest.importorskip("torch", reason="PyTorch is an optional test oracle")
    if not torch.cuda.is_available():
        pytest.skip("PyTorch here has no CUDA")
    x = torch.zeros(3, device="cuda")
    tx = tc.from_dlpack(x)
    x += 1
    assert tx.tolist() == [1.0] * 3
