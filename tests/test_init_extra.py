"""nn.init.trunc_normal_ and orthogonal_ (bounds, moments and CDF against the truncated normal's
closed form, orthogonality, PyTorch's sign correction, seeded reproducibility on every device),
and nn.utils.parameters_to_vector / vector_to_parameters; PyTorch as the optional oracle."""

import math

import numpy as np
import pytest

import tinygrad_cnn as tc
from tinygrad_cnn import nn
from tinygrad_cnn.nn import init
from tinygrad_cnn.nn.utils import parameters_to_vector, vector_to_parameters

N_SIGMA = 6        # a statistical check fails by chance with probability ~1e-9


def _torch():
    return pytest.importorskip("torch", reason="PyTorch is the optional oracle (bench extra)")


# ---------------------------------------------------------------------- trunc_normal_


def _phi(z):
    return math.exp(-z * z / 2) / math.sqrt(2 * math.pi) if math.isfinite(z) else 0.0


def _upper_tail(z):
    """P(Z > z) for Z ~ N(0, 1), accurate far out."""
    return 0.5 * math.erfc(z / math.sqrt(2))


def truncated_normal_moments(mean, std, a, b):
    """Mean and variance of N(mean, std^2) truncated to [a, b] (the textbook closed form)."""
    alpha, beta = (a - mean) / std, (b - mean) / std
    z = _upper_tail(alpha) - _upper_tail(beta)
    pa, pb = _phi(alpha), _phi(beta)
    apa = alpha * pa if math.isfinite(alpha) else 0.0
    bpb = beta * pb if math.isfinite(beta) else 0.0
    m = (pa - pb) / z
    return mean + std * m, std**2 * (1 + (apa - bpb) / z - m * m)


def truncated_normal_cdf(x, mean, std, a, b):
    alpha, beta = (a - mean) / std, (b - mean) / std
    tail = np.vectorize(_upper_tail)
    return (tail(alpha) - tail((np.asarray(x) - mean) / std)) / (tail(alpha) - tail(beta))


# (mean, std, a, b): the default, off-centre, a one-sided tail, a narrow interval far out (the
# uniform proposal), a wide one, and a std far below the bounds' scale (bounds never reached)
TRUNC_CASES = [(0.0, 1.0, -2.0, 2.0), (1.0, 2.0, -1.0, 4.0), (0.0, 1.0, 1.5, math.inf),
               (0.0, 1.0, 3.0, 3.5), (-1.0, 0.5, -math.inf, 0.0), (0.0, 0.02, -2.0, 2.0)]


@pytest.mark.parametrize("mean,std,a,b", TRUNC_CASES)
def test_trunc_normal_matches_the_truncated_normal(mean, std, a, b):
    w = tc.zeros(400, 500, dtype=tc.float64)
    assert init.trunc_normal_(w, mean, std, a, b) is w
    v = w.numpy().reshape(-1)
    n = v.size
    assert a <= v.min() and v.max() <= b
    expected_mean, expected_var = truncated_normal_moments(mean, std, a, b)
    assert abs(v.mean() - expected_mean) < N_SIGMA * math.sqrt(expected_var / n), v.mean()
    m4 = ((v - v.mean()) ** 4).mean()              # the sample variance's own spread
    assert abs(v.var() - expected_var) < N_SIGMA * math.sqrt((m4 - expected_var**2) / n), v.var()
    # Kolmogorov-Smirnov on a subsample: sup |F_n - F| < 1.95 / sqrt(n) fails with p ~ 0.001
    sample = np.sort(v[:20_000])
    cdf = truncated_normal_cdf(sample, mean, std, a, b)
    ranks = np.arange(1, sample.size + 1) / sample.size
    d = max(np.abs(ranks - cdf).max(), np.abs(ranks - 1 / sample.size - cdf).max())
    assert d < 1.95 / math.sqrt(sample.size), d


@pytest.mark.parametrize("dtype", [tc.float16, tc.float32, tc.float64])
def test_trunc_normal_is_seeded_and_keeps_dtype_and_device(device, dtype):
    w = tc.zeros(30, 40, dtype=dtype, device=device)
    tc.manual_seed(3)
    first = init.trunc_normal_(w, 0.5, 1.0, 0.0, 1.0).numpy().copy()
    tc.manual_seed(3)
    np.testing.assert_array_equal(init.trunc_normal_(w, 0.5, 1.0, 0.0, 1.0).numpy(), first)
    assert w.dtype == dtype and w.device == tc.backend.normalize_device(device)
    assert first.min() >= 0.0 and first.max() <= 1.0 and len(np.unique(first)) > 100
    p = nn.Linear(3, 4).weight
    assert init.trunc_normal_(p, std=0.02) is p and p.requires_grad and p.grad is None
    assert init.trunc_normal_(tc.zeros(0, 3, device=device)).shape == (0, 3)


def test_trunc_normal_errors():
    w = tc.zeros(3, 4)
    with pytest.raises(ValueError, match=r"trunc_normal_: the lower bound a=2.0 must be below the "
                                         r"upper bound b=2.0"):
        init.trunc_normal_(w, a=2.0, b=2.0)
    with pytest.raises(ValueError, match=r"a=1.0 must be below the upper bound b=-1.0"):
        init.trunc_normal_(w, a=1.0, b=-1.0)
    for std in (0.0, -1.0, math.inf):
        with pytest.raises(ValueError, match=rf"trunc_normal_: std must be positive and finite, "
                                             rf"with a finite mean; got mean=0.0, std={std}"):
            init.trunc_normal_(w, std=std)
    with pytest.raises(ValueError, match=r"trunc_normal_: \[a, b\] = \[4.0, inf\] holds only "
                                         r"3.17e-05 of N\(0.0, 1.0\^2\)'s mass \(\[4, inf\] in "
                                         r"standard deviations\): too little to sample by "
                                         r"rejection"):
        init.trunc_normal_(w, a=4.0, b=math.inf)
    with pytest.raises(ValueError, match=r"\[-inf, -10.0\] holds only"):
        init.trunc_normal_(w, mean=2.0, std=3.0, a=-math.inf, b=-10.0)
    with pytest.raises(TypeError, match=r"trunc_normal_: b must be a number, got nan"):
        init.trunc_normal_(w, b=math.nan)
    with pytest.raises(TypeError, match=r"trunc_normal_: mean must be a number, got '0'"):
        init.trunc_normal_(w, mean="0")
    with pytest.raises(TypeError, match=r"trunc_normal_: random initialisation needs a float "
                                        r"tensor, got int64"):
        init.trunc_normal_(tc.zeros(3, dtype=tc.int64))


def test_trunc_normal_against_pytorch():
    torch = _torch()
    for mean, std, a, b in [(0.0, 1.0, -2.0, 2.0), (1.0, 2.0, -1.0, 4.0)]:
        ours = init.trunc_normal_(tc.zeros(100_000, dtype=tc.float64), mean, std, a, b).numpy()
        torch.manual_seed(0)
        theirs = torch.nn.init.trunc_normal_(torch.zeros(100_000, dtype=torch.float64), mean,
                                             std, a, b).numpy()
        # two-sample Kolmogorov-Smirnov: sup |F - G| < 1.95 sqrt(2 / n) fails with p ~ 0.001
        grid = np.sort(np.concatenate([ours, theirs]))
        f = np.searchsorted(np.sort(ours), grid, side="right") / ours.size
        g = np.searchsorted(np.sort(theirs), grid, side="right") / theirs.size
        assert np.abs(f - g).max() < 1.95 * math.sqrt(2 / ours.size)
        assert theirs.min() >= a and theirs.max() <= b     # the same (absolute) bounds


# ---------------------------------------------------------------------- orthogonal_


def _gram(q):
    """Q^T Q for a tall or square Q, Q Q^T for a wide one."""
    return q.T @ q if q.shape[0] >= q.shape[1] else q @ q.T


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (4, 4), (6, 2, 3, 3), (3, 2, 2), (1, 7)])
@pytest.mark.parametrize("dtype", [tc.float32, tc.float64])
def test_orthogonal_is_orthogonal(device, shape, dtype):
    w = tc.zeros(*shape, dtype=dtype, device=device)
    assert init.orthogonal_(w, gain=1.5) is w
    assert w.dtype == dtype and w.device == tc.backend.normalize_device(device)
    q = w.numpy().reshape(shape[0], -1).astype(np.float64) / 1.5
    np.testing.assert_allclose(_gram(q), np.eye(min(q.shape)), atol=1e-5)
    tc.manual_seed(11)
    first = init.orthogonal_(w).numpy().copy()
    tc.manual_seed(11)
    np.testing.assert_array_equal(init.orthogonal_(w).numpy(), first)


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (4, 4), (2, 3, 2)])
def test_orthogonal_takes_pytorch_sign_correction(shape):
    # Q of the QR of the generator's normal matrix A (A^T when wide), with R's diagonal
    # positive: R = Q^T A (Q A^T when wide) is upper triangular with a positive diagonal
    w = tc.zeros(*shape, dtype=tc.float64, device="cpu")
    tc.manual_seed(5)
    q = init.orthogonal_(w).numpy().reshape(shape[0], -1)
    a = np.random.default_rng(5).standard_normal(q.shape)    # the CPU generator's stream
    r = q.T @ a if q.shape[0] >= q.shape[1] else q @ a.T
    np.testing.assert_allclose(np.tril(r, -1), 0.0, atol=1e-12)
    assert (np.diag(r) > 0).all()


def test_orthogonal_is_haar_distributed():
    # for a Haar-random 3x3 orthogonal matrix, each entry is uniform on [-1, 1] (the first
    # column is uniform on the sphere S^2, Archimedes): mean 0, variance 1/3. Without the sign
    # correction LAPACK's Q[0, 0] has one sign.
    w = tc.zeros(3, 3, dtype=tc.float64)
    samples = np.array([init.orthogonal_(w).numpy()[0, 0] for _ in range(3000)])
    n = samples.size
    assert abs(samples.mean()) < N_SIGMA * math.sqrt(1 / 3 / n)
    assert abs(samples.var() - 1 / 3) < N_SIGMA * math.sqrt((1 / 5 - 1 / 9) / n)


def test_orthogonal_against_pytorch_qr():
    torch = _torch()
    for shape in [(6, 4), (4, 6), (3, 2, 2)]:
        w = tc.zeros(*shape, dtype=tc.float64, device="cpu")
        tc.manual_seed(2)
        ours = init.orthogonal_(w, gain=0.5).numpy()
        a = torch.tensor(np.random.default_rng(2).standard_normal((shape[0], w.numel() //
                                                                   shape[0])))
        wide = a.shape[0] < a.shape[1]
        q, r = torch.linalg.qr(a.T if wide else a)           # PyTorch's own recipe on our draws
        q = q * torch.diag(r).sign()
        expected = (q.T if wide else q).reshape(shape) * 0.5
        np.testing.assert_allclose(ours, expected.numpy(), atol=1e-12)


def test_orthogonal_errors_and_empty():
    with pytest.raises(ValueError, match=r"orthogonal_: only tensors with 2 or more dims are "
                                         r"supported, got shape \(5,\)"):
        init.orthogonal_(tc.zeros(5))
    with pytest.raises(ValueError, match=r"got shape \(\)"):
        init.orthogonal_(tc.tensor(1.0))
    with pytest.raises(TypeError, match=r"orthogonal_: random initialisation needs a float "
                                        r"tensor, got int32"):
        init.orthogonal_(tc.zeros(3, 3, dtype=tc.int32))
    assert init.orthogonal_(tc.zeros(0, 4)).shape == (0, 4)


# ---------------------------------------------------------------------- parameter vectors


def _model(device):
    return nn.Sequential(nn.Conv2d(2, 3, 3), nn.Flatten(), nn.Linear(12, 5)).to(device)


def test_parameters_to_vector_and_back(device):
    model = _model(device)
    params = list(model.parameters())
    vec = parameters_to_vector(model.parameters())
    expected = np.concatenate([p.numpy().reshape(-1) for p in params])
    assert vec.shape == (expected.size,) and vec.device == tc.backend.normalize_device(device)
    np.testing.assert_array_equal(vec.numpy(), expected)
    # differentiable: the vector's gradient lands on each parameter
    weights = np.random.default_rng(0).normal(size=expected.size).astype(np.float32)
    (vec * tc.tensor(weights, device=device)).sum().backward()
    np.testing.assert_array_equal(
        np.concatenate([p.grad.numpy().reshape(-1) for p in params]), weights)
    # and back, in place: the same Parameters and arrays, new values, no graph
    arrays = [p.data for p in params]
    new = tc.tensor(np.arange(expected.size, dtype=np.float64) / 7, device=device,
                    requires_grad=True)
    assert vector_to_parameters(new, model.parameters()) is None
    for p, data in zip(params, arrays, strict=True):
        assert p.data is data and p.dtype == np.float32 and p.requires_grad and p.is_leaf
    np.testing.assert_allclose(parameters_to_vector(params).detach().numpy(),
                               new.detach().numpy().astype(np.float32))
    np.testing.assert_array_equal(params[0].grad.numpy().reshape(-1), weights[:params[0].numel()])
    assert parameters_to_vector(params[1]).shape == (3,)     # one Tensor: itself, flattened


def test_vector_to_parameters_counts_as_an_in_place_change():
    p = nn.Parameter(tc.ones(3))
    y = (p * p).sum()
    vector_to_parameters(tc.zeros(3), [p])
    with pytest.raises(RuntimeError, match="changed in place after the op saved it"):
        y.backward()


def test_parameter_vector_errors():
    params = [nn.Parameter(tc.zeros(2, 3)), nn.Parameter(tc.zeros(4))]
    with pytest.raises(ValueError, match=r"vector_to_parameters: vec has 9 elements but the 2 "
                                         r"parameters hold 10"):
        vector_to_parameters(tc.zeros(9), params)
    with pytest.raises(ValueError, match=r"vec has 11 elements but the 2 parameters hold 10"):
        vector_to_parameters(tc.zeros(11), params)
    with pytest.raises(ValueError, match=r"vector_to_parameters: vec must be 1-D, got shape "
                                         r"\(2, 5\)"):
        vector_to_parameters(tc.zeros(2, 5), params)
    with pytest.raises(TypeError, match=r"vector_to_parameters: expected vec to be a Tensor, got "
                                        r"ndarray"):
        vector_to_parameters(np.zeros(10), params)
    with pytest.raises(TypeError, match=r"parameters_to_vector: expected Tensors, got ndarray"):
        parameters_to_vector([params[0], np.zeros(3)])
    with pytest.raises(ValueError, match=r"parameters_to_vector: expected at least one "
                                         r"parameter, got none"):
        parameters_to_vector([])
    assert np.all(params[0].numpy() == 0)                     # nothing written by the failures


@pytest.mark.skipif(tc.backend.gpu_unavailable_reason() is not None,
                    reason="parameters on two devices need a GPU (or the fake one)")
def test_parameter_vector_refuses_two_devices():
    params = [nn.Parameter(tc.zeros(2, device="cpu")), nn.Parameter(tc.zeros(2, device="gpu"))]
    with pytest.raises(TypeError, match=r"parameters_to_vector: found parameters on different "
                                        r"devices \(cpu, gpu\); they must all be on one device"):
        parameters_to_vector(params)
    with pytest.raises(TypeError, match=r"vector_to_parameters: found parameters on different "
                                        r"devices"):
        vector_to_parameters(tc.zeros(4), params)


def test_parameter_vectors_against_pytorch():
    torch = _torch()
    ours = _model("cpu")
    theirs = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.Flatten(),
                                 torch.nn.Linear(12, 5))
    for p, q in zip(ours.parameters(), theirs.parameters(), strict=True):
        q.data.copy_(torch.from_numpy(p.numpy().copy()))
    np.testing.assert_array_equal(parameters_to_vector(ours.parameters()).detach().numpy(),
                                  torch.nn.utils.parameters_to_vector(theirs.parameters())
                                  .detach().numpy())
    vec = np.random.default_rng(1).normal(size=sum(p.numel() for p in theirs.parameters()))
    vector_to_parameters(tc.tensor(vec, dtype=tc.float32), ours.parameters())
    torch.nn.utils.vector_to_parameters(torch.tensor(vec, dtype=torch.float32),
                                        theirs.parameters())
    for p, q in zip(ours.parameters(), theirs.parameters(), strict=True):
        np.testing.assert_array_equal(p.numpy(), q.detach().numpy())
