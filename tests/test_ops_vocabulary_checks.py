"""mm, bmm, dot, outer, trace, square, t, narrow, select, take, masked_select, nonzero,
broadcast_tensors, logical_xor/and/or/not, allclose, equal, count_nonzero: every bad input's
exact message, the dtype rules, views, gradients and values on each device, PyTorch as an
optional oracle. (Forward and gradients on Hypothesis inputs: test_ops_vocabulary.py.)"""

import math

import numpy as np
import pytest

import tinygrad_cnn as tc
from tests import references_ops as rops
from tests.devices import shares_memory

M23 = tc.ones((2, 3))


def _f64(*shape):
    return tc.ones(shape, dtype=tc.float64)


# id, call, exception type, the exact message
ERRORS = [
    ("mm_3d", lambda: tc.mm(tc.ones((2, 3, 4)), tc.ones((4, 5))), tc.ShapeError,
     "mm: expected 2-D tensors, got shapes (2, 3, 4) and (4, 5)"),
    ("mm_1d", lambda: tc.mm(tc.ones(3), tc.ones((3, 5))), tc.ShapeError,
     "mm: expected 2-D tensors, got shapes (3,) and (3, 5)"),
    ("mm_inner", lambda: tc.mm(M23, tc.ones((4, 5))), tc.ShapeError,
     "mm: shapes (2, 3) and (4, 5) cannot be multiplied (3 columns vs 4 rows)"),
    ("mm_dtypes", lambda: tc.mm(tc.ones((2, 2)), _f64(2, 2)), TypeError,
     "mm: expected tensors of one dtype, got float32 and float64 (shapes (2, 2) and (2, 2)); "
     "convert one with .to(dtype=...)"),
    ("mm_bool", lambda: tc.mm(tc.ones((2, 2), dtype=tc.bool_), tc.ones((2, 2), dtype=tc.bool_)),
     TypeError, "mm: not defined for bool tensors (shapes (2, 2) and (2, 2); PyTorch refuses "
                "them too)"),
    ("mm_list", lambda: tc.mm(M23, [[1.0]]), TypeError, "mm: mat2 must be a Tensor, got list"),
    ("bmm_2d", lambda: tc.bmm(M23, tc.ones((2, 3, 4))), tc.ShapeError,
     "bmm: expected 3-D tensors, got shapes (2, 3) and (2, 3, 4)"),
    ("bmm_batch", lambda: tc.bmm(tc.ones((2, 2, 3)), tc.ones((3, 3, 4))), tc.ShapeError,
     "bmm: batch sizes 2 and 3 differ (shapes (2, 2, 3) and (3, 3, 4)); bmm does not "
     "broadcast, matmul does"),
    ("bmm_batch_1", lambda: tc.bmm(tc.ones((1, 2, 3)), tc.ones((3, 3, 4))), tc.ShapeError,
     "bmm: batch sizes 1 and 3 differ (shapes (1, 2, 3) and (3, 3, 4)); bmm does not "
     "broadcast, matmul does"),
    ("bmm_inner", lambda: tc.bmm(tc.ones((2, 2, 3)), tc.ones((2, 4, 4))), tc.ShapeError,
     "bmm: shapes (2, 2, 3) and (2, 4, 4) cannot be multiplied (3 columns vs 4 rows)"),
    ("bmm_dtypes", lambda: tc.bmm(tc.ones((1, 2, 2)), _f64(1, 2, 2)), TypeError,
     "bmm: expected tensors of one dtype, got float32 and float64 (shapes (1, 2, 2) and "
     "(1, 2, 2)); convert one with .to(dtype=...)"),
    ("dot_lengths", lambda: tc.dot(tc.ones(3), tc.ones(4)), tc.ShapeError,
     "dot: expected tensors of one length, got shapes (3,) and (4,)"),
    ("dot_2d", lambda: tc.dot(tc.ones((3, 1)), tc.ones(3)), tc.ShapeError,
     "dot: expected 1-D tensors, got shapes (3, 1) and (3,)"),
    ("dot_0d", lambda: tc.dot(tc.tensor(1.0), tc.tensor(1.0)), tc.ShapeError,
     "dot: expected 1-D tensors, got shapes () and ()"),
    ("dot_dtypes", lambda: tc.dot(tc.ones(3), _f64(3)), TypeError,
     "dot: expected tensors of one dtype, got float32 and float64 (shapes (3,) and (3,)); "
     "convert one with .to(dtype=...)"),
    ("dot_number", lambda: tc.dot(2.0, tc.ones(3)), TypeError,
     "dot: input must be a Tensor, got float"),
    ("outer_2d", lambda: tc.outer(tc.ones(3), tc.ones((2, 1))), tc.ShapeError,
     "outer: expected 1-D tensors, got shapes (3,) and (2, 1)"),
    ("outer_0d", lambda: tc.outer(tc.tensor(1.0), tc.ones(2)), tc.ShapeError,
     "outer: expected 1-D tensors, got shapes () and (2,)"),
    ("trace_1d", lambda: tc.trace(tc.ones(3)), tc.ShapeError,
     "trace: expected a 2-D tensor, got shape (3,)"),
    ("trace_3d", lambda: tc.trace(tc.ones((2, 2, 2))), tc.ShapeError,
     "trace: expected a 2-D tensor, got shape (2, 2, 2)"),
    ("trace_bool", lambda: tc.trace(tc.ones((2, 2), dtype=tc.bool_)), TypeError,
     "trace: not defined for a bool tensor (shape (2, 2); PyTorch refuses it too)"),
    ("square_list", lambda: tc.square([1.0]), TypeError,
     "square: input must be a Tensor, got list"),
    ("t_3d", lambda: tc.t(tc.ones((2, 3, 4))), tc.ShapeError,
     "t: expected a tensor with at most 2 dims, got shape (2, 3, 4) (use transpose or permute)"),
    ("narrow_start_high", lambda: tc.narrow(M23, 1, 4, 0), IndexError,
     "narrow: start 4 is out of range for dim 1 of size 3 (expected -3..3; shape (2, 3))"),
    ("narrow_start_low", lambda: tc.narrow(M23, -1, -4, 1), IndexError,
     "narrow: start -4 is out of range for dim -1 of size 3 (expected -3..3; shape (2, 3))"),
    ("narrow_length", lambda: tc.narrow(M23, 1, 1, -1), ValueError,
     "narrow: length must be non-negative, got -1"),
    ("narrow_past_end", lambda: tc.narrow(M23, 1, 1, 3), tc.ShapeError,
     "narrow: start 1 + length 3 exceeds the size 3 of dim 1 (shape (2, 3))"),
    ("narrow_negative_past_end", lambda: tc.narrow(M23, 1, -1, 2), tc.ShapeError,
     "narrow: start 2 + length 2 exceeds the size 3 of dim 1 (shape (2, 3))"),
    ("narrow_dim", lambda: tc.narrow(M23, 2, 0, 1), IndexError,
     "narrow: dim 2 is out of range for a tensor with 2 dimensions (expected -2..1)"),
    ("narrow_0d", lambda: tc.narrow(tc.tensor(1.0), 0, 0, 1), tc.ShapeError,
     "narrow: cannot be applied to a 0-d tensor"),
    ("narrow_float_start", lambda: tc.narrow(M23, 1, 1.0, 2), TypeError,
     "narrow: start must be an int, got 1.0"),
    ("narrow_float_length", lambda: tc.narrow(M23, 1, 1, 2.0), TypeError,
     "narrow: length must be an int, got 2.0"),
    ("select_high", lambda: tc.select(M23, 1, 3), IndexError,
     "select: index 3 is out of range for dim 1 of size 3 (expected -3..2; shape (2, 3))"),
    ("select_low", lambda: tc.select(M23, 0, -3), IndexError,
     "select: index -3 is out of range for dim 0 of size 2 (expected -2..1; shape (2, 3))"),
    ("select_dim", lambda: tc.select(M23, -3, 0), IndexError,
     "select: dim -3 is out of range for a tensor with 2 dimensions (expected -2..1)"),
    ("select_0d", lambda: tc.select(tc.tensor(1.0), 0, 0), IndexError,
     "select: cannot be applied to a 0-d tensor"),
    ("select_float", lambda: tc.select(M23, 1, 1.0), TypeError,
     "select: index must be an int, got 1.0"),
    ("take_high", lambda: tc.take(M23, tc.tensor([0, 6])), IndexError,
     "take: index 6 is out of range for a tensor of 6 elements (shape (2, 3))"),
    ("take_low", lambda: tc.take(M23, tc.tensor([[-7]])), IndexError,
     "take: index -7 is out of range for a tensor of 6 elements (shape (2, 3))"),
    ("take_float", lambda: tc.take(M23, tc.tensor([1.0])), TypeError,
     "take: index must be an integer tensor, got float32"),
    ("take_bool", lambda: tc.take(M23, tc.tensor([True])), TypeError,
     "take: index must be an integer tensor, got bool"),
    ("take_empty", lambda: tc.take(tc.ones(0), tc.tensor([0])), IndexError,
     "take: cannot take from an empty tensor (shape (0,))"),
    ("masked_select_int", lambda: tc.masked_select(M23, tc.tensor([1, 0, 1])), TypeError,
     "masked_select: mask must be a bool tensor, got int64 (shape (3,))"),
    ("masked_select_shapes", lambda: tc.masked_select(M23, tc.tensor([True, False])),
     tc.ShapeError, "masked_select: shapes (2, 3) and (2,) cannot be broadcast together"),
    ("broadcast_tensors_shapes", lambda: tc.broadcast_tensors(tc.ones((3, 1)), tc.ones((2, 2))),
     tc.ShapeError, "broadcast_tensors: shapes (3, 1) and (2, 2) cannot be broadcast together"),
    ("broadcast_tensors_number", lambda: tc.broadcast_tensors(tc.ones(2), 3), TypeError,
     "broadcast_tensors: argument 1 must be a Tensor, got int"),
    ("broadcast_tensors_list", lambda: tc.broadcast_tensors([tc.ones(2)]), TypeError,
     "broadcast_tensors: argument 0 must be a Tensor, got list"),
    ("logical_xor_shapes", lambda: tc.logical_xor(tc.ones(3), tc.ones(2)), tc.ShapeError,
     "logical_xor: shapes (3,) and (2,) cannot be broadcast together"),
    ("allclose_dtypes", lambda: tc.allclose(tc.ones(3), _f64(3)), TypeError,
     "allclose: input dtype float32 differs from other dtype float64 (shapes (3,) and (3,))"),
    ("allclose_shapes", lambda: tc.allclose(tc.ones(3), tc.ones(2)), tc.ShapeError,
     "allclose: shapes (3,) and (2,) cannot be broadcast together"),
    ("allclose_rtol", lambda: tc.allclose(tc.ones(3), tc.ones(3), rtol=-1), ValueError,
     "allclose: rtol must be non-negative, got -1"),
    ("allclose_atol", lambda: tc.allclose(tc.ones(3), tc.ones(3), atol=math.nan), ValueError,
     "allclose: atol must be non-negative, got nan"),
    ("allclose_number", lambda: tc.allclose(tc.ones(3), 1.0), TypeError,
     "allclose: other must be a Tensor, got float"),
    ("equal_number", lambda: tc.equal(tc.ones(3), 1.0), TypeError,
     "equal: other must be a Tensor, got float"),
    ("count_nonzero_dim", lambda: tc.count_nonzero(M23, 2), IndexError,
     "count_nonzero: dim 2 is out of range for a tensor with 2 dimensions (expected -2..1)"),
    ("count_nonzero_repeat", lambda: tc.count_nonzero(M23, (0, -2)), ValueError,
     "count_nonzero: dim (0, -2) names the same dimension twice"),
    ("count_nonzero_list", lambda: tc.count_nonzero([1, 0]), TypeError,
     "count_nonzero: input must be a Tensor, got list"),
]


@pytest.mark.parametrize("call,error,message", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_bad_input_names_the_op_and_the_values(call, error, message):
    with pytest.raises(error) as info:
        call()
    assert str(info.value) == message


def test_shape_errors_are_also_runtime_errors_as_in_pytorch():
    with pytest.raises(RuntimeError, match="mm: shapes"):
        tc.mm(M23, M23)


# ---------------------------------------------------------------------- dtypes


def test_dtype_rules():
    i32 = tc.tensor([[1, 2], [3, 4]], dtype=tc.int32)
    u8 = tc.tensor([[200, 1], [3, 100]], dtype=tc.uint8)
    flags = tc.tensor([True, False, True])
    assert tc.mm(i32, i32).dtype == np.int32 and tc.mm(i32, i32).tolist() == [[7, 10], [15, 22]]
    assert tc.bmm(i32[None], i32[None]).dtype == np.int32
    assert tc.dot(tc.tensor([1, 2]), tc.tensor([3, 4])).item() == 11
    assert tc.dot(tc.tensor([1, 2]), tc.tensor([3, 4])).dtype == np.int64
    # trace sums in int64 whatever the integer dtype (200 + 100 does not wrap in uint8)
    assert tc.trace(u8).dtype == np.int64 and tc.trace(u8).item() == 300
    assert tc.trace(i32).dtype == np.int64
    assert tc.trace(tc.ones((2, 2), dtype=tc.float16)).dtype == np.float16
    assert tc.outer(tc.tensor([1, 2]), _f64(2)).dtype == np.float64
    assert tc.outer(tc.tensor([1, 2]), tc.ones(2)).dtype == np.float32
    assert tc.outer(flags, flags).dtype == np.bool_
    assert tc.outer(tc.tensor([1], dtype=tc.uint8), tc.tensor([1], dtype=tc.int8)).dtype \
        == np.int16
    assert tc.square(i32).dtype == np.int32 and tc.square(i32).tolist() == [[1, 4], [9, 16]]
    assert tc.square(u8).tolist() == [[64, 1], [9, 16]]            # wraps as uint8 * uint8
    assert tc.square(flags).dtype == np.int64 and tc.square(flags).tolist() == [1, 0, 1]
    for out in (tc.t(u8), tc.narrow(u8, 0, 1, 1), tc.select(u8, 1, 0), tc.take(u8, [0, 3]),
                tc.masked_select(u8, tc.tensor([True, False])), tc.broadcast_tensors(u8)[0]):
        assert out.dtype == np.uint8
    assert tc.nonzero(u8).dtype == tc.count_nonzero(u8).dtype == np.int64
    assert tc.logical_xor(i32, 0.5).dtype == np.bool_
    assert [t.dtype for t in tc.broadcast_tensors(i32, tc.ones(2))] == [np.int32, np.float32]
    assert tc.allclose(flags, flags) is True and tc.allclose(i32, i32 + 1) is False
    assert tc.equal(flags, tc.tensor([1, 0, 1])) is True


def test_logical_ops_are_exported():
    a, b = tc.tensor([0, 1, 2, 0]), tc.tensor([0.0, 0.0, 3.0, -1.0])
    assert tc.logical_and(a, b).tolist() == [False, False, True, False]
    assert tc.logical_or(a, b).tolist() == [False, True, True, True]
    assert tc.logical_xor(a, b).tolist() == [False, True, False, True]
    assert tc.logical_not(a).tolist() == [True, False, False, True]


def test_no_gradient_where_pytorch_has_none():
    x = tc.tensor([[0.0, 1.5], [-2.0, 0.0]], requires_grad=True)
    assert not tc.nonzero(x).requires_grad and not tc.count_nonzero(x).requires_grad
    assert not any(t.requires_grad for t in tc.nonzero(x, as_tuple=True))
    assert not tc.logical_xor(x, x).requires_grad
    assert type(tc.allclose(x, x)) is bool and type(tc.equal(x, x)) is bool


def test_views_share_memory(device):
    x = tc.tensor(np.arange(12.0).reshape(3, 4), device=device)
    for view in (tc.narrow(x, 1, -3, 2), tc.select(x, 0, -1), tc.t(x),
                 tc.broadcast_tensors(x, tc.zeros((2, 1, 1), device=device))[0]):
        assert shares_memory(view, x)
    v = tc.ones(4, device=device)
    assert tc.t(v) is v and tc.broadcast_tensors(v)[0] is v


def test_empty_and_zero_dim_edges():
    assert tc.mm(tc.ones((2, 0)), tc.ones((0, 3))).tolist() == [[0.0] * 3] * 2
    assert tc.trace(tc.ones((0, 3))).item() == 0.0
    assert tc.narrow(M23, 1, 3, 0).shape == (2, 0)
    assert tc.take(tc.tensor(5.0), tc.tensor([0, -1, 0])).tolist() == [5.0] * 3
    assert tc.take(M23, tc.tensor(4)).shape == ()
    assert tc.masked_select(tc.tensor(2.0), tc.tensor(True)).tolist() == [2.0]
    assert tc.nonzero(tc.tensor(3.0)).shape == (1, 0)
    assert tc.nonzero(tc.tensor(0.0)).shape == (0, 0)
    assert tc.nonzero(tc.zeros((2, 0))).shape == (0, 2)
    assert [t.tolist() for t in tc.nonzero(tc.tensor(3.0), as_tuple=True)] == [[0]]
    assert tc.nonzero(tc.tensor([0.0, math.nan])).tolist() == [[1]]     # NaN is non-zero
    assert tc.count_nonzero(tc.tensor([math.nan, 0.0])).item() == 1
    assert tc.count_nonzero(tc.tensor(3.0), 0).item() == 1
    assert tc.count_nonzero(M23, ()).item() == 6                        # () is every dim
    assert tc.broadcast_tensors() == ()
    assert tc.equal(tc.ones((0, 2)), tc.ones((0, 2))) and not tc.equal(tc.ones(1), tc.ones(()))
    nan = tc.tensor([math.nan, 1.0])
    assert not tc.equal(nan, nan) and not tc.allclose(nan, nan)
    assert tc.allclose(nan, nan, equal_nan=True)
    inf = tc.tensor([math.inf])
    assert tc.allclose(inf, inf) and not tc.allclose(inf, -inf)


# ---------------------------------------------------------------------- on every device

# name, fn(x, device) -> Tensor, for float64 x of shape (3, 4)
ON_DEVICE = [
    ("mm", lambda x, d: tc.mm(x, tc.t(x))),
    ("bmm", lambda x, d: tc.bmm(x[None], tc.t(x)[None] * 2)),
    ("dot", lambda x, d: tc.dot(x[0], x[1])),
    ("outer", lambda x, d: tc.outer(x[0], x[1, :3])),
    ("trace", lambda x, d: tc.trace(x)),
    ("square", lambda x, d: tc.square(x)),
    ("t", lambda x, d: tc.t(x)),
    ("narrow", lambda x, d: tc.narrow(x, 1, -3, 2)),
    ("select", lambda x, d: tc.select(x, 0, -1)),
    ("take", lambda x, d: tc.take(x, tc.tensor([[0, -1], [5, 0]], device=d))),
    ("masked_select", lambda x, d: tc.masked_select(x, tc.tensor([True, False, False, True],
                                                                 device=d))),
    ("broadcast_tensors", lambda x, d: tc.broadcast_tensors(x, tc.zeros((2, 1, 1), device=d,
                                                                        dtype=tc.float64))[0]),
]


@pytest.mark.parametrize("name,fn", ON_DEVICE, ids=[c[0] for c in ON_DEVICE])
def test_values_and_gradients_on_every_device(device, name, fn):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    results, up = [], None
    for where in ("cpu", device):
        t = tc.tensor(x, device=where, requires_grad=True)
        out = fn(t, where)
        assert out.device == tc.backend.normalize_device(where)
        up = rng.standard_normal(out.shape) if up is None else up
        out.backward(tc.tensor(up, device=where))
        results.append((out.numpy(), t.grad.numpy()))
    (v0, g0), (v1, g1) = results
    np.testing.assert_allclose(v1, v0, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(g1, g0, rtol=1e-12, atol=1e-12)
    t = tc.tensor(x, device=device, requires_grad=True)
    assert tc.gradcheck(lambda a: fn(a, device), (t,))


def test_tests_on_every_device(device):
    x = tc.tensor([[0.0, 1.5, 0.0], [2.0, 0.0, math.nan]], device=device)
    y = tc.tensor([[0.0, 1.5, 1e-9], [2.0, 0.0, math.nan]], device=device)
    expected_device = tc.backend.normalize_device(device)
    for out in (tc.nonzero(x), *tc.nonzero(x, as_tuple=True), tc.count_nonzero(x, 1),
                tc.logical_xor(x, y)):
        assert out.device == expected_device
    assert tc.nonzero(x).tolist() == [[0, 1], [1, 0], [1, 2]]
    assert tc.count_nonzero(x, 1).tolist() == [1, 2]
    assert tc.logical_xor(x, y).tolist() == [[False, False, True], [False, False, False]]
    assert tc.allclose(x, y, equal_nan=True) and not tc.allclose(x, y)
    assert not tc.equal(x, x) and tc.equal(x[:, :2], y[:, :2])


# ---------------------------------------------------------------------- PyTorch as an oracle


def test_against_pytorch():
    torch = pytest.importorskip("torch", reason="PyTorch is an optional test oracle")
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    u, v = rng.standard_normal(4), rng.standard_normal(4)
    index = np.array([[0, -1], [11, 3]])
    mask = rng.random((1, 4)) < 0.5
    cases = [
        (tc.mm, torch.mm, [a, b]),
        (tc.bmm, torch.bmm, [a[None].repeat(2, 0), b[None].repeat(2, 0)]),
        (tc.dot, torch.dot, [u, v]),
        (tc.outer, torch.outer, [u, v[:3]]),
        (tc.trace, torch.trace, [a]),
        (tc.square, torch.square, [a]),
        (tc.t, torch.t, [a]),
        (lambda x: tc.narrow(x, 1, -3, 2), lambda x: torch.narrow(x, 1, -3, 2), [a]),
        (lambda x: tc.select(x, 1, -2), lambda x: torch.select(x, 1, -2), [a]),
        (lambda x: tc.take(x, tc.tensor(index)), lambda x: torch.take(x, torch.tensor(index)),
         [a]),
        (lambda x: tc.masked_select(x, tc.tensor(mask)),
         lambda x: torch.masked_select(x, torch.tensor(mask)), [a]),
        (tc.broadcast_tensors, torch.broadcast_tensors, [a, u]),
    ]
    for ours, theirs, arrays in cases:
        rops.compare_with_torch(torch, ours, theirs, arrays)
    ints = np.array([[0, 3, -1], [2, 0, 0]])
    for dtype in (np.int32, np.uint8, np.bool_, np.float32):
        x = ints.astype(dtype)
        ours, theirs = tc.tensor(x), torch.tensor(x)
        pairs = [(tc.nonzero(ours), torch.nonzero(theirs)),
                 (tc.count_nonzero(ours, 0), torch.count_nonzero(theirs, 0)),
                 (tc.count_nonzero(ours), torch.count_nonzero(theirs)),
                 (tc.logical_xor(ours, tc.tensor(x[:, :1])),
                  torch.logical_xor(theirs, torch.tensor(x[:, :1])))]
        pairs += [(tc.nonzero(ours, as_tuple=True)[i], torch.nonzero(theirs, as_tuple=True)[i])
                  for i in range(2)]
        if dtype != np.bool_:
            pairs += [(tc.square(ours), torch.square(theirs)), (tc.trace(ours[:, :2]),
                      torch.trace(theirs[:, :2])), (tc.mm(ours, tc.t(ours)),
                      torch.mm(theirs, torch.t(theirs)))]
        else:
            pairs += [(tc.square(ours), torch.square(theirs))]
        for got, want in pairs:
            np.testing.assert_array_equal(got.numpy(), want.numpy())
            assert got.dtype == np.dtype(str(want.dtype).replace("torch.", ""))
        assert tc.allclose(ours, ours) == torch.allclose(theirs, theirs)
        assert tc.equal(ours, tc.tensor(ints)) == torch.equal(theirs, torch.tensor(ints))
