"""Initialisers: fans, gains, and sample statistics within sampling tolerance."""

import math

import numpy as np
import pytest

import tinygrad_cnn as tc
from tinygrad_cnn import nn
from tinygrad_cnn.nn import init

SHAPE = (256, 64, 3, 3)          # a conv weight: fan_in 576, fan_out 2304; 147,456 samples
FAN_IN, FAN_OUT = 64 * 9, 256 * 9


def _check_stats(values, mean, var, n_sigma=6):
    """Sample mean/variance within n_sigma standard errors of the expected ones."""
    v = values.reshape(-1).astype(np.float64)
    n = v.size
    assert abs(v.mean() - mean) < n_sigma * math.sqrt(var / n), (v.mean(), mean)
    # Var of the sample variance ~ 2 var^2 / n (normal) or 0.8 var^2 / n (uniform): use 2
    assert abs(v.var() - var) < n_sigma * var * math.sqrt(2 / n), (v.var(), var)


def test_fans_and_gains():
    assert init.calculate_fan_in_and_fan_out(tc.zeros(*SHAPE)) == (FAN_IN, FAN_OUT)
    assert init.calculate_fan_in_and_fan_out(nn.Linear(7, 5).weight) == (7, 5)
    assert init.calculate_fan_in_and_fan_out(nn.ConvTranspose2d(4, 6, 3).weight) == (54, 36)
    with pytest.raises(ValueError, match=r"at least 2 dims, got shape \(5,\)"):
        init.calculate_fan_in_and_fan_out(tc.zeros(5))
    assert init.calculate_gain("linear") == 1 == init.calculate_gain("conv2d")
    assert init.calculate_gain("sigmoid") == 1
    assert init.calculate_gain("tanh") == 5 / 3
    assert init.calculate_gain("relu") == math.sqrt(2)
    assert init.calculate_gain("leaky_relu") == math.sqrt(2 / (1 + 0.01**2))
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == math.sqrt(1 / 3)
    assert init.calculate_gain("selu") == 0.75
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")


@pytest.mark.parametrize("gain", [1.0, 2.0])
def test_xavier(gain):
    w = tc.zeros(*SHAPE)
    bound = gain * math.sqrt(6 / (FAN_IN + FAN_OUT))
    assert init.xavier_uniform_(w, gain) is w
    assert np.abs(w.numpy()).max() <= bound
    _check_stats(w.numpy(), 0.0, bound**2 / 3)
    init.xavier_normal_(w, gain)
    _check_stats(w.numpy(), 0.0, gain**2 * 2 / (FAN_IN + FAN_OUT))


@pytest.mark.parametrize("mode,fan", [("fan_in", FAN_IN), ("fan_out", FAN_OUT)])
@pytest.mark.parametrize("nonlinearity,a", [("relu", 0), ("leaky_relu", 0.2),
                                            ("leaky_relu", math.sqrt(5))])
def test_kaiming(mode, fan, nonlinearity, a):
    w = tc.zeros(*SHAPE)
    gain = init.calculate_gain(nonlinearity, a)
    init.kaiming_uniform_(w, a=a, mode=mode, nonlinearity=nonlinearity)
    bound = gain * math.sqrt(3 / fan)
    assert np.abs(w.numpy()).max() <= bound
    _check_stats(w.numpy(), 0.0, bound**2 / 3)
    init.kaiming_normal_(w, a=a, mode=mode, nonlinearity=nonlinearity)
    _check_stats(w.numpy(), 0.0, gain**2 / fan)
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out'"):
        init.kaiming_normal_(w, mode="fan_avg")


def test_uniform_normal_constant():
    w = tc.zeros(400, 300, dtype=tc.float64)
    init.uniform_(w, -2.0, 3.0)
    assert w.numpy().min() >= -2 and w.numpy().max() < 3
    _check_stats(w.numpy(), 0.5, 25 / 12)
    init.normal_(w, 1.5, 0.3)
    _check_stats(w.numpy(), 1.5, 0.09)
    init.constant_(w, 0.25)
    assert (w.numpy() == 0.25).all()
    init.zeros_(w)
    assert not w.numpy().any()
    init.ones_(w)
    assert (w.numpy() == 1).all()
    with pytest.raises(ValueError, match="lower bound"):
        init.uniform_(w, 1.0, 0.0)
    with pytest.raises(TypeError, match="needs a float tensor"):
        init.normal_(tc.zeros(3, dtype=tc.int64))


def test_init_follows_manual_seed_and_keeps_dtype(device):
    w = tc.zeros(3, 4, device=device)
    tc.manual_seed(42)
    a = init.kaiming_uniform_(w).numpy().copy()
    tc.manual_seed(42)
    np.testing.assert_array_equal(a, init.kaiming_uniform_(w).numpy())
    assert w.dtype == np.float32 and w.device == tc.backend.normalize_device(device)
    p = nn.Linear(3, 4).weight
    assert init.xavier_normal_(p) is p and p.requires_grad and p.grad is None


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_random_init_draws_in_the_weights_dtype(dtype):
    # float32 and float64 weights are drawn in their own dtype, as tc.rand draws (a float32
    # VGG-11 took 8.6 s through float64 draws); float16 is drawn in float64 and cast
    draw_dtype = np.float64 if dtype == np.float16 else dtype
    w = tc.zeros(50, 40, dtype=dtype, device="cpu")
    tc.manual_seed(7)
    init.uniform_(w, -0.5, 0.25)
    u = np.random.default_rng(7).random((50, 40), dtype=draw_dtype)
    np.testing.assert_array_equal(w.numpy(), (u * 0.75 - 0.5).astype(dtype))
    assert w.dtype == dtype and w.numpy().min() >= -0.5 and w.numpy().max() <= 0.25
    tc.manual_seed(7)
    init.normal_(w, 2.0, 0.5)
    z = np.random.default_rng(7).standard_normal((50, 40), dtype=draw_dtype)
    np.testing.assert_array_equal(w.numpy(), (z * 0.5 + 2.0).astype(dtype))
