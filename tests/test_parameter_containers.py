"""nn.ParameterList, nn.ParameterDict (registered parameters: named_parameters, state_dict,
to(device), checkpoints, optimizers) and nn.Unflatten (against reshape, PyTorch, gradcheck)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tinygrad_cnn import nn
from tinygrad_cnn.tensor import Tensor


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.heads = nn.ParameterList([tc.randn(3, 3), nn.Parameter(tc.zeros(3))])
        self.scales = nn.ParameterDict({"alpha": tc.ones(2), "beta": nn.Parameter(tc.zeros(1))})
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        h = (x @ self.heads[0].T + self.heads[1]) * self.scales["alpha"][0]
        return self.fc(h) + self.scales["beta"]


NAMES = ["heads.0", "heads.1", "scales.alpha", "scales.beta", "fc.weight", "fc.bias"]


def test_parameters_are_registered_in_order():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == NAMES
    assert list(net.state_dict()) == NAMES
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.parameters())
    assert net.num_parameters() == 9 + 3 + 2 + 1 + 6 + 2
    # a Parameter added later is seen too; a Tensor is wrapped in a Parameter
    net.heads.append(tc.ones(4))
    net.scales["gamma"] = tc.ones(1)
    assert isinstance(net.heads[2], nn.Parameter) and isinstance(net.scales["gamma"], nn.Parameter)
    assert [n for n, _ in net.named_parameters()][:6] == NAMES[:2] + ["heads.2"] + NAMES[2:4] + [
        "scales.gamma"]


def test_gradients_reach_them_and_an_optimizer_steps_them():
    net = Net()
    x = tc.randn(4, 3)
    opt = tc.optim.SGD(net.parameters(), lr=0.1)
    before = [p.numpy().copy() for p in net.parameters()]
    net(x).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    opt.step()
    after = [p.numpy() for p in net.parameters()]
    assert all(not np.array_equal(a, b) for a, b in zip(before, after, strict=True))


def test_to_device_and_checkpoint_round_trip(device, tmp_path):
    net = Net()
    heads0 = net.heads[0]
    net.to(device)
    assert net.heads[0] is heads0     # moved in place: an optimizer built earlier keeps it
    expected = tc.backend.normalize_device(device)
    assert all(p.device == expected for p in net.parameters())
    path = tmp_path / "net.pt"
    tc.save(net.state_dict(), path)
    other = Net().to(device)
    other.load_state_dict(tc.load(path))
    for (name, a), (_, b) in zip(net.state_dict().items(), other.state_dict().items(),
                                 strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
    with pytest.raises(KeyError, match="scales.alpha"):
        state = net.state_dict()
        del state["scales.alpha"]
        Net().load_state_dict(state)


def test_parameter_list_behaves_like_a_list():
    pl = nn.ParameterList()
    assert len(pl) == 0 and repr(pl) == "ParameterList()"
    pl.extend([tc.zeros(1), tc.zeros(2)])
    pl += [tc.zeros(3)]
    assert [p.shape for p in pl] == [(1,), (2,), (3,)]
    assert pl[-1].shape == (3,)
    sliced = pl[1:]
    assert isinstance(sliced, nn.ParameterList) and [p.shape for p in sliced] == [(2,), (3,)]
    assert sliced[0] is pl[1]
    new = nn.Parameter(tc.ones(5))
    pl[0] = new
    assert pl[0] is new and [n for n, _ in pl.named_parameters()] == ["0", "1", "2"]
    on = "" if tc.backend.get_default_device() == "cpu" else " on gpu"
    assert repr(pl) == (f"ParameterList(\n  (0): Parameter containing: [float32 of shape (5,)"
                        f"{on}]\n  (1): Parameter containing: [float32 of shape (2,){on}]\n"
                        f"  (2): Parameter containing: [float32 of shape (3,){on}]\n)")
    with pytest.raises(IndexError, match="ParameterList index 3 is out of range for 3 "
                                         "parameters"):
        pl[3]
    with pytest.raises(TypeError, match=r"ParameterList.append: expected an nn.Parameter or a "
                                        r"Tensor, got float"):
        pl.append(1.0)
    with pytest.raises(TypeError, match=r"ParameterList\[0\]: expected an nn.Parameter or a "
                                        r"Tensor, got list"):
        pl[0] = [1.0]
    with pytest.raises(NotImplementedError):
        pl(tc.zeros(1))


def test_parameter_dict_behaves_like_a_dict():
    pd = nn.ParameterDict([("b", tc.zeros(1)), ("a", tc.zeros(2))])
    assert list(pd) == ["b", "a"] and list(pd.keys()) == ["b", "a"]
    assert "a" in pd and "c" not in pd and len(pd) == 2
    assert [p.shape for p in pd.values()] == [(1,), (2,)]
    assert pd.get("c") is None and pd.get("a") is pd["a"]
    pd.update({"c": tc.zeros(3)})
    popped = pd.pop("b")
    assert popped.shape == (1,) and list(pd) == ["a", "c"]
    del pd["a"]
    assert [k for k, _ in pd.items()] == ["c"]
    with pytest.raises(KeyError, match=r"ParameterDict has no key 'x'; keys are \['c'\]"):
        pd["x"]
    with pytest.raises(KeyError, match="keys must be non-empty strings without '.', got 'a.b'"):
        pd["a.b"] = tc.zeros(1)
    with pytest.raises(TypeError, match=r"ParameterDict\['d'\]: expected an nn.Parameter or a "
                                        r"Tensor, got int"):
        pd["d"] = 3
    pd.clear()
    assert len(pd) == 0 and list(pd.parameters()) == []


# ---------------------------------------------------------------------- Unflatten


@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3), data=st.data())
def test_unflatten(shape, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[dim]
    first = data.draw(st.sampled_from([d for d in range(1, n + 1) if n % d == 0]))
    sizes = data.draw(st.sampled_from([(first, n // first), (first, -1), (n,), (-1, 1)]))
    as_list = data.draw(st.booleans())
    x = np.random.default_rng(0).normal(size=shape)
    m = nn.Unflatten(dim, list(sizes) if as_list else sizes)
    out = m(Tensor(x))
    d = dim % len(shape)
    full = tuple(n // np.prod([s for s in sizes if s != -1]) if s == -1 else s for s in sizes)
    expected = x.reshape(tuple(shape[:d]) + full + tuple(shape[d + 1:]))
    np.testing.assert_array_equal(out.numpy(), expected)
    assert tc.gradcheck(lambda a: m(a), (x,))
    assert tc.gradgradcheck(lambda a: m(a) * m(a), (x,))


def test_unflatten_inverts_flatten_and_errors(device):
    x = tc.randn(2, 3, 4, 5, device=device)
    seq = nn.Sequential(nn.Flatten(), nn.Unflatten(1, (3, 4, 5)))
    np.testing.assert_array_equal(seq(x).numpy(), x.numpy())
    assert repr(nn.Unflatten(1, (3, 4))) == "Unflatten(dim=1, unflattened_size=(3, 4))"
    with pytest.raises(TypeError, match="Unflatten: unflattened_size must be a tuple or list of "
                                        "ints, got int"):
        nn.Unflatten(1, 12)
    with pytest.raises(TypeError, match=r"Unflatten: unflattened_size must hold ints, got float "
                                        r"at position 1 of \(3, 4.0\)"):
        nn.Unflatten(1, (3, 4.0))
    with pytest.raises(ValueError, match=r"unflatten: sizes \(3, 5\) do not multiply up to 60"):
        nn.Unflatten(1, (3, 5))(x.reshape(2, 60))


def test_unflatten_against_pytorch():
    torch = pytest.importorskip("torch", reason="PyTorch is the optional oracle")
    x = np.arange(2 * 12 * 5, dtype=np.float64).reshape(2, 12, 5)
    for dim, sizes in [(1, (3, 4)), (-2, (2, -1)), (2, [5, 1]), (0, (1, 2))]:
        ours = nn.Unflatten(dim, sizes)(Tensor(x)).numpy()
        theirs = torch.nn.Unflatten(dim, sizes)(torch.tensor(x)).numpy()
        np.testing.assert_array_equal(ours, theirs)
    for value in ([tc.zeros(2)], {"a": tc.zeros(2)}):
        kind = "ParameterList" if isinstance(value, list) else "ParameterDict"
        assert len(getattr(nn, kind)(value)) == 1 == len(getattr(torch.nn, kind)(
            [torch.zeros(2)] if isinstance(value, list) else {"a": torch.zeros(2)}))
