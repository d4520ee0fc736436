"""Module API: attribute walking, names, containers, modes, to(), freezing, state_dict, repr."""

from collections import OrderedDict

import numpy as np
import pytest

import tinygrad_cnn as tc
from tinygrad_cnn import nn
from tinygrad_cnn.tensor import Tensor


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU())
        self.heads = [nn.Linear(8, 3), nn.Linear(3, 2)]        # a plain list is walked too
        self.extra = {"scale": nn.Parameter(tc.ones(1))}       # and a dict
        self.register_buffer("steps", tc.zeros(1))

    def forward(self, x):
        x = self.features(x).flatten(1)
        for head in self.heads:
            x = head(x)
        return x * self.extra["scale"]


def test_named_parameters_buffers_children_in_definition_order():
    model = Block()
    assert [n for n, _ in model.named_parameters()] == [
        "features.0.weight", "features.0.bias", "features.1.weight", "features.1.bias",
        "heads.0.weight", "heads.0.bias", "heads.1.weight", "heads.1.bias", "extra.scale"]
    assert [n for n, _ in model.named_buffers()] == [
        "features.1.running_mean", "features.1.running_var", "features.1.num_batches_tracked",
        "steps"]
    assert [n for n, _ in model.named_children()] == ["features", "heads.0", "heads.1"]
    assert [n for n, _ in model.named_modules()] == [
        "", "features", "features.0", "features.1", "features.2", "heads.0", "heads.1"]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in model.parameters())
    assert len(list(model.parameters(recurse=False))) == 1
    out = model(tc.randn(2, 1, 4, 4))
    assert out.shape == (2, 2)


def test_shared_parameter_listed_once():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(3, 3)
            self.b = nn.Linear(3, 3)
            self.b.weight = self.a.weight

    model = Tied()
    assert [n for n, _ in model.named_parameters()] == ["a.weight", "a.bias", "b.bias"]
    assert model.num_parameters() == 9 + 3 + 3


def test_containers():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[1], nn.ReLU) and isinstance(seq[-1], nn.Linear)
    head = seq[1:]
    assert isinstance(head, nn.Sequential) and len(head) == 2
    assert [n for n, _ in head.named_children()] == ["1", "2"]
    seq.append(nn.Sigmoid())
    assert [n for n, _ in seq.named_children()] == ["0", "1", "2", "3"]
    x = tc.randn(4, 2)
    ref = tc.sigmoid(seq[2](tc.relu(seq[0](x))))
    np.testing.assert_allclose(seq(x).numpy(), ref.numpy(), rtol=1e-6)
    assert [type(m).__name__ for m in seq] == ["Linear", "ReLU", "Linear", "Sigmoid"]
    named = nn.Sequential(OrderedDict([("conv", nn.Conv2d(1, 1, 1)), ("act", nn.ReLU())]))
    assert list(named.state_dict()) == ["conv.weight", "conv.bias"]
    with pytest.raises(IndexError, match="index 9 is out of range for 2 modules"):
        named[9]
    with pytest.raises(TypeError, match="expected an nn.Module, got int"):
        nn.Sequential(nn.ReLU(), 3)

    ml = nn.ModuleList([nn.Linear(1, 1), nn.Linear(1, 2)])
    ml.append(nn.Linear(2, 2))
    ml.insert(0, nn.Identity())
    assert len(ml) == 4 and isinstance(ml[0], nn.Identity)
    assert [n for n, _ in ml.named_parameters()][:2] == ["1.weight", "1.bias"]
    del ml[0]
    assert [n for n, _ in ml.named_parameters()][:2] == ["0.weight", "0.bias"]
    with pytest.raises(NotImplementedError):
        ml(x)

    md = nn.ModuleDict({"enc": nn.Linear(2, 2), "dec": nn.Linear(2, 1)})
    md["act"] = nn.Tanh()
    assert list(md.keys()) == ["enc", "dec", "act"] and "dec" in md
    assert list(md.state_dict()) == ["enc.weight", "enc.bias", "dec.weight", "dec.bias"]
    with pytest.raises(KeyError, match="no key 'nope'"):
        md["nope"]
    with pytest.raises(KeyError, match=r"no key 'nope'; keys are \['enc', 'dec', 'act'\]"):
        md.pop("nope")
    with pytest.raises(KeyError, match="no key 'gone'"):
        del md["gone"]
    assert isinstance(md.pop("act"), nn.Tanh) and list(md.keys()) == ["enc", "dec"]
    ident = nn.Identity(54, unused="x")
    assert ident(x) is x


def test_train_eval_zero_grad_requires_grad():
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5), nn.BatchNorm1d(3))
    assert all(m.training for m in model.modules())
    model.eval()
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    model(tc.randn(4, 3)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.numpy().any() for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    model[0].requires_grad_(False)
    assert model.num_parameters() == 6
    assert model.num_parameters(trainable_only=False) == 12 + 6
    model(tc.randn(4, 3)).sum().backward()
    assert model[0].weight.grad is None and model[2].weight.grad is not None


def test_to_moves_in_place_and_casts_float_only(device):
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    params = list(model.parameters())
    weight_before = model[0].weight.numpy().copy()
    assert model.to(device, dtype=tc.float64) is model
    # the same Parameter objects, so an optimizer built before .to() still sees them
    assert all(a is b for a, b in zip(params, model.parameters(), strict=True))
    dev = tc.backend.normalize_device(device)
    assert all(t.device == dev for t in list(model.parameters()) + list(model.buffers()))
    assert model[0].weight.dtype == np.float64
    assert model[1].num_batches_tracked.dtype == np.int64
    np.testing.assert_allclose(model[0].weight.numpy(), weight_before, rtol=1e-7)
    model.float()
    assert model[0].weight.dtype == np.float32


def test_state_dict_round_trip_exact():
    tc.manual_seed(1)
    a = Block()
    a(tc.randn(3, 1, 4, 4))                       # moves BatchNorm's running statistics
    state = a.state_dict()
    assert list(state)[:2] == ["features.0.weight", "features.0.bias"]
    assert "features.1.running_var" in state and "steps" in state
    tc.manual_seed(2)
    b = Block()
    assert not np.array_equal(b.features[0].weight.numpy(), state["features.0.weight"].numpy())
    result = b.load_state_dict({k: v.numpy().copy() for k, v in state.items()})
    assert result.missing_keys == [] and result.unexpected_keys == []
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=False):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x.numpy(), y.numpy(), err_msg=name)
    x = tc.randn(2, 1, 4, 4)
    a.eval(), b.eval()
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())


def test_load_state_dict_errors_name_keys_and_shapes():
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1))
    state = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    bad = dict(state)
    del bad["0.bias"]
    bad["2.gamma"] = np.zeros(1, dtype=np.float32)
    with pytest.raises(KeyError, match=r"missing key\(s\): '0.bias'; unexpected key\(s\): "
                                       r"'2.gamma'"):
        model.load_state_dict(bad)
    result = model.load_state_dict(bad, strict=False)
    assert result.missing_keys == ["0.bias"] and result.unexpected_keys == ["2.gamma"]
    wrong = dict(state)
    wrong["2.weight"] = np.zeros((2, 1), dtype=np.float32)
    before = model[0].weight.numpy().copy()
    wrong["0.weight"] = np.full((2, 3), 7, dtype=np.float32)
    with pytest.raises(ValueError, match=r"size mismatch for '2.weight': the checkpoint has shape "
                                         r"\(2, 1\), the model has \(1, 2\)"):
        model.load_state_dict(wrong)
    np.testing.assert_array_equal(model[0].weight.numpy(), before)   # nothing half-loaded
    typed = dict(state)
    typed["0.bias"] = state["0.bias"].astype(np.float64)
    with pytest.raises(TypeError, match="dtype mismatch for '0.bias': the checkpoint has "
                                        "float64, the model has float32"):
        model.load_state_dict(typed)


def test_assignment_rules():
    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(tc.zeros(2))

    with pytest.raises(AttributeError, match=r"before Module.__init__\(\)"):
        Early()
    layer = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="cannot assign a Tensor to parameter 'weight'"):
        layer.weight = tc.zeros(2, 2)
    layer.bias = None
    assert [n for n, _ in layer.named_parameters()] == ["weight"]
    p = nn.Parameter(tc.ones(3))
    assert repr(p).startswith("Parameter containing:") and p.requires_grad
    frozen = nn.Parameter(np.zeros(2), requires_grad=False)
    assert not frozen.requires_grad and frozen.dtype == np.float64


def test_repr_tree():
    model = Block()
    text = repr(model)
    assert text.startswith("Block(\n  (features): Sequential(\n    (0): Conv2d(1, 2, "
                           "kernel_size=(3, 3), stride=(1, 1))\n")
    assert "    (2): ReLU()\n  )\n  (heads.0): Linear(in_features=8, out_features=3, bias=True)" \
        in text
    assert text.endswith(")\n)")


def test_forward_hooks():
    layer = nn.Linear(2, 2)
    seen = []
    handle = layer.register_forward_hook(lambda m, inputs, out: seen.append(out.shape))
    pre = layer.register_forward_pre_hook(lambda m, inputs: seen.append("pre"))
    layer(tc.zeros(5, 2))
    handle.remove(), pre.remove()
    layer(tc.zeros(5, 2))
    assert seen == ["pre", (5, 2)]
    doubled = layer.register_forward_hook(lambda m, i, out: out * 2)
    x = Tensor(np.ones((1, 2), dtype=np.float32))
    expected = 2 * (layer.weight.numpy().sum(1) + layer.bias.numpy())
    np.testing.assert_allclose(layer(x).numpy()[0], expected, rtol=1e-6)
    doubled.remove()


def test_apply_visits_children_first():
    model = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.ReLU(), nn.Linear(3, 1)))
    seen = []
    assert model.apply(lambda m: seen.append(type(m).__name__)) is model
    assert seen == ["Linear", "ReLU", "Linear", "Sequential", "Sequential"]

    def init_linear(m):
        if isinstance(m, nn.Linear):
            nn.init.constant_(m.weight, 0.5)
            nn.init.zeros_(m.bias)

    model.apply(init_linear)
    assert (model[1][1].weight.numpy() == 0.5).all() and not model[0].bias.numpy().any()
