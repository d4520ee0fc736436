"""rand_like, randn_like, randint_like, as_tensor, numel, is_tensor: shapes, dtypes and devices
as PyTorch's, the seeded generator, memory shared where torch.as_tensor shares it, and each bad
argument's exact message."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tests.devices import default_device, shares_memory
from tinygrad_cnn.testing import strategies as tst

SHAPES_0D = tst.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)


@given(shape=SHAPES_0D, dtype=st.sampled_from([tc.float16, tc.float32, tc.float64]))
def test_random_like_keep_shape_and_dtype(shape, dtype):
    source = tc.zeros(shape, dtype=dtype)
    for make in (tc.rand_like, tc.randn_like):
        out = make(source)
        assert out.shape == tuple(shape) and out.dtype == dtype and not out.requires_grad
        assert out.device == source.device
    u = tc.rand_like(source).numpy()
    assert u.size == 0 or (u.min() >= 0.0 and u.max() <= 1.0)   # float16 may round up to 1
    r = tc.randint_like(source, -2, 3).numpy()
    assert r.dtype == dtype and (r.size == 0 or (r.min() >= -2 and r.max() <= 2))
    np.testing.assert_array_equal(r, np.round(r))                 # integers, in a float dtype


def test_random_like_options_and_device(device):
    source = tc.zeros((3, 4), dtype=tc.int32, device=device)
    out = tc.rand_like(source, dtype=tc.float64, requires_grad=True)
    assert out.dtype == np.float64 and out.requires_grad and out.is_leaf
    assert out.device == tc.backend.normalize_device(device)
    assert tc.randn_like(tc.zeros(2, device=device), device="cpu").device == "cpu"
    ints = tc.randint_like(source, 5)
    assert ints.dtype == np.int32 and ints.device == tc.backend.normalize_device(device)
    wide = tc.randint_like(source, 10, dtype=tc.int64).numpy()
    assert wide.dtype == np.int64 and wide.min() >= 0 and wide.max() < 10
    flags = tc.randint_like(tc.zeros(50, dtype=tc.bool_, device=device), 2).numpy()
    assert flags.dtype == np.bool_ and flags.any() and not flags.all()
    bytes_ = tc.randint_like(tc.zeros(400, dtype=tc.uint8), 250, 256).numpy()
    assert bytes_.min() >= 250 and bytes_.max() == 255
    floats = tc.randint_like(tc.zeros(5, dtype=tc.float64), 3, requires_grad=True)
    assert floats.requires_grad


def test_random_like_draw_from_the_seeded_generator():
    source = tc.zeros((2, 3), dtype=tc.float64)
    tc.manual_seed(7)
    first = [tc.rand_like(source).tolist(), tc.randn_like(source).tolist(),
             tc.randint_like(source, 1, 100).tolist()]
    tc.manual_seed(7)
    assert [tc.rand(2, 3, dtype=tc.float64).tolist(), tc.randn(2, 3, dtype=tc.float64).tolist(),
            tc.randint(1, 100, (2, 3), dtype=tc.float64).tolist()] == first
    tc.manual_seed(8)
    assert tc.rand_like(source).tolist() != first[0]


def test_random_like_distributions():
    source = tc.zeros(20000, dtype=tc.float64)
    u, n = tc.rand_like(source).numpy(), tc.randn_like(source).numpy()
    assert abs(u.mean() - 0.5) < 0.01 and abs(u.var() - 1 / 12) < 0.005
    assert abs(n.mean()) < 0.03 and abs(n.std() - 1) < 0.03
    r = tc.randint_like(tc.zeros(20000, dtype=tc.int64), 3, 7).numpy()
    assert set(np.unique(r).tolist()) == {3, 4, 5, 6}
    assert tc.randint_like(tc.zeros(500, dtype=tc.int64), high=4).numpy().max() == 3
    assert tc.randint_like(tc.zeros(500, dtype=tc.int64), low=-4, high=-2).numpy().min() == -4


# ---------------------------------------------------------------------- as_tensor


@pytest.mark.cpu_only("NumPy memory shared with a tensor on the CPU")
def test_as_tensor_shares_a_numpy_arrays_memory():
    a = np.arange(3.0)
    t = tc.as_tensor(a)
    a[0] = 9.0
    assert t.dtype == np.float64 and t.tolist() == [9.0, 1.0, 2.0] and shares_memory(t.data, a)
    assert shares_memory(tc.as_tensor(a, dtype=tc.float64, device="cpu").data, a)
    copied = tc.as_tensor(a, dtype=tc.float32)
    a[1] = 7.0
    assert copied.dtype == np.float32 and copied.tolist() == [9.0, 1.0, 2.0]


def test_as_tensor_of_a_device_array_and_of_a_tensor(device):
    x = tc.ones(3, device=device, requires_grad=True)
    assert tc.as_tensor(x) is x and tc.as_tensor(x, dtype=tc.float32, device=device) is x
    assert tc.as_tensor(x.data, device=device).data is x.data      # same array, no copy
    if x.device == tc.backend.GPU:                                 # a device array stays there
        assert tc.as_tensor(x.data).data is x.data
    y = tc.as_tensor(x, dtype=tc.float64)                         # x.to(dtype): differentiable
    assert y.dtype == np.float64 and y.device == x.device and y.grad_fn is not None
    (y * tc.tensor([1.0, 2.0, 3.0], dtype=tc.float64, device=device)).sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.tolist() == [1.0, 2.0, 3.0]
    h = tc.ones(2, requires_grad=True, device="cpu")
    moved = tc.as_tensor(h, device=device)
    assert moved.device == tc.backend.normalize_device(device)
    moved.sum().backward()
    assert h.grad.device == "cpu" and h.grad.tolist() == [1.0, 1.0]


def test_as_tensor_of_python_data():
    assert tc.as_tensor([1.0, 2.0]).dtype == np.float32                 # as torch: float32
    assert tc.as_tensor([1, 2]).dtype == np.int64
    assert tc.as_tensor(3.5).shape == () and tc.as_tensor(np.float64(3.5)).dtype == np.float64
    assert tc.as_tensor([1, 2], dtype=tc.float64).tolist() == [1.0, 2.0]
    assert tc.as_tensor([1.0], device="cpu").device == "cpu"
    assert tc.as_tensor([1.0]).device == default_device()
    assert not tc.as_tensor([1.0]).requires_grad


def test_as_tensor_dtypes_as_pytorch():
    torch = pytest.importorskip("torch", reason="PyTorch is an optional test oracle")
    for data in ([1.5, 2.0], [1, 2], [True], 3.0, np.arange(3, dtype=np.int32),
                 np.ones(2, dtype=np.float16), np.float64(2.0), np.array([[1, 2]], np.uint8)):
        ours, theirs = tc.as_tensor(data), torch.as_tensor(data)
        assert ours.dtype == np.dtype(str(theirs.dtype).replace("torch.", "")), data
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


# ---------------------------------------------------------------------- numel, is_tensor


@given(shape=SHAPES_0D)
def test_numel(shape):
    assert tc.numel(tc.zeros(shape)) == int(np.prod(shape, dtype=np.int64))
    assert type(tc.numel(tc.zeros(shape))) is int


def test_is_tensor():
    assert tc.is_tensor(tc.ones(2)) and tc.is_tensor(tc.nn.Parameter(tc.ones(2)))
    for obj in (np.ones(2), [1.0], 1.0, None, tc.ones(2).data):
        assert tc.is_tensor(obj) is False


# ---------------------------------------------------------------------- errors

INTS = tc.tensor([1, 2, 3])

ERRORS = [
    ("rand_like_int", lambda: tc.rand_like(INTS), TypeError,
     "rand_like: dtype must be floating point (float16, float32, float64), got int64; use "
     "randint_like for integers"),
    ("randn_like_bool", lambda: tc.randn_like(tc.tensor([True])), TypeError,
     "randn_like: dtype must be floating point (float16, float32, float64), got bool; use "
     "randint_like for integers"),
    ("rand_like_dtype", lambda: tc.rand_like(tc.ones(2), dtype=tc.int32), TypeError,
     "rand_like: dtype must be floating point (float16, float32, float64), got int32; use "
     "randint_like for integers"),
    ("rand_int", lambda: tc.rand(3, dtype=tc.int64), TypeError,
     "rand: dtype must be floating point (float16, float32, float64), got int64; use randint "
     "for integers"),
    ("randn_bool", lambda: tc.randn(3, dtype=tc.bool_), TypeError,
     "randn: dtype must be floating point (float16, float32, float64), got bool; use randint "
     "for integers"),
    ("rand_like_list", lambda: tc.rand_like([1.0]), TypeError,
     "rand_like: input must be a Tensor, got list"),
    ("randint_like_list", lambda: tc.randint_like([1], 3), TypeError,
     "randint_like: input must be a Tensor, got list"),
    ("randint_like_empty_range", lambda: tc.randint_like(INTS, 5, 3), ValueError,
     "randint_like: low (5) must be less than high (3)"),
    ("randint_like_zero_high", lambda: tc.randint_like(INTS, 0), ValueError,
     "randint_like: low (0) must be less than high (0)"),
    ("randint_like_float_high", lambda: tc.randint_like(INTS, 2.5), TypeError,
     "randint_like: high must be an int, got 2.5"),
    ("randint_like_float_low", lambda: tc.randint_like(INTS, 0.5, 3), TypeError,
     "randint_like: low must be an int, got 0.5"),
    ("randint_like_uint8", lambda: tc.randint_like(tc.tensor([1], dtype=tc.uint8), 300),
     ValueError, "randint_like: the range [0, 300) does not fit in uint8 ([0, 255])"),
    ("randint_like_uint8_low", lambda: tc.randint_like(tc.tensor([1], dtype=tc.uint8), -1, 3),
     ValueError, "randint_like: the range [-1, 3) does not fit in uint8 ([0, 255])"),
    ("randint_like_bool", lambda: tc.randint_like(tc.tensor([True]), 3), ValueError,
     "randint_like: the range [0, 3) does not fit in bool ([0, 1])"),
    ("randint_like_int8", lambda: tc.randint_like(INTS, -129, 0, dtype=tc.int8), ValueError,
     "randint_like: the range [-129, 0) does not fit in int8 ([-128, 127])"),
    ("randint_like_grad", lambda: tc.randint_like(INTS, 5, requires_grad=True), TypeError,
     "randint_like: only floating-point tensors can require gradients, the dtype is int64"),
    ("randint_uint8", lambda: tc.randint(0, 300, (3,), dtype=tc.uint8), ValueError,
     "randint: the range [0, 300) does not fit in uint8 ([0, 255])"),
    ("as_tensor_str", lambda: tc.as_tensor("a"), TypeError,
     "as_tensor: cannot make a tensor from a str: 'a'"),
    ("as_tensor_dtype", lambda: tc.as_tensor([1.0], dtype="complex64"), TypeError,
     "as_tensor: unsupported dtype 'complex64': tensors hold one of bool, uint8, int8, int16, "
     "int32, int64, float16, float32, float64"),
    ("numel_list", lambda: tc.numel([1, 2]), TypeError, "numel: input must be a Tensor, got list"),
]


@pytest.mark.parametrize("call,error,message", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_bad_arguments_name_the_factory_and_the_values(call, error, message):
    with pytest.raises(error) as info:
        call()
    assert str(info.value) == message
