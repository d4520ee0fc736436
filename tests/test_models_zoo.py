"""tinygrad_cnn.models' torchvision-style CNNs: parameter counts (torchvision's published
figures, no PyTorch needed), and, with PyTorch installed, parity with plain torch.nn copies of
torchvision's architectures (tests/torch_zoo.py): the same state-dict keys, and with the same
weights the same output, input gradient and every parameter gradient, in eval mode and in
train mode (BatchNorm on batch statistics, its running statistics updated alike), in float32
and float64.

Relative error of a tensor: max |ours - torch| / max |torch| (normwise, so a gradient entry
that is ~0 is judged on the tensor's scale).
"""

import functools

import numpy as np
import pytest

import tinygrad_cnn as tc
from tinygrad_cnn import models, nn

# torchvision's figures at 1000 classes (torchvision.models docs, "num_params")
TORCHVISION_PARAMS = {
    "resnet18": 11_689_512,
    "vgg11_bn": 132_868_840,
    "mobilenet_v2": 3_504_872,
    "squeezenet1_1": 1_235_496,
}

# name -> (constructor kwargs for both sides, input size of the parity test)
# vgg11_bn: 10 classes keep the last Linear small; 32 px is its smallest input (five 2x2 pools).
# 64 px leaves ResNet's and MobileNetV2's last BatchNorms 2x2 maps (8 values per channel at
# batch 2, so batch statistics are well-conditioned); 34 px makes every SqueezeNet pool round up.
PARITY = {
    "resnet18": ({}, 64),
    "vgg11_bn": ({"num_classes": 10}, 32),
    "mobilenet_v2": ({}, 64),
    "squeezenet1_1": ({}, 34),
    "unet": ({"num_classes": 3}, 32),
}
RTOL = {"float32": 1e-4, "float64": 1e-9}


@pytest.mark.parametrize("name", list(TORCHVISION_PARAMS))
def test_parameter_counts_are_torchvisions(name):
    # vgg11_bn's default initialisation redraws its 120M Linear weights (5 s); counts need none
    model = models.build_model(name, **({"init_weights": False} if name == "vgg11_bn" else {}))
    assert model.num_parameters() == TORCHVISION_PARAMS[name]
    # summary reports them too (one forward of a 32x32 zeros batch, the smallest vgg11_bn takes)
    rows = tc.summary(model, (3, 32, 32), print_fn=None)
    assert rows.total_params == rows.trainable_params == TORCHVISION_PARAMS[name]
    assert rows[-1].output_shape[:2] == (1, 1000)


def test_more_family_members_parameter_counts():
    assert models.resnet34().num_parameters() == 21_797_672
    assert models.squeezenet1_0().num_parameters() == 1_248_424
    assert models.mobilenet_v2(width_mult=0.5).num_parameters() == 1_968_680
    assert models.resnet18(num_classes=10).num_parameters() == 11_689_512 - 990 * 513


def test_torchvision_initialisation_rules():
    tc.manual_seed(0)
    model = models.resnet18(zero_init_residual=True)
    blocks = [m for m in model.modules() if isinstance(m, models.BasicBlock)]
    assert len(blocks) == 8 and all(not b.bn2.weight.numpy().any() for b in blocks)
    assert np.all(model.bn1.weight.numpy() == 1) and not model.bn1.bias.numpy().any()
    w = model.layer4[0].conv1.weight.numpy()          # He normal, fan_out = 512*3*3
    assert abs(w.std() / np.sqrt(2 / (512 * 9)) - 1) < 0.02
    fc = models.mobilenet_v2(num_classes=500).classifier[1]
    assert abs(fc.weight.numpy().std() / 0.01 - 1) < 0.02 and not fc.bias.numpy().any()


def test_unet_shapes_and_parameter_count():
    model = models.unet(in_channels=1, num_classes=3, base_channels=4, depth=2)
    assert model(tc.randn(2, 1, 8, 12)).shape == (2, 3, 8, 12)

    def double_conv(cin, cout):
        return 9 * cin * cout + 9 * cout * cout + 4 * cout   # two bias-free convs, two BNs

    expected = (double_conv(1, 4) + double_conv(4, 8) + double_conv(8, 16)       # encoder
                + 4 * 16 * 8 + 8 + double_conv(16, 8)                          # up 16 -> 8
                + 4 * 8 * 4 + 4 + double_conv(8, 4)                            # up 8 -> 4
                + 4 * 3 + 3)                                                   # 1x1 to classes
    assert model.num_parameters() == expected
    with pytest.raises(ValueError, match="multiples of 4"):
        model(tc.randn(1, 1, 8, 10))


def test_in_channels_and_classes_for_other_images():
    model = models.resnet18(num_classes=7, in_channels=1)
    model.eval()
    assert model(tc.randn(2, 1, 28, 28)).shape == (2, 7)
    squeeze = models.squeezenet1_1(num_classes=5, in_channels=1)
    squeeze.eval()
    assert squeeze(tc.randn(1, 1, 25, 25)).shape == (1, 5)   # its smallest input here


def test_bad_arguments_raise_clearly():
    with pytest.raises(ValueError, match="num_classes must be a positive int"):
        models.resnet18(num_classes=0)
    with pytest.raises(ValueError, match="weights=.*load_state_dict"):
        models.mobilenet_v2(weights="IMAGENET1K_V1")
    with pytest.raises(ValueError, match="width_mult must be positive"):
        models.mobilenet_v2(width_mult=0)
    with pytest.raises(ValueError, match="version"):
        models.SqueezeNet("1_2")
    with pytest.raises(ValueError, match="vgg11_bn needs images of at least 32x32, got 28x28"):
        models.model_kwargs("vgg11_bn", 1, 10, 28)
    assert models.model_kwargs("resnet18", 1, 10, (28, 28)) == {"in_channels": 1,
                                                                "num_classes": 10}


def test_load_state_dict_round_trip_and_bad_key():
    model = models.squeezenet1_1(num_classes=4)
    state = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    assert "features.3.expand3x3.weight" in state and "classifier.1.bias" in state
    clone = models.squeezenet1_1(num_classes=4)
    clone.load_state_dict(state)
    x = tc.randn(1, 3, 32, 32)
    model.eval(), clone.eval()
    np.testing.assert_array_equal(model(x).numpy(), clone(x).numpy())
    state["features.3.squeeze.wieght"] = state.pop("features.3.squeeze.weight")
    with pytest.raises(KeyError, match="features.3.squeeze.wieght"):
        clone.load_state_dict(state)


# ---------------------------------------------------------------------- parity with PyTorch


def _torch():
    torch = pytest.importorskip("torch", reason="PyTorch is the optional oracle for model parity")
    import torch_zoo  # noqa: PLC0415 - imports torch

    return torch, torch_zoo


def _rel_err(ours, theirs) -> float:
    """max |ours - theirs| / max |theirs| (normwise: a ~0 entry is judged on the tensor's
    scale)."""
    assert ours.shape == theirs.shape
    if ours.dtype.kind != "f":   # num_batches_tracked
        ours, theirs = ours.astype(np.float64), theirs.astype(np.float64)
    # (no float64 copies of float32 arrays: the difference of two close floats is exact)
    scale = float(np.max(np.abs(theirs)))
    diff = float(np.max(np.abs(ours - theirs)))
    return diff / scale if scale > 0 else diff


def _param_grad_errors(ours: dict, theirs: dict, dtype) -> dict:
    """The relative error of each parameter gradient, {"grad <name>": error}.

    A gradient that is zero in exact arithmetic is rounding noise on both sides, and noise over
    noise is no relative error: in train mode the bias of a conv or BatchNorm whose per-channel
    shift the next BatchNorm subtracts again (VGG's conv biases, MobileNetV2's projection
    BatchNorms). A reference gradient within 10 eps of the model's largest is taken as one;
    ours must then be as small (and it has no entry).
    """
    scales = {k: float(np.max(np.abs(t))) for k, t in theirs.items()}
    floor = 10 * np.finfo(dtype).eps * max(scales.values())
    errors = {}
    for k, t in theirs.items():
        if scales[k] <= floor:
            assert np.max(np.abs(ours[k])) <= floor, f"{k}: the reference gradient is ~0, ours not"
        else:
            errors[f"grad {k}"] = _rel_err(ours[k], t)
    return errors


def _errors(ours: dict, theirs: dict, dtype) -> dict:
    """Relative error of each compared tensor: "forward", "input grad", "buffers" (the largest
    over the running statistics after the step, unchanged in eval mode) and "grad <name>" for
    each parameter gradient."""
    errors = {
        "forward": _rel_err(ours["out"], theirs["out"]),
        "input grad": _rel_err(ours["x.grad"], theirs["x.grad"]),
        "buffers": max((_rel_err(v, theirs["buffers"][k]) for k, v in ours["buffers"].items()),
                       default=0.0),
    }
    errors.update(_param_grad_errors(ours["grads"], theirs["grads"], dtype))
    return errors


def _summary(errors: dict) -> str:
    """forward / input grad / worst parameter gradient / buffers, for the test's printout."""
    grads = [e for k, e in errors.items() if k.startswith("grad ")]
    return (f"forward {errors['forward']:.1e}, input grad {errors['input grad']:.1e}, "
            f"param grads {max(grads, default=0.0):.1e}, buffers {errors['buffers']:.1e}")


def _randomise_batch_norms(torch, ref):
    """Non-trivial BatchNorm affine parameters and running statistics, so eval mode does more
    than a fresh model's identity normalisation.

    A BatchNorm followed by ReLU6 (MobileNetV2) gets weight in [0.5, 1] and bias in
    [2.8, 3.2], which keeps the ReLU6 inputs off its kinks at 0 and 6 where float32 noise is
    largest: in train mode over 8 values per channel (its last stages at 64 px, batch 2) a
    normalised value is within +-sqrt(7) = 2.65, so the input stays in [0.15, 5.85]. With
    the others' parameters, float32 rounding (~1e-4 there) puts some ReLU6 input on the other
    side of a kink than float64 for 6 of 16 random inputs, in PyTorch too: gradients 1e-2 off.
    """
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in ref.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(0.5 + torch.rand(c, generator=gen))
                m.bias.copy_(0.1 * torch.randn(c, generator=gen))
                m.running_mean.copy_(0.1 * torch.randn(c, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(c, generator=gen))
                m.num_batches_tracked.fill_(3)
        gen.manual_seed(2)
        for m in ref.modules():   # Conv2dNormActivation(conv, BatchNorm2d, ReLU6)
            if (isinstance(m, torch.nn.Sequential) and len(m) == 3
                    and isinstance(m[1], torch.nn.BatchNorm2d)
                    and isinstance(m[2], torch.nn.ReLU6)):
                c = m[1].num_features
                m[1].weight.copy_(0.5 + 0.5 * torch.rand(c, generator=gen))
                m[1].bias.copy_(2.8 + 0.4 * torch.rand(c, generator=gen))


def _step_torch(torch, ref, state, x, g, train: bool) -> dict:
    """Load ``state``, run forward and backward of sum(out * g) in the given mode (Dropout off
    either way), return the output, the gradients and the state afterwards as arrays."""
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    ref.train(train)
    for m in ref.modules():
        if isinstance(m, torch.nn.Dropout):
            m.eval()
    ref.zero_grad(set_to_none=True)
    dtype = next(ref.parameters()).dtype
    xt = torch.tensor(x, dtype=dtype, requires_grad=True)
    out = ref(xt)
    (out * torch.tensor(g, dtype=dtype)).sum().backward()
    return {"out": out.detach().numpy(), "x.grad": xt.grad.numpy(),
            "grads": {k: p.grad.numpy() for k, p in ref.named_parameters()},
            "buffers": {k: v.numpy().copy() for k, v in ref.named_buffers()}}


def _step_ours(model, state, x, g, train: bool) -> dict:
    model.load_state_dict(state)
    model.train(train)
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.eval()
    model.zero_grad()
    xc = tc.tensor(x, requires_grad=True)
    out = model(xc)
    (out * tc.tensor(g)).sum().backward()
    return {"out": out.numpy(), "x.grad": xc.grad.numpy(),
            "grads": {k: p.grad.numpy() for k, p in model.named_parameters()},
            "buffers": {k: v.numpy().copy() for k, v in model.named_buffers()}}


@functools.lru_cache(maxsize=1)
def _models(name):
    """(PyTorch reference, our model) of ``name``, built once for both dtypes (vgg11_bn's
    initialisation alone takes seconds); the test casts both and loads the reference's
    weights into ours."""
    torch, zoo = _torch()
    kwargs, _ = PARITY[name]
    torch.manual_seed(0)
    ref = getattr(zoo, name)(**kwargs)
    _randomise_batch_norms(torch, ref)
    # (vgg11_bn: skip redrawing 120M weights that the load replaces)
    skip_init = {"init_weights": False} if name == "vgg11_bn" else {}
    return ref, getattr(models, name)(**kwargs, **skip_init)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(PARITY))
def test_matches_pytorch(name, dtype):
    """Same weights, same input: output, input gradient, every parameter gradient and the
    BatchNorm running statistics afterwards agree with PyTorch in eval and train mode.

    The measure, tensor by tensor (the output, the input gradient, each parameter gradient on
    its own, the running statistics): max |ours - PyTorch| / max |PyTorch| <= 1e-4 in float32,
    1e-9 in float64, with no exception. (A failure also prints both float32 results' errors
    from the float64 one, to tell a bug from conditioning.)

    Conditioning: float32 rounding is amplified by the network, most in MobileNetV2 in train
    mode (BatchNorm over 8 values per channel in its last stages rescales channels of small
    variance; ReLU6 clips). With its ReLU6 inputs kept off the kinks (_randomise_batch_norms)
    PyTorch's own float32 parameter gradients are 7.4e-5 from float64 at worst there, ours
    4.6e-5 to 5.5e-5 (OpenBLAS kernels SkylakeX, Haswell, Prescott, Sandybridge;
    2026-11-27), and the two agree to 3.6e-5 to 6.7e-5. With MobileNetV2's ReLU6 inputs
    spread across the kinks, PyTorch's float32 was 1.4e-4 from float64 (ours 1.9e-4 to
    3.4e-4): 1e-4 from PyTorch was out of reach even for the exact result.
    """
    torch, zoo = _torch()
    kwargs, size = PARITY[name]
    ref, model = _models(name)
    ref.to(getattr(torch, dtype))
    model.to(dtype=getattr(tc, dtype))
    # the recipe the docs give, unchanged: torchvision's keys, num_batches_tracked included
    model.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})
    assert list(model.state_dict()) == list(ref.state_dict())
    assert [k for k, _ in model.named_parameters()] == [k for k, _ in ref.named_parameters()]
    state = {k: v.numpy().copy() for k, v in ref.state_dict().items()}

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, size, size)).astype(dtype)
    g = rng.normal(size=ref(torch.from_numpy(x[:1])).shape[1:]).astype(dtype)  # one sample's
    g = np.stack([g, rng.normal(size=g.shape).astype(dtype)])
    errors = {}
    for mode in ("eval", "train"):
        theirs = _step_torch(torch, ref, state, x, g, mode == "train")
        ours = _step_ours(model, state, x, g, mode == "train")
        errors[mode] = _errors(ours, theirs, dtype)
        print(f"\n{name} {dtype} {mode}: relative errors vs PyTorch: {_summary(errors[mode])}")
        if dtype == "float32" and max(errors[mode].values()) > RTOL[dtype]:   # conditioning?
            ref64 = getattr(zoo, name)(**kwargs).double()
            state64 = {k: (v.astype("float64") if v.dtype.kind == "f" else v)
                       for k, v in state.items()}
            exact = _step_torch(torch, ref64, state64, x, g, mode == "train")
            print(f"  from float64: ours {_summary(_errors(ours, exact, dtype))}; "
                  f"PyTorch's {_summary(_errors(theirs, exact, dtype))}")
    ref.zero_grad(set_to_none=True)   # free the gradients while the models stay cached
    model.zero_grad()
    failed = {(mode, what): f"{err:.2e}" for mode, errs in errors.items()
              for what, err in errs.items() if err > RTOL[dtype]}
    assert not failed, f"relative error above {RTOL[dtype]:.0e} (see the printout): {failed}"
