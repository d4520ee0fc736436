"""Fused softmax cross-entropy kernels (tinygrad_cnn/cuda/loss.py) against the generic path,
for (N, C) logits and (N, C, d1, ...) ones.

On the CPU the kernels run through the g++ host runner (tests/cuda_host.py): loss values and
gradients of F.cross_entropy (reductions, class weights, ignore_index) must match the generic
NumPy path and the NumPy reference, gradcheck and gradgradcheck must pass in float64, and the
forward and backward must be one launch each. On a GPU they are compared with
``TINYGRAD_CNN_CUDA_KERNELS=0``.
"""

import numpy as np
import pytest
import references_nn as ref
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_cnn as tc
import tinygrad_cnn.cuda as cuda
import tinygrad_cnn.nn.functional as F
from tests.conftest import CUDA_SKIP_REASON
from tests.cuda_host import COMPILER, NO_COMPILER_REASON, on_host
from tinygrad_cnn.tensor import Tensor

pytestmark = pytest.mark.skipif(COMPILER is None, reason=NO_COMPILER_REASON)


def case(seed, n, c, dtype, weighted, ignore, reduction, spatial=()):
    """Logits (n, c, *spatial), targets, optional class weights, ignore_index and an upstream
    gradient."""
    rng = np.random.default_rng(seed)
    logits = (rng.normal(size=(n, c, *spatial)) * 3).astype(dtype)
    target = rng.integers(0, c, size=(n, *spatial))
    flat = target.reshape(-1)
    ignore_index = -100
    if ignore and flat.size > 1:
        ignore_index = int(flat[0])
        flat[1:] = np.where(flat[1:] == ignore_index, (ignore_index + 1) % c, flat[1:])
    weight = rng.uniform(0.5, 2.0, size=c).astype(dtype) if weighted else None
    g = (rng.normal(size=target.shape) if reduction == "none"
         else np.array(rng.normal())).astype(dtype)
    return logits, target, weight, ignore_index, g


def loss_and_grad(logits, target, weight, ignore_index, reduction, g, device="cpu"):
    x = tc.tensor(logits, device=device, requires_grad=True)
    w = None if weight is None else tc.tensor(weight, device=device)
    out = F.cross_entropy(x, tc.tensor(target, device=device), w, ignore_index, reduction)
    out.backward(tc.tensor(g, device=device))
    return out.numpy(), x.grad.numpy()


def fused_launches(reduction):
    """The kernels one fused cross_entropy forward and backward launch, in order."""
    total = [] if reduction == "none" else ["tc_softmax_xent_total"]
    return ["tc_class_targets", "tc_softmax_xent_forward", *total, "tc_softmax_xent_backward"]


SPATIAL = st.sampled_from([(), (), (1,), (3,), (2, 3), (3, 1, 2)])  # (N, C) logits most often


@given(seed=st.integers(0, 2**31), n=st.integers(1, 6), c=st.integers(1, 7),
       reduction=st.sampled_from(["mean", "sum", "none"]), weighted=st.booleans(),
       ignore=st.booleans(), dtype=st.sampled_from([np.float32, np.float64]), spatial=SPATIAL)
def test_fused_kernels_match_the_generic_path_and_the_reference(seed, n, c, reduction, weighted,
                                                                ignore, dtype, spatial):
    """(N, C) logits, and (N, C, d1, ...) ones (a class map per image) with targets (N, d1, ...)."""
    logits, target, weight, ignore_index, g = case(seed, n, c, dtype, weighted, ignore,
                                                   reduction, spatial)
    (out, grad), launches = on_host(loss_and_grad, logits, target, weight, ignore_index,
                                    reduction, g)
    out_ref, grad_ref = loss_and_grad(logits, target, weight, ignore_index, reduction, g)
    assert launches == fused_launches(reduction)
    tol = dict(rtol=2e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    assert out.dtype == dtype and grad.dtype == dtype
    np.testing.assert_allclose(out, out_ref, **tol)
    np.testing.assert_allclose(grad, grad_ref, **tol)
    if ignore_index != -100 and reduction == "mean" and not (target != ignore_index).any():
        return  # every row ignored: 0 / 0, as PyTorch
    expected = ref.cross_entropy(logits.astype(np.float64), target, weight, ignore_index,
                                 reduction)
    np.testing.assert_allclose(out, expected, **tol)


@pytest.mark.cpu_only("CUDA kernels run on NumPy arrays through the host runner")
@given(seed=st.integers(0, 2**31), reduction=st.sampled_from(["mean", "sum", "none"]),
       weighted=st.booleans(), ignore=st.booleans(), spatial=st.sampled_from([(), (2,), (2, 2)]))
def test_fused_kernels_gradcheck_and_gradgradcheck(seed, reduction, weighted, ignore, spatial):
    logits, target, weight, ignore_index, _ = case(seed, 3, 3, np.float64, weighted, ignore,
                                                   reduction, spatial)
    t = Tensor(target)
    w = None if weight is None else Tensor(weight)

    def fused(x):
        return F.cross_entropy(x, t, w, ignore_index, reduction)

    (first, second), launches = on_host(
        lambda: (tc.gradcheck(fused, (logits,)), tc.gradgradcheck(fused, (logits,))))
    assert first and second
    assert "tc_softmax_xent_forward" in launches and "tc_softmax_xent_backward" in launches


def test_a_kernel_bug_would_be_caught():
    """The comparison can fail: a backward that forgets the upstream scale is detected."""
    from tinygrad_cnn.cuda import loss as cuda_loss

    logits, target, weight, ignore_index, g = case(0, 5, 4, np.float64, True, False, "sum")
    original = cuda_loss.backward
    try:
        cuda_loss.backward = lambda xp, x, t, stats, coef, g, reduction: original(
            xp, x, t, stats, coef, g * 0 + 1, reduction)
        (_, grad), _ = on_host(loss_and_grad, logits, target, weight, ignore_index, "sum", g)
    finally:
        cuda_loss.backward = original
    _, grad_ref = loss_and_grad(logits, target, weight, ignore_index, "sum", g)
    assert not np.allclose(grad, grad_ref)


def test_huge_logits_stay_finite_in_float32():
    logits = np.array([[1e4, 0.0, -1e4], [0.0, 0.0, 0.0]], np.float32)
    (out, grad), launches = on_host(loss_and_grad, logits, np.array([1, 2]), None, -100,
                                    "mean", np.array(1.0, np.float32))
    assert launches == fused_launches("mean")
    np.testing.assert_allclose(out, (1e4 + np.log(3)) / 2, rtol=1e-6)
    assert np.isfinite(grad).all()


@pytest.mark.parametrize("bad", [-1, 3, 7])
@pytest.mark.parametrize("weighted", [False, True])
def test_an_out_of_range_target_is_named_as_on_the_generic_path(bad, weighted):
    logits, target, weight, _, _ = case(1, 4, 3, np.float64, weighted, False, "mean")
    target[2] = bad
    message = f"target contains class {bad}, out of range for 3 classes"
    with pytest.raises(IndexError, match=message):
        on_host(loss_and_grad, logits, target, weight, -100, "mean", np.array(1.0))
    with pytest.raises(IndexError, match=message):
        loss_and_grad(logits, target, weight, -100, "mean", np.array(1.0))


def test_an_ignore_index_outside_the_classes_is_not_out_of_range():
    logits, target, weight, _, g = case(2, 5, 3, np.float64, True, False, "sum")
    target[[0, 3]] = -7
    (out, grad), launches = on_host(loss_and_grad, logits, target, weight, -7, "sum", g)
    out_ref, grad_ref = loss_and_grad(logits, target, weight, -7, "sum", g)
    assert launches == fused_launches("sum")
    np.testing.assert_allclose(out, out_ref, rtol=1e-12)
    np.testing.assert_allclose(grad, grad_ref, rtol=1e-12, atol=1e-15)
    assert (grad[[0, 3]] == 0).all()


def test_class_weights_of_another_dtype_are_taken_at_the_logits_dtype():
    logits, target, weight, _, g = case(3, 6, 4, np.float32, True, False, "mean")
    weight = weight.astype(np.float64)
    (out, grad), launches = on_host(loss_and_grad, logits, target, weight, -100, "mean", g)
    out_ref, grad_ref = loss_and_grad(logits, target, weight, -100, "mean", g)
    assert launches == fused_launches("mean") and out.dtype == np.float32
    np.testing.assert_allclose(out, out_ref, rtol=2e-6)
    np.testing.assert_allclose(grad, grad_ref, rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_many_rows_are_reduced_by_the_generic_sums(monkeypatch, reduction):
    """Past TOTAL_MAX_ROWS one thread would sum too long: the rows' losses and weights are then
    summed by the array module, and the backward still gets the weights' sum."""
    from tinygrad_cnn.cuda import loss as cuda_loss

    monkeypatch.setattr(cuda_loss, "TOTAL_MAX_ROWS", 4)
    logits, target, weight, ignore_index, g = case(4, 9, 3, np.float64, True, True, reduction)
    (out, grad), launches = on_host(loss_and_grad, logits, target, weight, ignore_index,
                                    reduction, g)
    out_ref, grad_ref = loss_and_grad(logits, target, weight, ignore_index, reduction, g)
    assert "tc_softmax_xent_total" not in launches
    np.testing.assert_allclose(out, out_ref, rtol=1e-12)
    np.testing.assert_allclose(grad, grad_ref, rtol=1e-12, atol=1e-15)


LOSS_KERNELS = ("tc_softmax_xent", "tc_class_targets")


@pytest.mark.cpu_only("CUDA kernels run on NumPy arrays through the host runner")
def test_cases_outside_the_kernels_take_the_generic_path():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 4))
    p = rng.dirichlet(np.ones(3), size=(2, 4)).transpose(0, 2, 1)  # class probabilities
    (out, _), launches = on_host(lambda: (F.cross_entropy(Tensor(x), Tensor(p)), None))
    assert not [n for n in launches if n.startswith(LOSS_KERNELS)]  # (same-shape products may)
    np.testing.assert_allclose(out.numpy(), F.cross_entropy(Tensor(x), Tensor(p)).numpy())
    x2 = rng.normal(size=(3, 4))
    t2 = rng.integers(0, 4, size=3)
    (out, _), launches = on_host(
        lambda: (F.cross_entropy(Tensor(x2), Tensor(t2), label_smoothing=0.1), None))
    assert not [n for n in launches if n.startswith(LOSS_KERNELS)]
    np.testing.assert_allclose(
        out.numpy(), F.cross_entropy(Tensor(x2), Tensor(t2), label_smoothing=0.1).numpy())


@pytest.mark.gpu
@pytest.mark.skipif(CUDA_SKIP_REASON is not None, reason=f"no CUDA: {CUDA_SKIP_REASON}")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("spatial", [(), (5, 7)])
def test_gpu_kernels_match_the_generic_cupy_path(dtype, reduction, spatial, monkeypatch):
    args = case(3, 64, 10, dtype, True, True, reduction, spatial)
    out, grad = loss_and_grad(*args[:4], reduction, args[4], device="gpu")
    monkeypatch.setenv(cuda.ENV_SWITCH, "0")
    out_ref, grad_ref = loss_and_grad(*args[:4], reduction, args[4], device="gpu")
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(out, out_ref, **tol)
    np.testing.assert_allclose(grad, grad_ref, **tol)
