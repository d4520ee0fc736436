"""LazyLinear and LazyConv2d: input size inferred at the first call, initialised as the eager
layers, parameters() and optimizers before the call, state_dict loading before and after it,
PyTorch's reprs and values, the documented example, errors."""

import pathlib
import re

import numpy as np
import pytest

import tinygrad_cnn as tc
import tinygrad_cnn.nn.functional as F
from tinygrad_cnn import nn

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"


def test_lazy_linear_infers_in_features_and_initialises_as_linear():
    x = np.random.default_rng(0).standard_normal((4, 7))
    tc.manual_seed(0)
    lazy = nn.LazyLinear(3)
    assert lazy.in_features == 0 and lazy.has_uninitialized_params()
    out = lazy(tc.Tensor(x, dtype="float32"))
    tc.manual_seed(0)
    eager = nn.Linear(7, 3)
    assert type(lazy) is nn.Linear and lazy.in_features == 7
    assert repr(lazy) == repr(eager)
    np.testing.assert_array_equal(lazy.weight.numpy(), eager.weight.numpy())
    np.testing.assert_array_equal(lazy.bias.numpy(), eager.bias.numpy())
    np.testing.assert_array_equal(out.numpy(), eager(tc.Tensor(x, dtype="float32")).numpy())


def test_lazy_conv2d_infers_in_channels_and_initialises_as_conv2d():
    x = np.random.default_rng(0).standard_normal((2, 4, 6, 6)).astype(np.float32)
    tc.manual_seed(1)
    lazy = nn.LazyConv2d(6, 3, stride=2, padding=1, groups=2, bias=False)
    out = lazy(tc.Tensor(x))
    tc.manual_seed(1)
    eager = nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2, bias=False)
    assert type(lazy) is nn.Conv2d and lazy.in_channels == 4 and lazy.bias is None
    assert lazy.weight.shape == (6, 2, 3, 3) and repr(lazy) == repr(eager)
    np.testing.assert_array_equal(lazy.weight.numpy(), eager.weight.numpy())
    np.testing.assert_array_equal(out.numpy(), eager(tc.Tensor(x)).numpy())


def test_parameters_before_the_first_call_and_an_optimizer_built_then():
    model = nn.Sequential(nn.LazyConv2d(4, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(2))
    params = list(model.parameters())
    assert len(params) == 4 and all(isinstance(p, nn.UninitializedParameter) for p in params)
    assert all(p.shape == (0,) for p in params) and model.num_parameters() == 0
    assert "UninitializedParameter" in repr(params[0])
    optimizer = tc.optim.Adam(model.parameters(), lr=0.1)
    x = tc.randn(2, 3, 5, 5)
    loss = model(x).sum()
    assert [p.shape for p in model.parameters()] == [(4, 3, 3, 3), (4,), (2, 36), (2,)]
    assert all(p is q for p, q in zip(params, model.parameters(), strict=True))  # the same objects
    assert all(type(p) is nn.Parameter for p in params)
    before = [p.numpy().copy() for p in params]
    loss.backward()
    optimizer.step()
    assert all(np.abs(p.numpy() - b).max() > 0 for p, b in zip(params, before, strict=True))
    assert model.num_parameters() == 4 * 27 + 4 + 2 * 36 + 2


def test_dtype_and_device_set_before_the_first_call_are_kept():
    layer = nn.LazyLinear(3, dtype="float64")
    assert layer.weight.dtype == np.float64
    layer = nn.LazyConv2d(2, 1).double()
    layer(tc.Tensor(np.ones((1, 3, 2, 2))))
    assert layer.weight.dtype == np.float64 and layer.weight.shape == (2, 3, 1, 1)
    layer.to("cpu")
    assert layer.weight.device == "cpu"


def _model():
    return nn.Sequential(nn.LazyConv2d(4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.LazyLinear(5), nn.ReLU(), nn.LazyLinear(2))


def test_state_dict_loads_before_and_after_the_first_call():
    x = tc.randn(2, 3, 8, 8)
    trained = _model()
    expected = trained(x).numpy()
    state = {k: v.numpy().copy() for k, v in trained.state_dict().items()}
    fresh = _model()                          # never called: the checkpoint gives the shapes
    fresh.load_state_dict(state)
    assert [type(m).__name__ for m in fresh][:5:4] == ["Conv2d", "Linear"]
    np.testing.assert_array_equal(fresh(x).numpy(), expected)
    called = _model()
    called(x)                                 # initialised by a call, then loaded
    called.load_state_dict(state)
    np.testing.assert_array_equal(called(x).numpy(), expected)


def test_a_failed_strict_load_leaves_a_lazy_model_uninitialised():
    fresh = _model()
    with pytest.raises(KeyError, match=r"missing key\(s\): '6.weight', '6.bias'"):
        fresh.load_state_dict({k: v for k, v in _trained_state().items()
                               if not k.startswith("6.")})
    assert fresh[0].has_uninitialized_params()


def _trained_state():
    model = _model()
    model(tc.randn(1, 3, 8, 8))
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def test_summary_counts_the_inferred_parameters():
    model = nn.Sequential(nn.Conv2d(3, 32, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.LazyLinear(2))
    rows = tc.summary(model, (3, 64, 64), print_fn=lambda *a: None)
    assert rows.total_params == (5 * 5 * 3 * 32 + 32) + (32 * 30 * 30 * 2 + 2)
    assert rows[-1].params == 32 * 30 * 30 * 2 + 2


def test_lazy_layers_against_pytorch():
    torch = pytest.importorskip("torch")
    assert repr(nn.LazyLinear(2)) == repr(torch.nn.LazyLinear(2))
    assert repr(nn.LazyConv2d(8, 3)) == repr(torch.nn.LazyConv2d(8, 3))
    model = _model().double()
    tmodel = torch.nn.Sequential(torch.nn.LazyConv2d(4, 3), torch.nn.ReLU(),
                                 torch.nn.MaxPool2d(2), torch.nn.Flatten(),
                                 torch.nn.LazyLinear(5), torch.nn.ReLU(),
                                 torch.nn.LazyLinear(2)).double()
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8))
    model(tc.Tensor(x)), tmodel(torch.tensor(x))
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in tmodel.state_dict().items()}
    tmodel.load_state_dict({k: torch.tensor(v.numpy()) for k, v in model.state_dict().items()})
    np.testing.assert_allclose(model(tc.Tensor(x)).numpy(),
                               tmodel(torch.tensor(x)).detach().numpy(), rtol=1e-12)


def test_gradcheck_through_materialized_layers():
    layer = nn.LazyConv2d(2, 2).double()
    x = np.random.default_rng(0).standard_normal((1, 3, 4, 4))
    layer(tc.Tensor(x))
    w, b = layer.weight.numpy().copy(), layer.bias.numpy().copy()
    assert tc.gradcheck(lambda x: layer(x), (x,))
    np.testing.assert_allclose(layer(tc.Tensor(x)).numpy(),
                               F.conv2d(tc.Tensor(x), tc.Tensor(w), tc.Tensor(b)).numpy(),
                               rtol=1e-12)


def test_lazy_errors_name_the_layer():
    with pytest.raises(ValueError, match=r"LazyConv2d: the input's 3 channels are not divisible "
                                         r"by groups=2"):
        nn.LazyConv2d(4, 3, groups=2)(tc.zeros(1, 3, 5, 5))
    with pytest.raises(ValueError, match=r"LazyConv2d\(4, kernel_size=\(3, 3\)\): expected a "
                                         r"4-D input \(N, C, H, W\), got \(3, 5, 5\)"):
        nn.LazyConv2d(4, 3)(tc.zeros(3, 5, 5))
    with pytest.raises(ValueError, match=r"LazyLinear\(out_features=2\): expected an input "
                                         r"\(\*, in_features\), got \(\)"):
        nn.LazyLinear(2)(tc.tensor(1.0))
    with pytest.raises(ValueError, match=r"LazyConv2d: out_channels must be positive"):
        nn.LazyConv2d(0, 3)


def test_modules_md_lazy_example_runs():
    text = (DOCS / "modules.md").read_text()
    section = text[text.index("## Lazy layers"):]
    block = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    exec(compile(block, "modules.md", "exec"), {})
