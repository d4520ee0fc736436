"""Learning-rate schedulers: lr sequences against closed forms (and PyTorch when installed),
state_dict round trips, ReduceLROnPlateau's modes, thresholds, cooldown and min_lr."""

import math
from bisect import bisect_right

import numpy as np
import pytest
import references_optim as ref

import tinygrad_cnn as tc
from tinygrad_cnn import optim
from tinygrad_cnn.optim import lr_scheduler as sched

BASE_LRS = (0.1, 0.04)
EPOCHS = 30


def make_optimizer(base_lrs=BASE_LRS):
    groups = [{"params": [tc.Tensor(np.zeros(2), requires_grad=True)], "lr": lr}
              for lr in base_lrs]
    return optim.SGD(groups, lr=1.0, momentum=0.9)


def lr_sequence(scheduler, epochs=EPOCHS):
    """The lrs of each group for epochs 0 .. epochs-1 (epoch 0 is set by the constructor)."""
    out = []
    for _ in range(epochs):
        out.append([g["lr"] for g in scheduler.optimizer.param_groups])
        assert scheduler.get_last_lr() == out[-1]
        scheduler.optimizer.step()
        scheduler.step()
    return np.array(out)


def closed_form(fn, base_lrs=BASE_LRS, epochs=EPOCHS):
    return np.array([[fn(base, e) for base in base_lrs] for e in range(epochs)])


CASES = {
    "StepLR": (lambda o: sched.StepLR(o, step_size=4, gamma=0.5),
               lambda base, e: base * 0.5 ** (e // 4)),
    "MultiStepLR": (lambda o: sched.MultiStepLR(o, milestones=[3, 7, 7, 20], gamma=0.3),
                    lambda base, e: base * 0.3 ** bisect_right([3, 7, 7, 20], e)),
    "ExponentialLR": (lambda o: sched.ExponentialLR(o, gamma=0.9),
                      lambda base, e: base * 0.9**e),
    "CosineAnnealingLR": (lambda o: sched.CosineAnnealingLR(o, T_max=8, eta_min=0.001),
                          lambda base, e: ref.cosine_annealing(base, 0.001, 8, e)),
    "LambdaLR": (lambda o: sched.LambdaLR(o, lambda e: 1.0 / (1 + e) + 0.01 * (e % 3)),
                 lambda base, e: base * (1.0 / (1 + e) + 0.01 * (e % 3))),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_lr_sequence_matches_closed_form(name):
    build, formula = CASES[name]
    got = lr_sequence(build(make_optimizer()))
    np.testing.assert_allclose(got, closed_form(formula), rtol=1e-10, atol=1e-13)
    assert len(set(got[:, 0].tolist())) > 3, "the schedule should change the lr"


@pytest.mark.parametrize("name", sorted(CASES))
def test_lr_sequence_matches_pytorch(name):
    torch = pytest.importorskip("torch")
    build, _ = CASES[name]
    ours = lr_sequence(build(make_optimizer()))
    groups = [{"params": [torch.zeros(2, requires_grad=True)], "lr": lr} for lr in BASE_LRS]
    topt = torch.optim.SGD(groups, lr=1.0, momentum=0.9)
    tsched = {
        "StepLR": lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=4, gamma=0.5),
        "MultiStepLR": lambda o: torch.optim.lr_scheduler.MultiStepLR(o, [3, 7, 7, 20], 0.3),
        "ExponentialLR": lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.9),
        "CosineAnnealingLR": lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 8, 0.001),
        "LambdaLR": lambda o: torch.optim.lr_scheduler.LambdaLR(
            o, lambda e: 1.0 / (1 + e) + 0.01 * (e % 3)),
    }[name](topt)
    theirs = []
    for _ in range(EPOCHS):
        theirs.append([g["lr"] for g in topt.param_groups])
        topt.step()
        tsched.step()
    np.testing.assert_allclose(ours, np.array(theirs), rtol=1e-13, atol=0)


def test_lambda_lr_one_function_per_group():
    scheduler = sched.LambdaLR(make_optimizer(), [lambda e: 0.5**e, lambda e: 1 + e])
    got = lr_sequence(scheduler, 6)
    expected = np.array([[0.1 * 0.5**e, 0.04 * (1 + e)] for e in range(6)])
    np.testing.assert_allclose(got, expected, rtol=1e-13)


@pytest.mark.parametrize("name", sorted(CASES))
def test_state_dict_round_trip_resumes_the_schedule(name, tmp_path):
    build, _ = CASES[name]
    uninterrupted = lr_sequence(build(make_optimizer()), 20)

    opt = make_optimizer()
    scheduler = build(opt)
    first = lr_sequence(scheduler, 9)
    tc.save({"optimizer": opt.state_dict(), "scheduler": scheduler.state_dict()},
            tmp_path / "s.ckpt")
    saved = tc.load(tmp_path / "s.ckpt")

    opt2 = make_optimizer((0.7, 0.7))
    scheduler2 = build(opt2)  # built fresh, then overwritten by the saved state
    opt2.load_state_dict(saved["optimizer"])
    scheduler2.load_state_dict(saved["scheduler"])
    rest = lr_sequence(scheduler2, 11)
    np.testing.assert_array_equal(np.concatenate([first, rest]), uninterrupted)


def test_state_dict_contents():
    opt = make_optimizer()
    scheduler = sched.StepLR(opt, step_size=3)
    sd = scheduler.state_dict()
    assert "optimizer" not in sd
    assert sd["last_epoch"] == 0 and sd["base_lrs"] == list(BASE_LRS) and sd["step_size"] == 3
    assert opt.param_groups[0]["initial_lr"] == 0.1


def test_lambda_lr_state_dict_skips_functions_keeps_callable_objects():
    class Warmup:
        def __init__(self, epochs):
            self.epochs = epochs

        def __call__(self, e):
            return min(1.0, (e + 1) / self.epochs)

    scheduler = sched.LambdaLR(make_optimizer(), [lambda e: 0.9**e, Warmup(5)])
    sd = scheduler.state_dict()
    assert sd["lr_lambdas"] == [None, {"epochs": 5}]
    other = Warmup(100)
    scheduler2 = sched.LambdaLR(make_optimizer(), [lambda e: 0.9**e, other])
    scheduler2.load_state_dict(sd)
    assert other.epochs == 5


def test_resume_with_last_epoch():
    opt = make_optimizer()
    scheduler = sched.CosineAnnealingLR(opt, T_max=10)
    for _ in range(4):
        scheduler.step()
    resumed = sched.CosineAnnealingLR(opt, T_max=10, last_epoch=4)  # closed form at epoch 5
    assert resumed.last_epoch == 5
    np.testing.assert_allclose(resumed.get_last_lr()[0], ref.cosine_annealing(0.1, 0, 10, 5))
    with pytest.raises(KeyError, match=r"param_groups\[0\] has no 'initial_lr'"):
        sched.StepLR(make_optimizer(), step_size=2, last_epoch=3)


@pytest.mark.parametrize(
    "build,error,match",
    [
        (lambda o: sched.StepLR(o, step_size=0), ValueError, "step_size=0"),
        (lambda o: sched.StepLR(o, step_size=2, gamma=-0.5), ValueError, r"gamma=-0\.5"),
        (lambda o: sched.MultiStepLR(o, milestones=[2, -1]), ValueError, "milestone -1"),
        (lambda o: sched.ExponentialLR(o, gamma=0), ValueError, "gamma=0"),
        (lambda o: sched.CosineAnnealingLR(o, T_max=0), ValueError, "T_max=0"),
        (lambda o: sched.LambdaLR(o, [lambda e: 1.0]), ValueError, "expected 2 lr_lambdas"),
        (lambda o: sched.LambdaLR(o, 0.5), TypeError, "not callable"),
        (lambda o: sched.ReduceLROnPlateau(o, factor=1.0), ValueError, r"factor=1\.0"),
        (lambda o: sched.ReduceLROnPlateau(o, mode="up"), ValueError, "mode 'up' is unknown"),
        (lambda o: sched.ReduceLROnPlateau(o, threshold_mode="x"), ValueError, "'x' is unknown"),
        (lambda o: sched.ReduceLROnPlateau(o, min_lr=[0.1]), ValueError, "expected 2 min_lrs"),
        (lambda o: sched.ReduceLROnPlateau(o, patience=-1), ValueError, "patience=-1"),
        (lambda o: sched.StepLR("sgd", step_size=1), TypeError, "str is not an Optimizer"),
    ],
)
def test_invalid_arguments(build, error, match):
    with pytest.raises(error, match=match):
        build(make_optimizer())


# --------------------------------------------------------------------------- ReduceLROnPlateau


def plateau_lrs(scheduler, metrics):
    out = []
    for m in metrics:
        scheduler.step(m)
        out.append(scheduler.optimizer.param_groups[0]["lr"])
        assert scheduler.get_last_lr()[0] == out[-1]
    return out


def test_plateau_min_rel_with_cooldown_and_min_lr():
    # worked by hand: best*(1-0.1) must be beaten; 2 bad epochs (> patience 1) halve the lr,
    # then 1 cooldown epoch in which bad epochs do not count; the lr stops at min_lr 0.2
    opt = make_optimizer((1.0, 1.0))
    scheduler = sched.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=1, threshold=0.1,
                                        cooldown=1, min_lr=0.2)
    metrics = [10, 9.5, 9.2, 9.1, 9.1, 9.1, 8.0, 7.5, 7.5, 7.5, 7.5, 7.5]
    got = plateau_lrs(scheduler, metrics)
    assert got == [1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.2, 0.2, 0.2, 0.2]
    assert scheduler.best == 8.0


def test_plateau_max_abs():
    opt = make_optimizer((1.0, 1.0))
    scheduler = sched.ReduceLROnPlateau(opt, mode="max", factor=0.1, patience=0,
                                        threshold=0.01, threshold_mode="abs")
    got = plateau_lrs(scheduler, [0.5, 0.505, 0.6, tc.tensor(0.6)])
    np.testing.assert_allclose(got, [1.0, 0.1, 0.1, 0.01], rtol=1e-15)


def test_plateau_per_group_min_lr_and_eps():
    opt = make_optimizer((1.0, 0.01))
    scheduler = sched.ReduceLROnPlateau(opt, factor=0.5, patience=0, min_lr=[0.3, 0.0],
                                        eps=0.004)
    scheduler.step(1.0)
    for _ in range(3):
        scheduler.step(2.0)
    # group 0: 1 -> 0.5 -> 0.3 (min_lr) -> 0.3; group 1: 0.01 -> 0.005, then halving by less
    # than eps=0.004 is skipped
    assert [g["lr"] for g in opt.param_groups] == [0.3, 0.005]


@pytest.mark.parametrize("mode", ["min", "max"])
@pytest.mark.parametrize("threshold_mode", ["rel", "abs"])
@pytest.mark.parametrize("cooldown", [0, 2])
def test_plateau_matches_pytorch(mode, threshold_mode, cooldown):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    metrics = (1 + 0.3 * rng.random(60)).tolist()  # i.i.d.: improvements get rare, lr drops
    kwargs = dict(mode=mode, factor=0.5, patience=2, threshold=0.05,
                  threshold_mode=threshold_mode, cooldown=cooldown, min_lr=[0.01, 0.001])
    ours = sched.ReduceLROnPlateau(make_optimizer(), **kwargs)
    groups = [{"params": [torch.zeros(2, requires_grad=True)], "lr": lr} for lr in BASE_LRS]
    topt = torch.optim.SGD(groups, lr=1.0)
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs)
    reductions = 0
    for m in metrics:
        before = ours.get_last_lr()
        ours.step(m)
        theirs.step(m)
        reductions += ours.get_last_lr() != before
        assert ours.get_last_lr() == [g["lr"] for g in topt.param_groups]
        assert ours.best == theirs.best and ours.num_bad_epochs == theirs.num_bad_epochs
    assert reductions >= 2


def test_plateau_state_dict_round_trip(tmp_path):
    metrics = [5, 4, 4.5, 4.2, 4.1, 4.3, 3.0, 3.1, 3.2, 3.3, 3.4, 3.5, 2.0, 2.5, 2.6]
    kwargs = dict(factor=0.5, patience=1, cooldown=1)
    full = plateau_lrs(sched.ReduceLROnPlateau(make_optimizer(), **kwargs), metrics)

    opt = make_optimizer()
    scheduler = sched.ReduceLROnPlateau(opt, **kwargs)
    head = plateau_lrs(scheduler, metrics[:6])
    tc.save({"o": opt.state_dict(), "s": scheduler.state_dict()}, tmp_path / "p.ckpt")
    saved = tc.load(tmp_path / "p.ckpt")
    assert saved["s"]["best"] == scheduler.best and saved["s"]["mode_worse"] == math.inf
    opt2 = make_optimizer()
    scheduler2 = sched.ReduceLROnPlateau(opt2, mode="max")
    opt2.load_state_dict(saved["o"])
    scheduler2.load_state_dict(saved["s"])
    assert scheduler2.mode == "min"
    assert head + plateau_lrs(scheduler2, metrics[6:]) == full
