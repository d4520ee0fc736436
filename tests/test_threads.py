"""Thread safety of training: grad mode is per thread, so threads training or evaluating their
own models never see each other's no_grad (issue 13, section 1)."""

import threading

import numpy as np

import tinygrad_cnn as tc
from tinygrad_cnn import nn
from tinygrad_cnn.train import evaluate, fit


def _blobs(n=64, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = rng.normal(size=(n, 1, 4, 4)).astype(np.float32) * 0.5
    x[:, :, :, :2] += 1.5 * y[:, None, None, None]
    return x, y.astype(np.int64)


def _model(seed):
    tc.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(),
                         nn.Flatten(), nn.Linear(48, 2))


def _in_threads(*fns):
    """Run each fn in its own thread, all released at once; re-raise the first error."""
    barrier = threading.Barrier(len(fns))
    errors = []

    def run(fn):
        try:
            barrier.wait()
            fn()
        except BaseException as e:  # noqa: BLE001 - handed to the main thread
            errors.append(e)

    threads = [threading.Thread(target=run, args=(fn,)) for fn in fns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def test_no_grad_in_another_thread_does_not_reach_this_one():
    inside, release = threading.Event(), threading.Event()

    def hold_no_grad():
        with tc.no_grad():
            assert not tc.is_grad_enabled()
            inside.set()
            release.wait(10)

    t = threading.Thread(target=hold_no_grad)
    t.start()
    try:
        assert inside.wait(10)
        assert tc.is_grad_enabled()  # the other thread's no_grad is its own
        x = tc.ones(3, requires_grad=True)
        (x * x).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0, 2.0])
    finally:
        release.set()
        t.join()
    assert tc.is_grad_enabled()


def test_new_thread_starts_with_grad_enabled():
    seen = []
    with tc.no_grad():
        t = threading.Thread(target=lambda: seen.append(tc.is_grad_enabled()))
        t.start()
        t.join()
    assert seen == [True]


def _train(seed, epochs=3):
    x, y = _blobs(64, seed=seed)
    model = _model(seed)
    opt = tc.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

    def run():
        history = fit(model, opt, nn.CrossEntropyLoss(), (x, y), epochs, batch_size=4,
                      val_data=(x[:16], y[:16]), verbose=0, seed=seed)
        run.history = history
    return model, run


def test_two_threads_training_equal_one_after_the_other():
    sequential = []
    for seed in (1, 2):
        model, run = _train(seed)
        run()
        sequential.append((model, run.history))
    model_a, run_a = _train(1)
    model_b, run_b = _train(2)
    _in_threads(run_a, run_b)
    for (model, history), threaded, run in ((sequential[0], model_a, run_a),
                                            (sequential[1], model_b, run_b)):
        for (name, p), q in zip(model.state_dict().items(), threaded.state_dict().values(),
                                strict=True):
            np.testing.assert_array_equal(q.numpy(), p.numpy(), err_msg=name)
        assert run.history["loss"] == history["loss"]
        assert run.history["val_loss"] == history["val_loss"]
    assert tc.is_grad_enabled()


def test_evaluate_in_threads_leaves_grad_mode_of_the_main_thread_alone():
    x, y = _blobs(256)
    models = [_model(s) for s in range(4)]
    for _ in range(5):
        _in_threads(*[lambda m=m: evaluate(m, (x, y), batch_size=8) for m in models])
        assert tc.is_grad_enabled()
