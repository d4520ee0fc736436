"""tinygrad_cnn.models: output shapes, parameter counts against hand-computed formulas, a float64
gradient check through each model, and errors."""

import numpy as np
import pytest

import tinygrad_cnn as tc
from tinygrad_cnn import models


def _conv(cin, cout, k):
    return cout * cin * k * k + cout


def _linear(fin, fout):
    return fin * fout + fout


@pytest.mark.parametrize("size,flat", [(28, 16 * 5 * 5), (32, 16 * 6 * 6)])
def test_lenet5_shapes_and_parameter_count(size, flat):
    model = models.lenet5(in_channels=1, num_classes=10, input_size=size)
    out = model(tc.randn(2, 1, size, size))
    assert out.shape == (2, 10)
    expected = (_conv(1, 6, 5) + _conv(6, 16, 5) + _linear(flat, 120) + _linear(120, 84)
                + _linear(84, 10))
    assert model.num_parameters() == expected
    if size == 28:
        assert expected == 61706  # the classic LeNet-5 figure


def test_digits_cnn_shapes_and_parameter_count():
    model = models.digits_cnn(in_channels=1, num_classes=10, width=8)
    assert model(tc.randn(3, 1, 8, 8)).shape == (3, 10)
    bn = 2 * 8 + 2 * 16  # BatchNorm weight and bias per channel
    expected = _conv(1, 8, 3) + _conv(8, 16, 3) + bn + _linear(16 * 2 * 2, 64) + _linear(64, 10)
    assert model.num_parameters() == expected


def test_article_cnn_matches_the_article_layout():
    model = models.article_cnn(input_shape=(3, 64, 64), num_classes=2, filters=32)
    assert model(tc.randn(2, 3, 64, 64)).shape == (2, 2)
    # conv 5x5 valid: 64 -> 60, pool 2 -> 30; dense 32*30*30 -> 2
    assert model.num_parameters() == _conv(3, 32, 5) + _linear(32 * 30 * 30, 2)
    # parameters depend on the image size only through the dense layer
    small = models.article_cnn(input_shape=(3, 16, 16), num_classes=2, filters=32)
    assert small.num_parameters() == _conv(3, 32, 5) + _linear(32 * 6 * 6, 2)


def test_simple_cnn_shapes():
    model = models.simple_cnn(in_channels=3, num_classes=10, input_size=32, width=4)
    model.eval()
    assert model(tc.randn(2, 3, 32, 32)).shape == (2, 10)
    expected = (_conv(3, 4, 3) + _conv(4, 4, 3) + _conv(4, 8, 3) + _conv(8, 8, 3)
                + _linear(8 * 8 * 8, 128) + _linear(128, 10))
    assert model.num_parameters() == expected


@pytest.mark.parametrize("name,shape,kwargs", [
    ("digits_cnn", (1, 8, 8), {"width": 2}),
    ("lenet5", (1, 16, 16), {"input_size": 16}),
    ("article_cnn", (2, 8, 8), {"input_shape": (2, 8, 8), "filters": 2, "kernel_size": 3}),
    ("simple_cnn", (1, 8, 8), {"in_channels": 1, "input_size": 8, "width": 2, "dropout": 0.0}),
])
def test_models_gradcheck_wrt_input(name, shape, kwargs):
    tc.manual_seed(1)
    model = models.build_model(name, num_classes=3, **kwargs).double()
    model.eval()  # BatchNorm with running statistics: each sample is independent
    x = np.random.default_rng(0).normal(size=(2, *shape))
    assert tc.gradcheck(lambda t: model(t), (tc.tensor(x, requires_grad=True),), fast_mode=True,
                        seed=0)


def test_model_kwargs_and_errors():
    assert models.model_kwargs("article_cnn", 3, 2, 32) == {"input_shape": [3, 32, 32],
                                                            "num_classes": 2}
    assert models.model_kwargs("lenet5", 1, 10, (28, 28))["input_size"] == [28, 28]
    with pytest.raises(ValueError, match="digits_cnn expects 8x8 images, got 28x28"):
        models.model_kwargs("digits_cnn", 1, 10, 28)
    with pytest.raises(ValueError, match="unknown model 'resnet'"):
        models.build_model("resnet")
    with pytest.raises(ValueError, match="too small"):
        models.lenet5(input_size=8)
    with pytest.raises(ValueError, match="too small for a 5x5 kernel"):
        models.article_cnn(input_shape=(3, 5, 5))
    with pytest.raises(ValueError, match="multiple of 4"):
        models.simple_cnn(input_size=30)
