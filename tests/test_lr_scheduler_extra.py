"""LinearLR, ConstantLR, SequentialLR, CosineAnnealingWarmRestarts, OneCycleLR, PolynomialLR and
CyclicLR: lr (and momentum) sequences against hand-computed values and against PyTorch when it is
installed, state_dict round trips mid-schedule, argument checks with their exact messages."""

import math
import re

import numpy as np
import pytest

import tinygrad_cnn as tc
from tinygrad_cnn import optim
from tinygrad_cnn.optim import lr_scheduler as sched

BASE_LRS = (0.1, 0.04)
EPOCHS = 40
NO_TORCH = "PyTorch (the optional oracle) is not installed"


def make_optimizer(base_lrs=BASE_LRS, kind="sgd"):
    groups = [{"params": [tc.Tensor(np.zeros(2), requires_grad=True)], "lr": lr}
              for lr in base_lrs]
    if kind == "adam":
        return optim.Adam(groups, lr=1.0)
    return optim.SGD(groups, lr=1.0, momentum=0.9)


def momentum_of(group):
    return group["betas"][0] if "betas" in group else group["momentum"]


def run(scheduler, epochs=EPOCHS, record=None):
    """(lrs, momentums) of each group for steps 0 .. epochs-1 (step 0 is the constructor's)."""
    lrs, moms = [], []
    opt = scheduler.optimizer
    for _ in range(epochs):
        lrs.append([g["lr"] for g in opt.param_groups])
        moms.append([momentum_of(g) for g in opt.param_groups])
        if record is None:  # ours
            assert scheduler.get_last_lr() == lrs[-1]
        opt.step()
        scheduler.step()
    return np.array(lrs), np.array(moms)


# name -> builder(optimizer, scheduler namespace): the same call for ours and PyTorch's
CASES = {
    "LinearLR": lambda o, S: S.LinearLR(o, start_factor=0.25, total_iters=7),
    "LinearLR-decay": lambda o, S: S.LinearLR(o, start_factor=1.0, end_factor=0.1,
                                              total_iters=9),
    "ConstantLR": lambda o, S: S.ConstantLR(o, factor=0.3, total_iters=6),
    "SequentialLR": lambda o, S: S.SequentialLR(
        o, [S.LinearLR(o, start_factor=0.1, total_iters=5),
            S.CosineAnnealingLR(o, T_max=12, eta_min=0.001),
            S.StepLR(o, step_size=4, gamma=0.5)], milestones=[6, 20]),
    "SequentialLR-constant-exp": lambda o, S: S.SequentialLR(
        o, [S.ConstantLR(o, factor=0.1, total_iters=4), S.ExponentialLR(o, gamma=0.9),
            S.PolynomialLR(o, total_iters=8, power=1.5),
            S.MultiStepLR(o, milestones=[2, 5, 5], gamma=0.3)], milestones=[4, 10, 25]),
    "SequentialLR-restarts": lambda o, S: S.SequentialLR(
        o, [S.ConstantLR(o, factor=0.5, total_iters=3),
            S.CosineAnnealingWarmRestarts(o, T_0=4, T_mult=2)], milestones=[3]),
    "CosineAnnealingWarmRestarts": lambda o, S: S.CosineAnnealingWarmRestarts(
        o, T_0=3, T_mult=2, eta_min=0.002),
    "CosineAnnealingWarmRestarts-T_mult1": lambda o, S: S.CosineAnnealingWarmRestarts(o, T_0=7),
    "OneCycleLR": lambda o, S: S.OneCycleLR(o, max_lr=[1.0, 0.3], total_steps=EPOCHS),
    "OneCycleLR-linear-3phase": lambda o, S: S.OneCycleLR(
        o, max_lr=0.5, epochs=8, steps_per_epoch=5, pct_start=0.25, anneal_strategy="linear",
        three_phase=True, base_momentum=[0.8, 0.7], max_momentum=0.9, div_factor=10.0,
        final_div_factor=100.0),
    "OneCycleLR-adam": lambda o, S: S.OneCycleLR(o, max_lr=0.01, total_steps=45),
    "PolynomialLR": lambda o, S: S.PolynomialLR(o, total_iters=25, power=0.9),
    "PolynomialLR-linear": lambda o, S: S.PolynomialLR(o, total_iters=10),
    "CyclicLR": lambda o, S: S.CyclicLR(o, base_lr=[0.01, 0.002], max_lr=[0.1, 0.05],
                                        step_size_up=4, step_size_down=6),
    "CyclicLR-triangular2": lambda o, S: S.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=3,
                                                    mode="triangular2"),
    "CyclicLR-exp_range-adam": lambda o, S: S.CyclicLR(o, base_lr=0.001, max_lr=0.01,
                                                       step_size_up=5, mode="exp_range",
                                                       gamma=0.97, base_momentum=0.85,
                                                       max_momentum=0.95),
    "CyclicLR-scale_fn": lambda o, S: S.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=2,
                                                 scale_fn=lambda x: 1 / (1 + x),
                                                 scale_mode="iterations",
                                                 cycle_momentum=False),
}


def optimizer_kind(name):
    return "adam" if name.endswith("adam") else "sgd"


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_pytorch(name):
    torch = pytest.importorskip("torch", reason=NO_TORCH)
    ours_lrs, ours_moms = run(CASES[name](make_optimizer(kind=optimizer_kind(name)), sched))
    groups = [{"params": [torch.zeros(2, requires_grad=True)], "lr": lr} for lr in BASE_LRS]
    if optimizer_kind(name) == "adam":
        topt = torch.optim.Adam(groups, lr=1.0)
    else:
        topt = torch.optim.SGD(groups, lr=1.0, momentum=0.9)
    theirs_lrs, theirs_moms = run(CASES[name](topt, torch.optim.lr_scheduler), record="torch")
    np.testing.assert_allclose(ours_lrs, theirs_lrs, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(ours_moms, theirs_moms, rtol=1e-12, atol=1e-15)
    distinct = 2 if name == "ConstantLR" else 4  # ConstantLR has two values by design
    assert len(set(ours_lrs[:, 0].tolist())) >= distinct, "the schedule should change the lr"


@pytest.mark.parametrize("name", sorted(CASES))
def test_state_dict_round_trip_resumes_bit_identically(name, tmp_path):
    build, kind = CASES[name], optimizer_kind(name)
    full_lrs, full_moms = run(build(make_optimizer(kind=kind), sched), 30)

    opt = make_optimizer(kind=kind)
    scheduler = build(opt, sched)
    head_lrs, head_moms = run(scheduler, 13)
    tc.save({"optimizer": opt.state_dict(), "scheduler": scheduler.state_dict()},
            tmp_path / "s.ckpt")
    saved = tc.load(tmp_path / "s.ckpt")

    opt2 = make_optimizer((0.7, 0.7), kind=kind)
    scheduler2 = build(opt2, sched)  # built fresh, then overwritten by the saved state
    opt2.load_state_dict(saved["optimizer"])
    scheduler2.load_state_dict(saved["scheduler"])
    tail_lrs, tail_moms = run(scheduler2, 17)
    np.testing.assert_array_equal(np.concatenate([head_lrs, tail_lrs]), full_lrs)
    np.testing.assert_array_equal(np.concatenate([head_moms, tail_moms]), full_moms)


# ----------------------------------------------------------------- hand-computed sequences


def lrs_of(scheduler, epochs):
    return run(scheduler, epochs)[0][:, 0]


def test_linear_lr_by_hand():
    scheduler = sched.LinearLR(make_optimizer((0.1, 0.1)), start_factor=0.25, total_iters=4)
    np.testing.assert_allclose(lrs_of(scheduler, 7),
                               [0.025, 0.04375, 0.0625, 0.08125, 0.1, 0.1, 0.1], rtol=1e-12)


def test_constant_lr_by_hand():
    scheduler = sched.ConstantLR(make_optimizer((0.1, 0.1)), factor=0.5, total_iters=3)
    np.testing.assert_allclose(lrs_of(scheduler, 6), [0.05, 0.05, 0.05, 0.1, 0.1, 0.1],
                               rtol=1e-12)


def test_sequential_lr_by_hand():
    opt = make_optimizer((0.1, 0.1))
    scheduler = sched.SequentialLR(opt, [sched.ConstantLR(opt, factor=0.1, total_iters=2),
                                         sched.ExponentialLR(opt, gamma=0.5)], milestones=[3])
    # the ConstantLR ends at its epoch 2; the ExponentialLR starts at its epoch 0 on epoch 3
    np.testing.assert_allclose(lrs_of(scheduler, 7), [0.01, 0.01, 0.1, 0.1, 0.05, 0.025, 0.0125],
                               rtol=1e-12)
    assert scheduler.last_epoch == 7 and scheduler._schedulers[1].last_epoch == 4


def test_cosine_warm_restarts_by_hand():
    scheduler = sched.CosineAnnealingWarmRestarts(make_optimizer((1.0, 1.0)), T_0=3, T_mult=2)
    t_cur = [0, 1, 2, 0, 1, 2, 3, 4, 5, 0, 1]
    t_i = [3, 3, 3, 6, 6, 6, 6, 6, 6, 12, 12]
    expected = [(1 + math.cos(math.pi * c / i)) / 2 for c, i in zip(t_cur, t_i, strict=True)]
    np.testing.assert_allclose(lrs_of(scheduler, 11), expected, rtol=1e-12, atol=1e-15)
    assert (scheduler.T_cur, scheduler.T_i) == (2, 12)


def test_one_cycle_lr_by_hand():
    opt = make_optimizer((0.5, 0.5))
    scheduler = sched.OneCycleLR(opt, max_lr=1.0, total_steps=10, pct_start=0.3,
                                 anneal_strategy="linear", div_factor=10.0,
                                 final_div_factor=100.0, base_momentum=0.8, max_momentum=0.9)
    # up from 0.1 to 1.0 over steps 0..2, then down to 0.001 at step 9 (7 steps)
    expected = [0.1, 0.55, 1.0] + [1.0 + (0.001 - 1.0) * (s - 2) / 7 for s in range(3, 10)]
    lrs, moms = run(scheduler, 10)
    np.testing.assert_allclose(lrs[:, 0], expected, rtol=1e-12)
    np.testing.assert_allclose(moms[:3, 0], [0.9, 0.85, 0.8], rtol=1e-12)
    assert opt.param_groups[0]["initial_lr"] == 0.1 and opt.param_groups[0]["max_lr"] == 1.0
    assert scheduler.last_epoch == 10  # run() stepped to total_steps, allowed; one more is not
    with pytest.raises(ValueError, match=re.escape(
            "OneCycleLR: stepped 11 times, past total_steps=10")):
        scheduler.step()


def test_polynomial_lr_by_hand():
    scheduler = sched.PolynomialLR(make_optimizer((1.0, 1.0)), total_iters=4, power=2.0)
    np.testing.assert_allclose(lrs_of(scheduler, 7), [1, 0.5625, 0.25, 0.0625, 0, 0, 0],
                               rtol=1e-12, atol=1e-15)


def test_cyclic_lr_by_hand():
    opt = make_optimizer((0.5, 0.5))
    scheduler = sched.CyclicLR(opt, base_lr=0.1, max_lr=0.5, step_size_up=2,
                               mode="triangular2")
    lrs, moms = run(scheduler, 11)
    # amplitude 0.4, halved each cycle of 4 steps
    np.testing.assert_allclose(lrs[:, 0], [0.1, 0.3, 0.5, 0.3, 0.1, 0.2, 0.3, 0.2, 0.1, 0.15,
                                           0.2], rtol=1e-12)
    np.testing.assert_allclose(moms[:7, 0], [0.9, 0.85, 0.8, 0.85, 0.9, 0.875, 0.85],
                               rtol=1e-12)
    assert opt.param_groups[0]["base_momentum"] == 0.8


# ------------------------------------------------------------------------- state and misc


def test_sequential_lr_state_dict_holds_the_children():
    opt = make_optimizer()
    children = [sched.LinearLR(opt, total_iters=3), sched.LambdaLR(opt, lambda e: 0.9**e)]
    scheduler = sched.SequentialLR(opt, children, milestones=[4])
    sd = scheduler.state_dict()
    assert "optimizer" not in sd and len(sd["_schedulers"]) == 2
    assert sd["_schedulers"][0]["total_iters"] == 3
    assert sd["_schedulers"][1]["lr_lambdas"] == [None, None]
    before = dict(sd)
    scheduler.load_state_dict(sd)
    assert sd == before  # load_state_dict leaves its argument alone


def test_cyclic_lr_state_dict_keeps_scale_fn_objects():
    class Halve:
        def __init__(self, base):
            self.base = base

        def __call__(self, x):
            return self.base**x

    scheduler = sched.CyclicLR(make_optimizer(), 0.01, 0.1, step_size_up=2, scale_fn=Halve(0.5))
    sd = scheduler.state_dict()
    assert sd["_scale_fn_custom"] == {"base": 0.5}
    other = Halve(0.9)
    sched.CyclicLR(make_optimizer(), 0.01, 0.1, step_size_up=2, scale_fn=other).load_state_dict(sd)
    assert other.base == 0.5


def test_no_is_initial_flag_left_in_state():
    scheduler = sched.LinearLR(make_optimizer())
    assert "_is_initial" not in scheduler.state_dict() and not scheduler._is_initial


def exact(message):
    return "^" + re.escape(message) + "$"


@pytest.mark.parametrize(
    "build,error,message",
    [
        (lambda o: sched.LinearLR(o, start_factor=0), ValueError,
         "LinearLR: start_factor must be a number in (0, 1], got 0"),
        (lambda o: sched.LinearLR(o, end_factor=1.5), ValueError,
         "LinearLR: end_factor must be a number in [0, 1], got 1.5"),
        (lambda o: sched.LinearLR(o, total_iters=0), ValueError,
         "LinearLR: total_iters must be a positive int, got 0"),
        (lambda o: sched.ConstantLR(o, factor=1.2), ValueError,
         "ConstantLR: factor must be a number in (0, 1], got 1.2"),
        (lambda o: sched.ConstantLR(o, total_iters=2.5), ValueError,
         "ConstantLR: total_iters must be a positive int, got 2.5"),
        (lambda o: sched.SequentialLR(o, [], []), ValueError,
         "SequentialLR: schedulers must hold at least one scheduler, got 0"),
        (lambda o: sched.SequentialLR(o, [sched.StepLR(o, 2), sched.StepLR(o, 3)], []),
         ValueError, "SequentialLR: expected 1 milestones (one fewer than the 2 schedulers), "
         "got 0"),
        (lambda o: sched.SequentialLR(o, [sched.StepLR(o, 2), sched.StepLR(o, 3),
                                          sched.StepLR(o, 4)], [5, 3]),
         ValueError, "SequentialLR: milestones must be non-decreasing ints >= 0, got [5, 3]"),
        (lambda o: sched.SequentialLR(o, [sched.ReduceLROnPlateau(o)], []), TypeError,
         "SequentialLR: schedulers[0] is a ReduceLROnPlateau, not an LRScheduler "
         "(ReduceLROnPlateau cannot be sequenced)"),
        (lambda o: sched.SequentialLR(o, [sched.StepLR(make_optimizer(), 2)], []), ValueError,
         "SequentialLR: schedulers[0] (StepLR) belongs to another optimizer"),
        (lambda o: sched.CosineAnnealingWarmRestarts(o, T_0=0), ValueError,
         "CosineAnnealingWarmRestarts: T_0 must be a positive int, got 0"),
        (lambda o: sched.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=0), ValueError,
         "CosineAnnealingWarmRestarts: T_mult must be an int >= 1, got 0"),
        (lambda o: sched.CosineAnnealingWarmRestarts(o, T_0=2, eta_min=-1.0), ValueError,
         "CosineAnnealingWarmRestarts: eta_min must be a number >= 0, got -1.0"),
        (lambda o: sched.OneCycleLR(o, max_lr=0.1, total_steps=0), ValueError,
         "OneCycleLR: total_steps must be a positive int, got 0"),
        (lambda o: sched.OneCycleLR(o, max_lr=0.1, epochs=3), ValueError,
         "OneCycleLR: pass total_steps, or both epochs and steps_per_epoch"),
        (lambda o: sched.OneCycleLR(o, max_lr=0.1, epochs=3, steps_per_epoch=-2), ValueError,
         "OneCycleLR: steps_per_epoch must be a positive int, got -2"),
        (lambda o: sched.OneCycleLR(o, max_lr=0.1, total_steps=9, pct_start=1.5), ValueError,
         "OneCycleLR: pct_start must be a float in [0, 1], got 1.5"),
        (lambda o: sched.OneCycleLR(o, max_lr=0.1, total_steps=9, anneal_strategy="exp"),
         ValueError, "OneCycleLR: anneal_strategy must be 'cos' or 'linear', got 'exp'"),
        (lambda o: sched.OneCycleLR(o, max_lr=[0.1], total_steps=9), ValueError,
         "OneCycleLR: max_lr must have one value per parameter group (2), got 1"),
        (lambda o: sched.OneCycleLR(o, max_lr=0.1, total_steps=9, div_factor=0), ValueError,
         "OneCycleLR: div_factor must be a number > 0, got 0"),
        (lambda o: sched.PolynomialLR(o, total_iters=-1), ValueError,
         "PolynomialLR: total_iters must be a positive int, got -1"),
        (lambda o: sched.PolynomialLR(o, power=-0.5), ValueError,
         "PolynomialLR: power must be a number >= 0, got -0.5"),
        (lambda o: sched.CyclicLR(o, 0.01, 0.1, step_size_up=0), ValueError,
         "CyclicLR: step_size_up must be a positive int, got 0"),
        (lambda o: sched.CyclicLR(o, 0.01, 0.1, mode="sine"), ValueError,
         "CyclicLR: mode must be 'triangular', 'triangular2' or 'exp_range' (or pass scale_fn), "
         "got 'sine'"),
        (lambda o: sched.CyclicLR(o, 0.01, 0.1, scale_mode="epoch"), ValueError,
         "CyclicLR: scale_mode must be 'cycle' or 'iterations', got 'epoch'"),
        (lambda o: sched.CyclicLR(o, 0.01, [0.1, 0.2, 0.3]), ValueError,
         "CyclicLR: max_lr must have one value per parameter group (2), got 3"),
        (lambda o: sched.LinearLR("sgd"), TypeError, "LinearLR: str is not an Optimizer"),
        (lambda o: sched.OneCycleLR("sgd", 0.1, 5), TypeError,
         "OneCycleLR: str is not an Optimizer"),
    ],
)
def test_invalid_arguments(build, error, message):
    with pytest.raises(error, match=exact(message)):
        build(make_optimizer())


def test_cycle_momentum_needs_momentum_or_betas():
    opt = optim.Adagrad([tc.Tensor(np.zeros(2), requires_grad=True)], lr=0.1)
    message = ("needs an optimizer with 'momentum' or 'betas' (got Adagrad); "
               "pass cycle_momentum=False")
    with pytest.raises(ValueError, match=exact("OneCycleLR: cycle_momentum=True " + message)):
        sched.OneCycleLR(opt, max_lr=0.1, total_steps=5)
    with pytest.raises(ValueError, match=exact("CyclicLR: cycle_momentum=True " + message)):
        sched.CyclicLR(opt, 0.01, 0.1)
    sched.CyclicLR(opt, 0.01, 0.1, cycle_momentum=False)  # fine without momentum cycling
