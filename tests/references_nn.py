"""Naive NumPy references for the nn layers and losses (loops allowed; obviously correct)."""

import math

import numpy as np


def linear(x, w, b=None):
    """x (*, in) @ w.T (in, out) + b."""
    out = np.einsum("...i,oi->...o", x, w)
    return out if b is None else out + b


def gelu(x, approximate="none"):
    flat = x.reshape(-1)
    if approximate == "tanh":
        out = [0.5 * v * (1 + math.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v**3)))
               for v in flat]
    else:
        out = [0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in flat]
    return np.array(out).reshape(x.shape)


def batch_norm_train(x, gamma, beta, eps):
    """Per channel c: normalize x[:, c] with its batch mean and biased variance.
    Returns (y, batch mean, unbiased batch variance)."""
    c = x.shape[1]
    y = np.empty_like(x)
    means, variances = np.empty(c), np.empty(c)
    for k in range(c):
        values = x[:, k].reshape(-1)
        mu = values.sum() / values.size
        var = ((values - mu) ** 2).sum() / values.size
        y[:, k] = (x[:, k] - mu) / math.sqrt(var + eps) * gamma[k] + beta[k]
        means[k] = mu
        variances[k] = ((values - mu) ** 2).sum() / (values.size - 1)
    return y, means, variances


def batch_norm_eval(x, running_mean, running_var, gamma, beta, eps):
    y = np.empty_like(x)
    for k in range(x.shape[1]):
        y[:, k] = (x[:, k] - running_mean[k]) / math.sqrt(running_var[k] + eps) * gamma[k] + beta[k]
    return y


def _log_softmax_row(row):
    m = max(row)
    return [v - m - math.log(sum(math.exp(u - m) for u in row)) for v in row]


def _rows(x):
    """(N, C, d...) -> list of (position, class row) in C-order of the positions."""
    moved = np.moveaxis(x, 1, -1)
    return moved.reshape(-1, x.shape[1])


def _reduce(losses, reduction, denominator=None):
    losses = np.asarray(losses, dtype=np.float64)
    if reduction == "sum":
        return losses.sum()
    if reduction == "mean":
        return losses.sum() / (len(losses) if denominator is None else denominator)
    return losses


def nll_loss(logp, target, weight=None, ignore_index=-100, reduction="mean"):
    rows = _rows(logp)
    t = target.reshape(-1)
    c = logp.shape[1]
    weight = np.ones(c) if weight is None else weight
    losses, total_w = [], 0.0
    for row, k in zip(rows, t, strict=False):
        if k == ignore_index:
            losses.append(0.0)
            continue
        losses.append(-weight[k] * row[k])
        total_w += weight[k]
    out = _reduce(losses, reduction, total_w)
    return out.reshape(target.shape) if reduction == "none" else out


def cross_entropy(logits, target, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    """Class indices (int target) or probabilities (float target of the logits' shape),
    following the formulas in PyTorch's documentation."""
    c = logits.shape[1]
    rows = [_log_softmax_row(list(r)) for r in _rows(logits)]
    weight = np.ones(c) if weight is None else weight
    if target.dtype.kind == "f":
        probs = _rows(target) * (1 - label_smoothing) + label_smoothing / c
        losses = [-sum(weight[k] * p[k] * r[k] for k in range(c))
                  for r, p in zip(rows, probs, strict=True)]
        out = _reduce(losses, reduction)
        return out.reshape((logits.shape[0],) + logits.shape[2:]) if reduction == "none" else out
    losses, total_w = [], 0.0
    for r, k in zip(rows, target.reshape(-1), strict=False):
        if k == ignore_index:
            losses.append(0.0)
            continue
        # smoothed target: (1 - s) one-hot + s / C uniform, each class weighted
        q = [label_smoothing / c + (1 - label_smoothing) * (j == k) for j in range(c)]
        nll = -weight[k] * r[k]
        smooth = -sum(weight[j] * r[j] for j in range(c))
        losses.append((1 - label_smoothing) * nll + label_smoothing / c * smooth)
        assert abs(sum(q) - 1) < 1e-12
        total_w += weight[k]
    out = _reduce(losses, reduction, total_w)
    return out.reshape(target.shape) if reduction == "none" else out


def mse_loss(x, y, reduction="mean"):
    pairs = zip(x.reshape(-1), y.reshape(-1), strict=True)
    out = _reduce([(a - b) ** 2 for a, b in pairs], reduction)
    return out.reshape(x.shape) if reduction == "none" else out


def l1_loss(x, y, reduction="mean"):
    pairs = zip(x.reshape(-1), y.reshape(-1), strict=True)
    out = _reduce([abs(a - b) for a, b in pairs], reduction)
    return out.reshape(x.shape) if reduction == "none" else out


def smooth_l1_loss(x, y, reduction="mean", beta=1.0):
    losses = []
    for a, b in zip(x.reshape(-1), y.reshape(-1), strict=False):
        d = abs(a - b)
        losses.append(0.5 * d * d / beta if d < beta else d - 0.5 * beta)
    out = _reduce(losses, reduction)
    return out.reshape(x.shape) if reduction == "none" else out


def binary_cross_entropy(p, t, weight=None, reduction="mean"):
    weight = np.ones_like(p) if weight is None else np.broadcast_to(weight, p.shape)
    losses = []
    for a, b, w in zip(p.reshape(-1), t.reshape(-1), weight.reshape(-1), strict=False):
        log_a = max(math.log(a), -100) if a > 0 else -100
        log_1a = max(math.log(1 - a), -100) if a < 1 else -100
        losses.append(-w * (b * log_a + (1 - b) * log_1a))
    out = _reduce(losses, reduction)
    return out.reshape(p.shape) if reduction == "none" else out


def binary_cross_entropy_with_logits(x, t, weight=None, reduction="mean", pos_weight=None):
    """-w [pw t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))]; log sigmoid(x) = -softplus(-x)."""
    weight = np.ones_like(x) if weight is None else np.broadcast_to(weight, x.shape)
    pw = np.ones_like(x) if pos_weight is None else np.broadcast_to(pos_weight, x.shape)

    def log_sigmoid(v):
        return -(max(-v, 0) + math.log1p(math.exp(-abs(v))))

    losses = [-w * (q * b * log_sigmoid(a) + (1 - b) * log_sigmoid(-a))
              for a, b, w, q in zip(x.reshape(-1), t.reshape(-1), weight.reshape(-1),
                                    pw.reshape(-1), strict=False)]
    out = _reduce(losses, reduction)
    return out.reshape(x.shape) if reduction == "none" else out


# ---------------------------------------------------------------------- conv and pooling


def _pad(x, ph, pw, value=0.0):
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def conv2d(x, w, b=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    """Direct loops over output positions; weight (C_out, C_in/groups, KH, KW)."""
    n, c, h, wd = x.shape
    k, cg, kh, kw = w.shape
    xp = _pad(x, *padding)
    oh = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, k, oh, ow))
    per_group = k // groups
    for o in range(k):
        g = o // per_group
        for i in range(oh):
            for j in range(ow):
                rows = i * stride[0] + dilation[0] * np.arange(kh)
                cols = j * stride[1] + dilation[1] * np.arange(kw)
                patch = xp[:, g * cg:(g + 1) * cg][:, :, rows][:, :, :, cols]   # (N, cg, KH, KW)
                out[:, o, i, j] = (patch * w[o]).sum(axis=(1, 2, 3))
    return out if b is None else out + b.reshape(1, -1, 1, 1)


def conv_transpose2d(x, w, b=None, stride=(1, 1), padding=(0, 0), output_padding=(0, 0)):
    """Scatter each input pixel times the kernel into the (uncropped) output, then crop."""
    n, c, h, wd = x.shape
    _, k, kh, kw = w.shape
    full_h = (h - 1) * stride[0] + kh + output_padding[0]
    full_w = (wd - 1) * stride[1] + kw + output_padding[1]
    out = np.zeros((n, k, full_h, full_w))
    for i in range(h):
        for j in range(wd):
            contrib = np.einsum("nc,cokl->nokl", x[:, :, i, j], w)
            out[:, :, i * stride[0]:i * stride[0] + kh, j * stride[1]:j * stride[1] + kw] += contrib
    out = out[:, :, padding[0]:full_h - padding[0], padding[1]:full_w - padding[1]]
    return out if b is None else out + b.reshape(1, -1, 1, 1)


def pool2d(x, kernel, stride, reduce, padding=(0, 0), pad_value=0.0):
    """reduce(window) over every (KH, KW) window of the padded input."""
    xp = _pad(x, *padding, value=pad_value)
    n, c, h, w = xp.shape
    oh = (h - kernel[0]) // stride[0] + 1
    ow = (w - kernel[1]) // stride[1] + 1
    out = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            window = xp[:, :, i * stride[0]:i * stride[0] + kernel[0],
                        j * stride[1]:j * stride[1] + kernel[1]]
            out[:, :, i, j] = reduce(window.reshape(n, c, -1))
    return out


def adaptive_pool2d(x, out_hw, reduce):
    """PyTorch's adaptive windows: start floor(i*H/OH), end ceil((i+1)*H/OH)."""
    n, c, h, w = x.shape
    out = np.zeros((n, c) + tuple(out_hw))
    for i in range(out_hw[0]):
        r0, r1 = (i * h) // out_hw[0], -(-((i + 1) * h) // out_hw[0])
        for j in range(out_hw[1]):
            c0, c1 = (j * w) // out_hw[1], -(-((j + 1) * w) // out_hw[1])
            out[:, :, i, j] = reduce(x[:, :, r0:r1, c0:c1].reshape(n, c, -1))
    return out
