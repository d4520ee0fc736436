"""Naive NumPy loop references for padding modes, 1-D conv and pooling, unfold/fold, resampling
and the normalization layers (tests only, slow). Each follows PyTorch's documented definition one
output element at a time and shares no code with tinygrad_cnn.
"""

import math

import numpy as np

# ---------------------------------------------------------------------- padding


def _source(o, size, before, mode):
    """The input position output position o of a padded axis reads (by the mode's definition)."""
    p = o - before
    if mode == "replicate":
        return min(max(p, 0), size - 1)
    if mode == "circular":
        while p < 0:
            p += size
        while p >= size:
            p -= size
        return p
    # reflect: mirror at 0 and at size-1 without repeating the edge
    if p < 0:
        return -p
    if p >= size:
        return 2 * (size - 1) - p
    return p


def pad(x, widths, mode, value=0.0):
    """widths in PyTorch's order (left, right, top, bottom, ...) for the last dims."""
    dims = len(widths) // 2
    lead = x.ndim - dims
    sizes = x.shape[lead:]
    befores = [widths[2 * (dims - 1 - i)] for i in range(dims)]       # per padded dim, in order
    afters = [widths[2 * (dims - 1 - i) + 1] for i in range(dims)]
    out_sizes = [s + b + a for s, b, a in zip(sizes, befores, afters, strict=True)]
    out = np.zeros(x.shape[:lead] + tuple(out_sizes), dtype=x.dtype)
    for pos in np.ndindex(*out_sizes):
        if mode == "constant":
            src = [o - b for o, b in zip(pos, befores, strict=True)]
            if all(0 <= p < s for p, s in zip(src, sizes, strict=True)):
                out[(Ellipsis, *pos)] = x[(Ellipsis, *src)]
            else:
                out[(Ellipsis, *pos)] = value
        else:
            src = [_source(o, s, b, mode) for o, s, b in zip(pos, sizes, befores, strict=True)]
            out[(Ellipsis, *pos)] = x[(Ellipsis, *src)]
    return out


# ---------------------------------------------------------------------- 1-D conv and pooling


def conv1d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """out[n, k, i] = b[k] + sum over c, p of w[k, c, p] * xpad[n, g*Cg + c, i*s + p*d]."""
    n_batch, c_in, length = x.shape
    k_out, cg, kernel = w.shape
    xp = np.zeros((n_batch, c_in, length + 2 * padding))
    xp[:, :, padding:padding + length] = x
    out_len = (length + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
    kg = k_out // groups
    out = np.zeros((n_batch, k_out, out_len))
    for n in range(n_batch):
        for k in range(k_out):
            g = k // kg
            for i in range(out_len):
                total = 0.0
                for c in range(cg):
                    for p in range(kernel):
                        total += w[k, c, p] * xp[n, g * cg + c, i * stride + p * dilation]
                out[n, k, i] = total + (0.0 if b is None else b[k])
    return out


def _pool1d_out(length, k, s, p, d, ceil_mode):
    span = length + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= length + p:
        out -= 1
    return out


def max_pool1d(x, kernel, stride=None, padding=0, dilation=1, ceil_mode=False):
    """(values, indices into L) of the max over each window, padding -inf."""
    stride = kernel if stride is None else stride
    n_batch, chans, length = x.shape
    out_len = _pool1d_out(length, kernel, stride, padding, dilation, ceil_mode)
    out = np.zeros((n_batch, chans, out_len))
    idx = np.zeros((n_batch, chans, out_len), dtype=np.int64)
    for n in range(n_batch):
        for c in range(chans):
            for i in range(out_len):
                best, where = -np.inf, -1
                for p in range(kernel):
                    pos = i * stride - padding + p * dilation
                    if 0 <= pos < length and (where < 0 or x[n, c, pos] > best):
                        best, where = x[n, c, pos], pos
                out[n, c, i], idx[n, c, i] = best, where
    return out, idx


def avg_pool1d(x, kernel, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Mean over each window; the divisor counts padding when count_include_pad (windows are
    clipped to the padded input first, as PyTorch)."""
    stride = kernel if stride is None else stride
    n_batch, chans, length = x.shape
    out_len = _pool1d_out(length, kernel, stride, padding, 1, ceil_mode)
    out = np.zeros((n_batch, chans, out_len))
    for i in range(out_len):
        start = i * stride - padding
        end = min(start + kernel, length + padding)
        divisor = end - start
        lo, hi = max(start, 0), min(end, length)
        if not count_include_pad:
            divisor = hi - lo
        out[:, :, i] = x[:, :, lo:hi].sum(axis=2) / divisor
    return out


# ---------------------------------------------------------------------- unfold / fold


def unfold(x, kernel, dilation=(1, 1), padding=(0, 0), stride=(1, 1)):
    """(N, C, H, W) -> (N, C*KH*KW, L): column l holds the window at output position l, row
    c*KH*KW + i*KW + j its element (i, j) of channel c (zero outside the input)."""
    n_batch, chans, h, w = x.shape
    kh, kw = kernel
    oh = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (w + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n_batch, chans * kh * kw, oh * ow))
    for c in range(chans):
        for i in range(kh):
            for j in range(kw):
                row = c * kh * kw + i * kw + j
                for a in range(oh):
                    for b in range(ow):
                        r = a * stride[0] - padding[0] + i * dilation[0]
                        s = b * stride[1] - padding[1] + j * dilation[1]
                        if 0 <= r < h and 0 <= s < w:
                            out[:, row, a * ow + b] = x[:, c, r, s]
    return out


def fold(cols, output_size, kernel, dilation=(1, 1), padding=(0, 0), stride=(1, 1)):
    """(N, C*KH*KW, L) -> (N, C, H, W): every column element added back where unfold read it."""
    n_batch = cols.shape[0]
    kh, kw = kernel
    h, w = output_size
    chans = cols.shape[1] // (kh * kw)
    oh = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (w + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n_batch, chans, h, w))
    for c in range(chans):
        for i in range(kh):
            for j in range(kw):
                row = c * kh * kw + i * kw + j
                for a in range(oh):
                    for b in range(ow):
                        r = a * stride[0] - padding[0] + i * dilation[0]
                        s = b * stride[1] - padding[1] + j * dilation[1]
                        if 0 <= r < h and 0 <= s < w:
                            out[:, c, r, s] += cols[:, row, a * ow + b]
    return out


# ---------------------------------------------------------------------- resampling


def pixel_shuffle(x, r):
    """out[n, c, h*r + i, w*r + j] = x[n, c*r*r + i*r + j, h, w]."""
    n_batch, chans, h, w = x.shape
    c_out = chans // (r * r)
    out = np.zeros((n_batch, c_out, h * r, w * r))
    for c in range(c_out):
        for i in range(r):
            for j in range(r):
                for a in range(h):
                    for b in range(w):
                        out[:, c, a * r + i, b * r + j] = x[:, c * r * r + i * r + j, a, b]
    return out


def nearest_index(dst, in_size, out_size, scale_factor=None, shortcuts=True):
    """PyTorch's 'nearest' source index: floor(dst * scale) in float32, scale = 1/scale_factor
    when a scale factor was given, else in/out; clipped to in-1 (out == in and out == 2*in are
    special-cased with ``shortcuts``, as in PyTorch's 2-D kernel)."""
    if shortcuts and out_size == in_size:   # PyTorch's 2-D kernel: a copy, and a halving at
        return dst                          # twice the size, whatever the scale factor
    if shortcuts and out_size == 2 * in_size:
        return dst // 2
    if scale_factor is not None:
        scale = np.float32(1.0 / scale_factor)
    else:
        scale = np.float32(in_size) / np.float32(out_size)
    return min(int(math.floor(np.float32(dst) * scale)), in_size - 1)


def interpolate_nearest(x, out_hw, scale_factors=(None, None)):
    n_batch, chans, h, w = x.shape
    out = np.zeros((n_batch, chans) + tuple(out_hw))
    for a in range(out_hw[0]):
        r = nearest_index(a, h, out_hw[0], scale_factors[0])
        for b in range(out_hw[1]):
            s = nearest_index(b, w, out_hw[1], scale_factors[1])
            out[:, :, a, b] = x[:, :, r, s]
    return out


def linear_source(dst, in_size, out_size, align_corners, scale_factor=None):
    """PyTorch's source coordinate of output position dst for linear modes."""
    if align_corners:
        return 0.0 if out_size == 1 else dst * (in_size - 1) / (out_size - 1)
    scale = 1.0 / scale_factor if scale_factor is not None else in_size / out_size
    return max((dst + 0.5) * scale - 0.5, 0.0)


def interpolate_bilinear(x, out_hw, align_corners, scale_factors=(None, None)):
    """The weighted sum of the 4 neighbours of each output pixel's source point."""
    n_batch, chans, h, w = x.shape
    out = np.zeros((n_batch, chans) + tuple(out_hw))
    for a in range(out_hw[0]):
        sr = linear_source(a, h, out_hw[0], align_corners, scale_factors[0])
        r0 = int(math.floor(sr))
        r1 = min(r0 + 1, h - 1)
        fr = sr - r0
        for b in range(out_hw[1]):
            sc = linear_source(b, w, out_hw[1], align_corners, scale_factors[1])
            c0 = int(math.floor(sc))
            c1 = min(c0 + 1, w - 1)
            fc = sc - c0
            out[:, :, a, b] = ((1 - fr) * (1 - fc) * x[:, :, r0, c0]
                               + (1 - fr) * fc * x[:, :, r0, c1]
                               + fr * (1 - fc) * x[:, :, r1, c0] + fr * fc * x[:, :, r1, c1])
    return out


# ---------------------------------------------------------------------- normalization


def _normalize(values, eps):
    values = np.asarray(values, dtype=np.float64)
    mean = sum(values) / len(values)
    var = sum((v - mean) ** 2 for v in values) / len(values)
    return (values - mean) / math.sqrt(var + eps), mean, var


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalize each item over its last len(normalized_shape) dims, then scale and shift."""
    k = len(normalized_shape)
    lead = x.shape[: x.ndim - k]
    out = np.zeros_like(x, dtype=np.float64)
    for idx in np.ndindex(*lead):
        block = x[idx]
        normed, _, _ = _normalize(block.reshape(-1), eps)
        out[idx] = normed.reshape(block.shape)
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def group_norm(x, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalize each item's channel groups (C/G channels and all positions) together."""
    n_batch, chans = x.shape[:2]
    per = chans // num_groups
    out = np.zeros_like(x, dtype=np.float64)
    for n in range(n_batch):
        for g in range(num_groups):
            block = x[n, g * per:(g + 1) * per]
            normed, _, _ = _normalize(block.reshape(-1), eps)
            out[n, g * per:(g + 1) * per] = normed.reshape(block.shape)
    shape = (1, chans) + (1,) * (x.ndim - 2)
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


def instance_norm(x, weight=None, bias=None, eps=1e-5):
    """Normalize each (item, channel) plane on its own; returns (out, per-plane mean, biased
    var) with the statistics shaped (N, C)."""
    n_batch, chans = x.shape[:2]
    out = np.zeros_like(x, dtype=np.float64)
    means, variances = np.zeros((n_batch, chans)), np.zeros((n_batch, chans))
    for n in range(n_batch):
        for c in range(chans):
            normed, means[n, c], variances[n, c] = _normalize(x[n, c].reshape(-1), eps)
            out[n, c] = normed.reshape(x[n, c].shape)
    shape = (1, chans) + (1,) * (x.ndim - 2)
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out, means, variances
