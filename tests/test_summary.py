"""summary: parameter counts of LeNet-5 and the article's model, table text, layer errors."""

import pytest

import tinygrad_cnn as tc
from tinygrad_cnn import nn


def lenet5():
    """PyTorch-style LeNet-5 for 1x32x32 inputs and 10 classes."""
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10),
    )


def test_lenet5_summary(capsys):
    model = lenet5()
    rows = tc.summary(model, (1, 32, 32))
    assert rows.total_params == 61_706 == rows.trainable_params
    assert rows.non_trainable_params == 0
    assert [r.name for r in rows] == [str(i) for i in range(12)]
    assert [r.output_shape for r in rows][:3] == [(1, 6, 28, 28), (1, 6, 28, 28), (1, 6, 14, 14)]
    assert rows[6].output_shape == (1, 400) and rows[-1].output_shape == (1, 10)
    assert [r.params for r in rows if r.params] == [156, 2_416, 48_120, 10_164, 850]
    text = capsys.readouterr().out
    assert "Total params: 61,706" in text and "Non-trainable params: 0" in text
    assert "0 (Conv2d)" in text and "(None, 6, 28, 28)" in text
    assert str(rows) == rows.table()


@pytest.mark.parametrize("filters,size", [(10, 32), (32, 300)])
def test_article_model_summary(filters, size):
    """One Conv2d(3, F, 5) valid + ReLU, 2x2 max pooling, Flatten, Dense(2) + softmax."""
    model = nn.Sequential(nn.Conv2d(3, filters, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(filters * ((size - 5 + 1) // 2) ** 2, 2), nn.Softmax(dim=1))
    conv_out = (size - 5 + 2 * 0) // 1 + 1          # (W - F + 2P) / S + 1
    pooled = conv_out // 2
    expected = (5 * 5 * 3 * filters + filters) + (filters * pooled * pooled * 2 + 2)
    rows = model.summary((3, size, size), print_fn=None)
    assert rows.total_params == expected
    assert rows[0].output_shape == (1, filters, conv_out, conv_out)
    assert rows[3].output_shape == (1, filters * pooled * pooled)
    assert rows[-1].output_shape == (1, 2)


def test_summary_counts_frozen_and_buffers_and_restores_mode():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(36, 2))
    model[0].requires_grad_(False)
    rows = tc.summary(model, (1, 5, 5), print_fn=None)
    assert rows.total_params == 40 + 8 + 74
    assert rows.non_trainable_params == 40 and rows.trainable_params == 82
    assert rows[0].trainable == 0 and rows[1].params == 8
    assert model.training and model[1].num_batches_tracked.item() == 0
    model.eval()
    tc.summary(model, (1, 5, 5), print_fn=None)
    assert not model.training


def test_summary_names_the_layer_whose_output_collapses():
    model = nn.Sequential(
        nn.Conv2d(1, 4, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Sequential(nn.Conv2d(4, 8, 5), nn.ReLU()),
        nn.Flatten(), nn.Linear(8, 2))
    with pytest.raises(ValueError, match=r"summary: layer '3.0' \(Conv2d\) failed on the "
                                         r"\(1, 1, 12, 12\) batch: Conv2d\(4, 8, .*output height "
                                         r"would be 0 pixels.*floor\(\(4 \+ 2\*0 - 1\*\(5-1\) "
                                         r"- 1\) / 1\) \+ 1 = 0"):
        tc.summary(model, (1, 12, 12), print_fn=None)
    wrong = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(10, 2))
    with pytest.raises(ValueError, match=r"layer '2' \(Linear\).*input has 18 features"):
        tc.summary(wrong, (1, 5, 5), print_fn=None)
    # hooks are removed after a failure
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in wrong.modules())
