"""In-place methods (``add_``, ``mul_``, ``copy_``, ``+=``, ...) and the version counters that
stop a backward from using values changed after its op saved them (tinygrad_cnn/tensor_inplace.py):
values against NumPy (Hypothesis shapes and broadcasting), PyTorch's errors and results as an
extra oracle, and every refusal named."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_cnn as tc
from tinygrad_cnn import nn

RNG = np.random.default_rng(0)
A = RNG.standard_normal((3, 4))
B = RNG.standard_normal((3, 4)) + 3.0  # away from zero: a divisor
ROW = RNG.standard_normal(4) + 3.0

IDX = np.array([[3], [0], [2]])  # one column per row: scatter_'s target positions
SCATTERED, SCATTER_ADDED = A.copy(), A.copy()
for _row, _col in enumerate(IDX[:, 0]):
    SCATTERED[_row, _col] = B[_row, 0]
    SCATTER_ADDED[_row, _col] += B[_row, 0]

# name -> (the in-place call on a, NumPy's result)
IN_PLACE = {
    "add_": (lambda a, b: a.add_(b), A + B),
    "add_ alpha": (lambda a, b: a.add_(b, alpha=-2.5), A - 2.5 * B),
    "add_ number": (lambda a, b: a.add_(1.5), A + 1.5),
    "sub_ alpha": (lambda a, b: a.sub_(b, alpha=0.5), A - 0.5 * B),
    "mul_ row": (lambda a, b: a.mul_(tc.tensor(ROW, device=a.device, dtype=tc.float64)),
                 A * ROW),
    "div_": (lambda a, b: a.div_(b), A / B),
    "div_ floor": (lambda a, b: a.div_(b, rounding_mode="floor"), np.floor(A / B)),
    "clamp_": (lambda a, b: a.clamp_(-0.5, 0.25), np.clip(A, -0.5, 0.25)),
    "fill_": (lambda a, b: a.fill_(2.5), np.full_like(A, 2.5)),
    "fill_ tensor": (lambda a, b: a.fill_(tc.tensor(-1.0, device=a.device)), np.full_like(A, -1)),
    "zero_": (lambda a, b: a.zero_(), np.zeros_like(A)),
    "copy_": (lambda a, b: a.copy_(b), B),
    "copy_ broadcast from NumPy float32": (lambda a, b: a.copy_(ROW.astype(np.float32)),
                                           np.broadcast_to(ROW.astype(np.float32), A.shape)),
    "lerp_": (lambda a, b: a.lerp_(b, 0.25), A + 0.25 * (B - A)),
    "masked_fill_": (lambda a, b: a.masked_fill_(tc.tensor(A > 0, device=a.device), -1.0),
                     np.where(A > 0, -1.0, A)),
    "scatter_": (lambda a, b: a.scatter_(1, tc.tensor(IDX, device=a.device), b),
                 SCATTERED),
    "scatter_add_": (lambda a, b: a.scatter_add_(1, tc.tensor(IDX, device=a.device), b),
                     SCATTER_ADDED),
    "index_add_ alpha": (lambda a, b: a.index_add_(1, tc.tensor([0, 2], device=a.device),
                                                   b[:, :2], alpha=2.0),
                         A + np.stack([2 * B[:, 0], 0 * B[:, 0], 2 * B[:, 1], 0 * B[:, 0]], 1)),
    "+=": (lambda a, b: a.__iadd__(b), A + B),
    "-= number": (lambda a, b: a.__isub__(2.0), A - 2.0),
    "*= row": (lambda a, b: a.__imul__(tc.tensor(ROW, device=a.device, dtype=tc.float64)),
               A * ROW),
    "/=": (lambda a, b: a.__itruediv__(b), A / B),
    "//=": (lambda a, b: a.__ifloordiv__(b), np.floor_divide(A, B)),
    "%=": (lambda a, b: a.__imod__(b), np.mod(A, B)),
    "**= 2": (lambda a, b: a.__ipow__(2), A**2),
}


@pytest.mark.parametrize("name", list(IN_PLACE))
def test_in_place_methods_change_the_tensor_itself_like_numpy(name, device):
    call, expected = IN_PLACE[name]
    a = tc.tensor(A, dtype=tc.float64, device=device)
    alias = a.reshape(12)  # a view of the same array: sees the change, as PyTorch's views do
    array = a.data
    b = tc.tensor(B, dtype=tc.float64, device=device)
    out = call(a, b)
    assert out is a and a.data is array and a.dtype == np.float64 and a.device == device
    np.testing.assert_allclose(a.numpy(), expected, rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(alias.numpy(), expected.reshape(12), rtol=1e-15, atol=1e-15)
    np.testing.assert_array_equal(b.numpy(), B)  # the operand is not touched


@pytest.mark.parametrize("name", list(IN_PLACE))
def test_in_place_methods_match_pytorch(name):
    torch = pytest.importorskip("torch", reason="PyTorch is the optional oracle (bench extra)")
    call = IN_PLACE[name][0]
    ours = call(tc.tensor(A, dtype=tc.float64), tc.tensor(B, dtype=tc.float64))
    theirs_a = torch.tensor(A)
    built_inside = {  # operands the call builds with tc: the same with torch
        "mul_ row": lambda: theirs_a.mul_(torch.tensor(ROW)),
        "*= row": lambda: theirs_a.__imul__(torch.tensor(ROW)),
        "fill_ tensor": lambda: theirs_a.fill_(torch.tensor(-1.0)),
        "copy_ broadcast from NumPy float32": lambda: theirs_a.copy_(
            torch.tensor(ROW.astype(np.float32))),  # torch's copy_ takes tensors only
        "masked_fill_": lambda: theirs_a.masked_fill_(torch.tensor(A > 0), -1.0),
        "scatter_": lambda: theirs_a.scatter_(1, torch.tensor(IDX), torch.tensor(B)),
        "scatter_add_": lambda: theirs_a.scatter_add_(1, torch.tensor(IDX), torch.tensor(B)),
        "index_add_ alpha": lambda: theirs_a.index_add_(1, torch.tensor([0, 2]),
                                                        torch.tensor(B)[:, :2], alpha=2.0)}
    theirs = (built_inside[name]() if name in built_inside
              else call(theirs_a, torch.tensor(B)))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-15, atol=1e-15)


@given(data=st.data(), op=st.sampled_from(["add_", "sub_", "mul_", "+=", "*="]))
def test_an_operand_that_broadcasts_to_the_shape_works_one_beyond_it_is_named(data, op):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=4, max_side=4), label="shape")
    other_shape = data.draw(hnp.broadcastable_shapes(shape, min_dims=0, max_dims=5, max_side=4),
                            label="other shape")
    a_np = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(-10, 10)), label="a")
    b_np = data.draw(hnp.arrays(np.float64, other_shape, elements=st.floats(-10, 10)), label="b")
    a, b = tc.tensor(a_np), tc.tensor(b_np)
    compute = {"add_": np.add, "sub_": np.subtract, "mul_": np.multiply, "+=": np.add,
               "*=": np.multiply}[op]
    expected = compute(a_np, b_np)
    method = {"+=": "__iadd__", "*=": "__imul__"}.get(op, op)
    if expected.shape != a_np.shape:  # b broadcasts a beyond its own shape: refused, a kept
        with pytest.raises(ValueError, match=rf"{re_escape(op)}: the result has shape "
                                             rf"{re_escape(str(expected.shape))} but the tensor"):
            getattr(a, method)(b)
        np.testing.assert_array_equal(a.numpy(), a_np)
    else:
        assert getattr(a, method)(b) is a
        np.testing.assert_array_equal(a.numpy(), expected)


def re_escape(text):
    import re

    return re.escape(text)


def test_dtype_rules_follow_pytorch():
    i = tc.tensor([1, 2, 3])
    i += 2  # an integer result in an integer tensor
    np.testing.assert_array_equal(i.numpy(), [3, 4, 5])
    with pytest.raises(TypeError, match=r"\+=: the result's dtype float32 cannot be stored in "
                                        "place in a tensor of dtype int64"):
        i += 0.5
    with pytest.raises(TypeError, match="mul_: the result's dtype float32 .* dtype int64"):
        i.mul_(tc.tensor([0.5, 0.5, 0.5]))
    np.testing.assert_array_equal(i.numpy(), [3, 4, 5])  # unchanged by the refusals
    f = tc.tensor([1.0, 2.0], dtype=tc.float32)
    f.add_(tc.tensor([0.1, 0.2], dtype=tc.float64))  # float64 into float32: same kind, cast
    assert f.dtype == np.float32
    np.testing.assert_allclose(f.numpy(), [1.1, 2.2], rtol=1e-7)
    c = tc.zeros(3, dtype=tc.int32)
    c.copy_(tc.tensor([1.7, -2.2, 3.9]))  # copy_ casts any dtype, as torch's (truncation)
    np.testing.assert_array_equal(c.numpy(), [1, -2, 3])


def test_bad_copies_and_fills_are_named():
    a = tc.zeros(2, 3)
    with pytest.raises(ValueError, match=r"copy_: the source has shape \(4,\), which does not "
                                         r"broadcast to the destination's \(2, 3\)"):
        a.copy_(tc.ones(4))
    with pytest.raises(ValueError, match=r"fill_: expected a number or a one-element tensor, "
                                         r"got shape \(2,\)"):
        a.fill_(tc.ones(2))
    np.testing.assert_array_equal(a.numpy(), np.zeros((2, 3)))


def test_copy_between_devices(device):
    a = tc.zeros(2, 2, device=device)
    a.copy_(tc.tensor([[1.0, 2.0], [3.0, 4.0]], device="cpu"))
    assert a.device == device
    np.testing.assert_array_equal(a.numpy(), [[1, 2], [3, 4]])
    b = tc.zeros(2, device="cpu")
    b.copy_(tc.tensor([5.0, -0.0], device=device))
    np.testing.assert_array_equal(b.numpy(), [5.0, -0.0])
    assert np.signbit(b.numpy()[1])
    z = tc.ones(2, device=device).fill_(-0.0)
    assert np.signbit(z.numpy()).all()  # CuPy's fill with a zero is a memset: +0.0 there


# ---------------------------------------------------------------------- the autograd rules


def test_manual_sgd_under_no_grad_updates_the_parameters_like_optim_sgd():
    tc.manual_seed(3)
    ours, ref = nn.Linear(3, 2), nn.Linear(3, 2)
    ref.load_state_dict(ours.state_dict())
    x = tc.randn(5, 3)
    for model in (ours, ref):
        model(x).square().sum().backward()
    with tc.no_grad():
        for p in ours.parameters():
            p -= 0.1 * p.grad  # the PyTorch idiom: in place (it was a silent no-op before)
    tc.optim.SGD(ref.parameters(), lr=0.1).step()
    for p, q in zip(ours.parameters(), ref.parameters(), strict=True):
        np.testing.assert_array_equal(p.numpy(), q.numpy())
        assert p.requires_grad and p._node is None  # still the same leaf parameters


def test_a_leaf_that_requires_grad_refuses_in_place_changes_in_grad_mode():
    w = tc.ones(3, requires_grad=True)
    for change in (lambda: w.add_(1.0), lambda: w.__isub__(1.0), lambda: w.zero_(),
                   lambda: w.copy_(tc.zeros(3)), lambda: w.__setitem__(0, 5.0)):
        with pytest.raises(RuntimeError, match=r"a leaf tensor that requires grad \(shape "
                                               r"\(3,\)\) cannot be changed in place while grad "
                                               r"mode is on.*tc.no_grad\(\)"):
            change()
    np.testing.assert_array_equal(w.numpy(), np.ones(3))


def test_methods_refuse_a_tensor_in_the_graph_and_operators_rebind_it():
    w = tc.tensor([1.0, 2.0], requires_grad=True)
    h = w * 3.0  # a non-leaf in the graph
    with pytest.raises(RuntimeError, match=r"add_: tinygrad_cnn cannot change a tensor in the "
                                           r"autograd graph in place.*t = t.add\(...\)"):
        h.add_(1.0)
    data = tc.tensor([1.0, 1.0])
    with pytest.raises(RuntimeError, match=r"mul_: .*autograd graph"):
        data.mul_(w)  # would make a plain tensor depend on w: its gradient would be lost
    with pytest.raises(RuntimeError, match=r"t\[\.\.\.\] = v .*autograd graph.*tc.where"):
        data[0] = w[0]  # was silently a copy of the value, the gradient lost
    kept = h
    h += w  # a residual sum: a new node, the name rebound, as `out = out + identity`
    assert h is not kept and h._node is not None
    data += w
    assert data.requires_grad and data._node is not None
    (h.sum() + data.sum()).backward()
    np.testing.assert_array_equal(w.grad.numpy(), [5.0, 5.0])  # 3 + 1 from h, 1 from data


def test_a_residual_block_with_plus_equals_trains_like_the_plain_sum():
    tc.manual_seed(1)
    conv = nn.Conv2d(2, 2, 3, padding=1)
    x = tc.randn(2, 2, 4, 4, requires_grad=True)

    def block(inplace):
        out = conv(x)
        if inplace:
            out += x
        else:
            out = out + x
        return out.relu().sum()

    grads = []
    for inplace in (False, True):
        x.grad = conv.weight.grad = conv.bias.grad = None
        block(inplace).backward()
        grads.append([t.grad.numpy() for t in (x, conv.weight, conv.bias)])
    for a, b in zip(*grads, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("change", ["setitem", "zero_", "fill_", "copy_", "add_", "+=",
                                    "nn.init"])
def test_changing_a_saved_input_after_the_op_refuses_the_backward(change, device):
    x = tc.tensor([1.0, 2.0, 3.0], device=device)  # needs no gradient, but Mul saves it for w's
    w = tc.ones(3, requires_grad=True, device=device)
    loss = (x * w).sum()
    {"setitem": lambda: x.__setitem__(0, 100.0), "zero_": x.zero_, "fill_": lambda: x.fill_(2),
     "copy_": lambda: x.copy_(tc.ones(3)), "add_": lambda: x.add_(1.0),
     "+=": lambda: x.__iadd__(1.0), "nn.init": lambda: nn.init.constant_(x, 4.0)}[change]()
    with pytest.raises(RuntimeError, match=r"Mul: one of the tensors its backward needs, its "
                                           r"input 0 \(shape \(3,\)\), was changed in place after "
                                           r"the op saved it"):
        loss.backward()  # it used the new values: w.grad was [100, 2, 3]


def test_changing_a_saved_output_refuses_the_backward():
    x = tc.tensor([0.5, 1.0], requires_grad=True)
    y = x.exp()  # Exp saves its output
    with tc.no_grad():
        y.mul_(2.0)
    with pytest.raises(RuntimeError, match=r"Exp: .* its output \(shape \(2,\)\), was changed"):
        y.sum().backward()


def test_changes_before_the_op_or_after_the_backward_are_fine():
    x = tc.tensor([1.0, 2.0, 3.0])
    w = tc.ones(3, requires_grad=True)
    x[0] = 10.0  # before: the op saves the new values
    loss = (x * w).sum()
    loss.backward(retain_graph=True)
    np.testing.assert_array_equal(w.grad.numpy(), [10.0, 2.0, 3.0])
    other = tc.tensor([4.0, 5.0, 6.0])
    other.add_(1.0)  # another tensor's change does not concern this graph
    w.grad = None
    loss.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [10.0, 2.0, 3.0])


def test_an_optimizer_step_before_the_backward_is_refused_as_in_pytorch():
    model = nn.Linear(3, 1)
    opt = tc.optim.SGD(model.parameters(), lr=0.1)
    first = model(tc.ones(2, 3)).sum()
    first.backward(retain_graph=True)
    opt.step()
    with pytest.raises(RuntimeError, match=r"changed in place after the op saved it.*"
                                           r"optimizer.step\(\)"):
        first.backward()  # its nodes saved the weights the step has just changed
    model.zero_grad()
    model(tc.ones(2, 3)).sum().backward()  # a graph built after the step: fine
    assert model.weight.grad is not None


def test_pytorch_refuses_the_same_backward():
    torch = pytest.importorskip("torch", reason="PyTorch is the optional oracle (bench extra)")
    x = torch.tensor([1.0, 2.0, 3.0])
    w = torch.ones(3, requires_grad=True)
    loss = (x * w).sum()
    x[0] = 100.0
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        w.add_(1.0)


def test_random_fills_draw_what_nn_init_draws_and_follow_the_leaf_rule(device):
    a, b = tc.zeros(3, 4, device=device), tc.zeros(3, 4, device=device)
    tc.manual_seed(5)
    assert a.normal_(1.0, 2.0) is a
    tc.manual_seed(5)
    nn.init.normal_(b, 1.0, 2.0)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    tc.manual_seed(6)
    a.uniform_(-0.5, 0.5)
    tc.manual_seed(6)
    nn.init.uniform_(b, -0.5, 0.5)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert -0.5 <= a.numpy().min() and a.numpy().max() < 0.5
    w = tc.zeros(2, requires_grad=True, device=device)
    with pytest.raises(RuntimeError, match="normal_: a leaf tensor that requires grad"):
        w.normal_()
    with tc.no_grad():
        w.uniform_(2.0, 3.0)  # an initialisation, as torch's under no_grad
    assert (w.numpy() >= 2.0).all()


def test_an_ema_of_the_weights_with_lerp_under_no_grad():
    tc.manual_seed(2)
    model, ema = nn.Linear(2, 2), nn.Linear(2, 2)
    ema.load_state_dict(model.state_dict())
    opt = tc.optim.SGD(model.parameters(), lr=0.5)
    expected = [p.numpy().astype(np.float64) for p in ema.parameters()]
    for _ in range(3):
        opt.zero_grad()
        model(tc.randn(4, 2)).square().sum().backward()
        opt.step()
        with tc.no_grad():
            for e, p in zip(ema.parameters(), model.parameters(), strict=True):
                e.lerp_(p, 0.1)
        expected = [x + 0.1 * (p.numpy() - x)
                    for x, p in zip(expected, model.parameters(), strict=True)]
    for e, x in zip(ema.parameters(), expected, strict=True):
        np.testing.assert_allclose(e.numpy(), x, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("how", ["slice", "reshape", "transpose", "detach", "view of a view"])
def test_a_change_through_a_tensor_sharing_the_memory_is_seen(how):
    # NumPy's views (CuPy's share the same `base` rule; the fake CuPy's arrays have no base)
    x = tc.tensor([[1.0, 2.0], [3.0, 4.0]], device="cpu")
    w = tc.ones(2, 2, requires_grad=True, device="cpu")
    loss = (x * w).sum()  # Mul saved x
    other = {"slice": lambda: x[0], "reshape": lambda: x.reshape(4),
             "transpose": lambda: x.transpose(0, 1), "detach": x.detach,
             "view of a view": lambda: x.reshape(4)[1:3]}[how]()
    assert np.shares_memory(other.data, x.data)  # a view, as in PyTorch
    other.zero_()
    assert (x.numpy() == 0).sum() >= 2  # x itself changed
    with pytest.raises(RuntimeError, match=r"Mul: .*its input 0 \(shape \(2, 2\)\), was "
                                           r"changed in place"):
        loss.backward()


def test_a_change_of_the_base_is_seen_by_a_node_that_saved_a_view():
    x = tc.tensor([1.0, 2.0, 3.0, 4.0], device="cpu")
    v = x[1:3]
    w = tc.ones(2, requires_grad=True, device="cpu")
    loss = (v * w).sum()  # Mul saved the view
    x.mul_(10.0)
    with pytest.raises(RuntimeError, match=r"Mul: .*its input 0 \(shape \(2,\)\)"):
        loss.backward()


def test_a_detached_output_changed_in_place_is_seen_by_its_node():
    x = tc.tensor([0.5, 1.0], requires_grad=True)
    y = x.exp()  # Exp saved its output
    y.detach().add_(1.0)  # torch raises here too (the detached tensor shares y's version)
    with pytest.raises(RuntimeError, match=r"Exp: .*its output"):
        y.sum().backward()


def test_copies_and_unrelated_tensors_do_not_share_a_version():
    x = tc.tensor([1.0, 2.0])
    w = tc.ones(2, requires_grad=True)
    loss = (x * w).sum()
    for other in (x.clone(), x + 0.0, tc.tensor(x.numpy()), x.to(tc.float64)):
        assert not np.shares_memory(other.data, x.data)
        other.add_(5.0)
    loss.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [1.0, 2.0])


def test_assigning_a_parameters_data_takes_a_tensors_array_and_refuses_other_things():
    model = nn.Linear(3, 2)
    new = tc.zeros(2, 3)
    model.weight.data = new  # PyTorch's weight surgery: the Tensor's array, shared
    assert model.weight.data is new.data and not isinstance(model.weight.data, tc.Tensor)
    np.testing.assert_array_equal(model(tc.ones(1, 3)).numpy(), model.bias.numpy()[None])
    model.weight.data = np.ones((2, 3), dtype=np.float32)  # an array as it is
    with pytest.raises(TypeError, match="Parameter.data must be a Tensor or a NumPy/CuPy "
                                        "array, got list"):
        model.weight.data = [[1.0, 2.0, 3.0]] * 2
    assert model.weight.data.shape == (2, 3)


def test_a_parameter_made_from_a_tensor_shares_its_version():
    t = tc.tensor([1.0, 2.0])
    p = nn.Parameter(t)
    assert np.shares_memory(p.data, t.data)
    loss = (p * p).sum()  # Mul saved p
    t.add_(1.0)  # p's values changed through t
    with pytest.raises(RuntimeError, match=r"Mul: .*was changed in place"):
        loss.backward()


def test_boolean_masks_combine_in_place():
    mask = tc.tensor([True, False, True])
    alias = mask
    mask &= tc.tensor([True, True, False])
    assert alias is mask
    np.testing.assert_array_equal(mask.numpy(), [True, False, False])
    mask |= tc.tensor([False, True, False])
    np.testing.assert_array_equal(alias.numpy(), [True, True, False])


def test_pickles_and_deep_copies_start_without_a_version_shallow_copies_share_it(tmp_path):
    import copy
    import pickle
    import subprocess
    import sys

    model = nn.Linear(2, 2)
    for _ in range(5):
        nn.init.normal_(model.weight)  # five in-place changes: a version in this process
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(model))
    # another process counts its own changes from 0: a carried-over version refused its backward
    code = ("import pickle, sys, tinygrad_cnn as tc\n"
            "m = pickle.loads(open(sys.argv[1], 'rb').read())\n"
            "m(tc.ones(1, 2)).sum().backward()\n"
            "print(m.weight.grad.shape)\n")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(2, 2)"
    deep = copy.deepcopy(model)
    assert deep.weight._version is None and not np.shares_memory(deep.weight.data,
                                                                 model.weight.data)
    x = tc.tensor([1.0, 2.0])
    w = tc.ones(2, requires_grad=True)
    loss = (x * w).sum()
    shallow = copy.copy(x)  # the same array
    shallow.add_(1.0)
    with pytest.raises(RuntimeError, match="Mul: .*changed in place"):
        loss.backward()


def test_expanded_and_read_only_tensors_refuse_in_place_changes():
    expanded = tc.ones(1, 3).expand(4, 3)  # four rows, one row of memory (also on CuPy)
    for change in (lambda: expanded.add_(1.0), lambda: expanded.__iadd__(1.0),
                   lambda: expanded.zero_(), lambda: expanded.__setitem__(0, 5.0),
                   lambda: expanded.copy_(tc.zeros(4, 3))):
        with pytest.raises(RuntimeError, match=r"\(shape \(4, 3\)\) cannot be changed in place: "
                                               r"several of its positions share one element"):
            change()
    frozen = np.arange(3.0)
    frozen.flags.writeable = False
    shared = tc.as_tensor(frozen, device="cpu")  # shares the read-only NumPy array
    with pytest.raises(RuntimeError, match="mul_: .*cannot be changed in place: its memory is "
                                           "read-only; change a clone"):
        shared.mul_(2.0)
    np.testing.assert_array_equal(frozen, [0.0, 1.0, 2.0])
    clone = expanded.clone()
    clone.add_(1.0)  # a clone owns its memory
    np.testing.assert_array_equal(clone.numpy(), np.full((4, 3), 2.0))
