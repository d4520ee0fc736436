"""Interrupts and resume (issue 13, section 2): Ctrl-C never overwrites end-of-epoch or best
checkpoints; its own file says where training stopped; resuming from any checkpoint (an epoch
boundary, a raw KeyboardInterrupt, a real SIGINT in a subprocess) continues bit for bit as the
uninterrupted run, with Dropout, shuffling from the library's generator, augmentation and a
scheduler, whatever the callbacks' order; on either default device (the GPU's generator is in the
checkpoint too)."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import tinygrad_cnn as tc
from tests.subprocesses import sigint_default
from tinygrad_cnn.train import Callback, ModelCheckpoint

ROOT = Path(__file__).resolve().parents[1]

# The run under test, shared with the subprocesses (exec'd there and here).
SETUP = textwrap.dedent('''
    import numpy as np
    import tinygrad_cnn as tc
    from tinygrad_cnn import nn
    from tinygrad_cnn.data import TensorDataset, TransformedDataset
    from tinygrad_cnn.data.transforms import Compose, RandomCrop, RandomHorizontalFlip
    from tinygrad_cnn.train import LRSchedulerCallback, ModelCheckpoint, fit

    def data(n=48, seed=5):
        rng = np.random.default_rng(seed)
        y = np.arange(n) % 2
        x = rng.normal(size=(n, 1, 6, 6)).astype(np.float32) * 0.5
        x[:, :, :, :3] += 1.5 * y[:, None, None, None]
        return x, y.astype(np.int64)

    def run(epochs, ckpt_dir=None, resume=None, order="ckpt-first", extra=(), init_seed=11,
            verbose=0):
        """Dropout + BatchNorm, shuffling from the library's generator (no seed), flips from
        the library's generator, crops from their own seeded generator, StepLR."""
        x, y = data()
        tc.manual_seed(init_seed)
        model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                              nn.Dropout(0.3), nn.Flatten(), nn.Linear(144, 2))
        opt = tc.optim.Adam(model.parameters(), lr=0.01)
        scheduler = LRSchedulerCallback(tc.optim.lr_scheduler.StepLR(opt, 2, gamma=0.5))
        augment = Compose([RandomHorizontalFlip(), RandomCrop(6, padding=1, seed=3)])
        train = TransformedDataset(TensorDataset(x, y), augment)
        callbacks = []
        if ckpt_dir is not None:
            callbacks = [ModelCheckpoint(f"{ckpt_dir}/ep_{{epoch}}.ckpt"),
                         ModelCheckpoint(f"{ckpt_dir}/best.ckpt", save_best_only=True)]
        callbacks = [*callbacks, scheduler] if order == "ckpt-first" else [scheduler, *callbacks]
        history = fit(model, opt, nn.CrossEntropyLoss(), train, epochs, batch_size=6,
                      val_data=(x[:12], y[:12]), callbacks=[*callbacks, *extra],
                      verbose=verbose, resume=resume)
        return model, history
''')
exec(SETUP)  # noqa: S102 - defines data() and run() in this module


def _params(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def _assert_same_run(model, history, ref_model, ref_history):
    for key, value in _params(ref_model).items():
        np.testing.assert_array_equal(_params(model)[key], value, err_msg=key)
    assert history.epochs == ref_history.epochs
    for key in ("loss", "accuracy", "val_loss", "lr"):
        assert history[key] == ref_history[key], key  # bit for bit, not approximately


@pytest.fixture(scope="module")
def straight():
    """Four epochs without a stop."""
    return run(4)


class _InterruptAt(Callback):
    """A KeyboardInterrupt raised after a given batch (as if Ctrl-C landed there)."""

    def __init__(self, epoch, batch):
        self.epoch, self.batch = epoch, batch

    def on_batch_end(self, trainer, batch, logs):
        if trainer.epoch == self.epoch and batch + 1 == self.batch:
            raise KeyboardInterrupt


class _Snapshots(Callback):
    def __init__(self):
        self.weights = {}

    def on_epoch_end(self, trainer, epoch, logs):
        self.weights[epoch] = _params(trainer.model)


@pytest.mark.parametrize("order", ["ckpt-first", "scheduler-first"])
def test_resume_at_an_epoch_boundary_is_bit_identical(tmp_path, straight, order):
    ref_model, ref_history = straight
    run(2, tmp_path, order=order)
    model, history = run(4, resume=tmp_path / "ep_2.ckpt", order=order, init_seed=99)
    _assert_same_run(model, history, ref_model, ref_history)
    assert ref_history["lr"] == [0.01, 0.01, 0.005, 0.005]


def test_interrupt_leaves_epoch_and_best_files_alone(tmp_path):
    snapshots = _Snapshots()
    _, history = run(4, tmp_path, extra=[snapshots, _InterruptAt(epoch=3, batch=2)])
    assert history.interrupted and history.epochs == [1, 2]
    assert history.stop_reason == "interrupted (Ctrl-C) during epoch 3, after batch 2 of 8"
    assert sorted(os.listdir(tmp_path)) == ["best.ckpt", "best.interrupted.ckpt", "ep_1.ckpt",
                                            "ep_2.ckpt", "ep_3.interrupted.ckpt"]
    ep2 = tc.load(tmp_path / "ep_2.ckpt")
    assert ep2["epoch"] == 2 and ep2["batch"] is None
    for key, value in snapshots.weights[2].items():  # still the weights after epoch 2
        np.testing.assert_array_equal(ep2["model"][key].numpy(), value, err_msg=key)
    best = tc.load(tmp_path / "best.ckpt")
    assert best["epoch"] in (1, 2)
    for key, value in snapshots.weights[best["epoch"]].items():
        np.testing.assert_array_equal(best["model"][key].numpy(), value, err_msg=key)
    stopped = tc.load(tmp_path / "ep_3.interrupted.ckpt")
    assert (stopped["epoch"], stopped["batch"], stopped["batches"]) == (3, 2, 8)


@pytest.mark.parametrize("epoch,batch", [(1, 1), (3, 5), (2, 7)])
def test_resume_from_an_interrupt_continues_with_the_next_batch(tmp_path, straight, epoch, batch):
    ref_model, ref_history = straight
    run(4, tmp_path, extra=[_InterruptAt(epoch, batch)])
    model, history = run(4, resume=tmp_path / f"ep_{epoch}.interrupted.ckpt", init_seed=99)
    _assert_same_run(model, history, ref_model, ref_history)


def test_resume_past_the_last_epoch_is_an_error(tmp_path):
    run(2, tmp_path)
    with pytest.raises(ValueError, match=r"finished epoch 2, so epochs=2 leaves nothing"):
        run(2, resume=tmp_path / "ep_2.ckpt")


def test_resume_keeps_the_best_so_far(tmp_path):
    run(2, tmp_path)
    best = tc.load(tmp_path / "best.ckpt")
    saved = [c["state"]["best"] for c in best["callbacks"] if c["type"] == "ModelCheckpoint"]
    cb = ModelCheckpoint(tmp_path / "other.ckpt", save_best_only=True)
    run(3, resume=tmp_path / "ep_2.ckpt", extra=[cb])
    # the restored best is the best of epochs 1-2, not inf: epoch 3 must beat it to be saved
    assert cb.best <= min(saved)


# --------------------------------------------------------------------------- real SIGINT

CHILD = SETUP + textwrap.dedent('''
    import os, signal, sys, time
    from tinygrad_cnn.train import Callback

    if os.environ.get("TINYGRAD_CNN_HOST_KERNELS", "0") != "0":  # as the parent's session:
        from tests.cuda_host import shared_runner  # the CUDA kernels on the host runner
        HOST = tc.cuda.running_on_host(shared_runner())  # kept: its exit would undo it
        HOST.__enter__()

    class SelfSignal(Callback):  # a real SIGINT, delivered in the forward pass of a batch
        def __init__(self, epoch, batch):
            self.epoch, self.batch, self.done = epoch, batch, 0
        def on_train_begin(self, trainer):
            def hook(module, inputs):
                if module.training and trainer.epoch == self.epoch and self.done == self.batch - 1:
                    os.kill(os.getpid(), signal.SIGINT)
            trainer.model.register_forward_pre_hook(hook)
        def on_epoch_begin(self, trainer, epoch):
            self.done = 0
        def on_batch_end(self, trainer, batch, logs):
            self.done = batch + 1

    class Slow(Callback):  # time for the parent's SIGINT to land anywhere in a step
        def on_epoch_end(self, trainer, epoch, logs):
            print("epoch done", epoch, flush=True)
        def on_batch_end(self, trainer, batch, logs):
            time.sleep(0.02)

    mode, ckpt_dir = sys.argv[1], sys.argv[2]
    extra = [SelfSignal(2, 4)] if mode == "self" else [Slow()]
    model, history = run(4 if mode == "self" else 400, ckpt_dir, extra=extra)
    print("interrupted" if history.interrupted else "finished", history.stop_reason, flush=True)
''')


def _child(tmp_path, mode):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen([sys.executable, str(script), mode, str(tmp_path)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=sigint_default)


def test_sigint_in_a_subprocess_then_resume_is_bit_identical(tmp_path, straight):
    proc = _child(tmp_path, "self")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "interrupted (Ctrl-C) during epoch 2, after batch 4 of 8" in out, out
    # the batch in progress when the signal came was finished, then training stopped
    assert not (tmp_path / "ep_2.ckpt").exists()
    model, history = run(4, resume=tmp_path / "ep_2.interrupted.ckpt", init_seed=99)
    _assert_same_run(model, history, *straight)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigint_from_outside_at_any_moment_then_resume_is_bit_identical(tmp_path):
    proc = _child(tmp_path, "outside")
    line = proc.stdout.readline()  # wait until epoch 1 has finished
    assert line.startswith("epoch done 1"), line + proc.stderr.read()
    time.sleep(0.37)  # somewhere inside epoch 2 or 3: where exactly does not matter
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "interrupted (Ctrl-C)" in out, out
    (stopped,) = [p for p in os.listdir(tmp_path) if p.startswith("ep_")
                  and p.endswith(".interrupted.ckpt")]
    position = tc.load(tmp_path / stopped)
    epochs = position["epoch"] + 1
    ref_model, ref_history = run(epochs)
    model, history = run(epochs, resume=tmp_path / stopped, init_seed=99)
    _assert_same_run(model, history, ref_model, ref_history)


class _InterruptOnEpochBegin(Callback):
    def on_epoch_begin(self, trainer, epoch):
        raise KeyboardInterrupt


def test_interrupt_right_after_resuming_keeps_the_position(tmp_path, straight):
    run(4, tmp_path, extra=[_InterruptAt(epoch=2, batch=3)])
    again = tmp_path / "again"
    _, history = run(4, again, resume=tmp_path / "ep_2.interrupted.ckpt",
                     extra=[_InterruptOnEpochBegin()])
    assert history.stop_reason == "interrupted (Ctrl-C) during epoch 2, after batch 3 of 8"
    stopped = tc.load(again / "ep_2.interrupted.ckpt")
    assert (stopped["epoch"], stopped["batch"]) == (2, 3)
    model, history = run(4, resume=again / "ep_2.interrupted.ckpt", init_seed=99)
    _assert_same_run(model, history, *straight)


def test_resuming_mid_epoch_fetches_only_the_batches_left(tmp_path):
    from tinygrad_cnn import nn
    from tinygrad_cnn.data import TensorDataset
    from tinygrad_cnn.train import fit

    class Counted(TensorDataset):
        fetched = 0

        def __getitems__(self, indices):
            Counted.fetched += len(indices)
            return super().__getitems__(indices)

    x, y = data(40)
    ds = Counted(x, y)

    def train(**kwargs):
        tc.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(36, 2))
        return fit(model, tc.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss(), ds, 1,
                   batch_size=4, verbose=0, **kwargs)

    train(callbacks=[ModelCheckpoint(f"{tmp_path}/ep_{{epoch}}.ckpt"), _InterruptAt(1, 6)])
    Counted.fetched = 0
    history = train(resume=tmp_path / "ep_1.interrupted.ckpt")
    assert history.epochs == [1] and Counted.fetched == 40 - 6 * 4
