"""Naive, obviously-correct NumPy loop versions of convolution and pooling (tests only, slow).

Each follows the textbook / PyTorch-documentation definition one output element at a time and
shares no code with tinygrad_cnn.
"""

import math

import numpy as np


def _pairs(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _pads(padding, size_hw, kernel_hw, stride_hw, dilation_hw):
    """((top, bottom), (left, right)); "same" = Keras: output ceil(size / stride), extra at end."""
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding == "same":
        out = []
        for size, k, s, d in zip(size_hw, kernel_hw, stride_hw, dilation_hw, strict=True):
            want = math.ceil(size / s)
            total = max(0, (want - 1) * s + d * (k - 1) + 1 - size)
            out.append((total // 2, total - total // 2))
        return tuple(out)
    if isinstance(padding, int):
        return (padding, padding), (padding, padding)
    if isinstance(padding[0], int):
        return (padding[0], padding[0]), (padding[1], padding[1])
    return tuple(tuple(p) for p in padding)


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """out[n, k, i, j] = b[k] + sum over c, p, q of w[k, c, p, q] * xpad[n, g*Cg + c, i*s + p*d,
    j*s + q*d], with g = k // (K / groups)."""
    n_batch, c_in, h, wd = x.shape
    k_out, cg, kh, kw = w.shape
    (sh, sw), (dh, dw) = _pairs(stride), _pairs(dilation)
    (pt, pb), (pl, pr) = _pads(padding, (h, wd), (kh, kw), (sh, sw), (dh, dw))
    xp = np.zeros((n_batch, c_in, h + pt + pb, wd + pl + pr))
    xp[:, :, pt:pt + h, pl:pl + wd] = x
    oh = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + pl + pr - dw * (kw - 1) - 1) // sw + 1
    kg = k_out // groups
    out = np.zeros((n_batch, k_out, oh, ow))
    for n in range(n_batch):
        for k in range(k_out):
            g = k // kg
            for i in range(oh):
                for j in range(ow):
                    total = 0.0
                    for c in range(cg):
                        for p in range(kh):
                            for q in range(kw):
                                total += w[k, c, p, q] * xp[n, g * cg + c, i * sh + p * dh,
                                                            j * sw + q * dw]
                    out[n, k, i, j] = total + (0.0 if b is None else b[k])
    return out


def conv_transpose2d(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Scatter form: every input element adds x * w[c, k] at (i*s + p*d, j*s + q*d) of a full
    output, which is then cropped by the padding (output_padding extends the bottom/right)."""
    n_batch, c_in, h, wd = x.shape
    _, kg, kh, kw = w.shape
    (sh, sw), (dh, dw) = _pairs(stride), _pairs(dilation)
    (pt, pb), (pl, pr) = _pads(padding, (h, wd), (kh, kw), (sh, sw), (dh, dw))
    oph, opw = _pairs(output_padding)
    full_h = (h - 1) * sh + dh * (kh - 1) + 1 + oph
    full_w = (wd - 1) * sw + dw * (kw - 1) + 1 + opw
    cg = c_in // groups
    full = np.zeros((n_batch, kg * groups, full_h, full_w))
    for n in range(n_batch):
        for c in range(c_in):
            g = c // cg
            for i in range(h):
                for j in range(wd):
                    for k in range(kg):
                        for p in range(kh):
                            for q in range(kw):
                                full[n, g * kg + k, i * sh + p * dh, j * sw + q * dw] += (
                                    x[n, c, i, j] * w[c, k, p, q])
    out = full[:, :, pt:full_h - pb, pl:full_w - pr]
    if b is not None:
        out = out + b.reshape(1, -1, 1, 1)
    return out


def _pool_out(size, k, s, p, d, ceil_mode):
    """PyTorch's pooling output size."""
    num = size + 2 * p - d * (k - 1) - 1
    out = (math.ceil(num / s) if ceil_mode else num // s) + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """(values, flat indices): each window's maximum over the input elements it covers and the
    row-major-first position of it (padding never wins: a window whose input is all -inf points
    at its first input element); a window holding NaN gives NaN and the position of its last NaN
    (PyTorch's kernel takes any NaN it meets)."""
    (kh, kw) = _pairs(kernel_size)
    (sh, sw) = _pairs(stride) if stride is not None else (kh, kw)
    (ph, pw), (dh, dw) = _pairs(padding), _pairs(dilation)
    n_batch, chans, h, wd = x.shape
    oh, ow = _pool_out(h, kh, sh, ph, dh, ceil_mode), _pool_out(wd, kw, sw, pw, dw, ceil_mode)
    out = np.full((n_batch, chans, oh, ow), -np.inf)
    idx = np.full((n_batch, chans, oh, ow), -1, dtype=np.int64)
    for n in range(n_batch):
        for c in range(chans):
            for i in range(oh):
                for j in range(ow):
                    for p in range(kh):
                        for q in range(kw):
                            r, s = i * sh - ph + p * dh, j * sw - pw + q * dw
                            if not (0 <= r < h and 0 <= s < wd):
                                continue
                            v = x[n, c, r, s]
                            if idx[n, c, i, j] < 0 or v > out[n, c, i, j] or np.isnan(v):
                                out[n, c, i, j] = x[n, c, r, s]
                                idx[n, c, i, j] = r * wd + s
    return out, idx


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Window sums divided by PyTorch's count: the window clipped to the padded input (with
    count_include_pad) or to the input itself (without)."""
    (kh, kw) = _pairs(kernel_size)
    (sh, sw) = _pairs(stride) if stride is not None else (kh, kw)
    (ph, pw) = _pairs(padding)
    n_batch, chans, h, wd = x.shape
    oh, ow = _pool_out(h, kh, sh, ph, 1, ceil_mode), _pool_out(wd, kw, sw, pw, 1, ceil_mode)
    out = np.zeros((n_batch, chans, oh, ow))
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * sh - ph, j * sw - pw
            r1, c1 = min(r0 + kh, h + ph), min(c0 + kw, wd + pw)
            padded_count = (r1 - r0) * (c1 - c0)
            r0, c0, r1, c1 = max(r0, 0), max(c0, 0), min(r1, h), min(c1, wd)
            count = padded_count if count_include_pad else (r1 - r0) * (c1 - c0)
            if divisor_override is not None:
                count = divisor_override
            out[:, :, i, j] = x[:, :, r0:r1, c0:c1].sum(axis=(2, 3)) / count
    return out


def lp_pool2d(x, norm_type, kernel_size, stride=None, ceil_mode=False):
    """(sum over the window's input elements of x**p) ** (1/p)."""
    (kh, kw) = _pairs(kernel_size)
    (sh, sw) = _pairs(stride) if stride is not None else (kh, kw)
    n_batch, chans, h, wd = x.shape
    oh, ow = _pool_out(h, kh, sh, 0, 1, ceil_mode), _pool_out(wd, kw, sw, 0, 1, ceil_mode)
    out = np.zeros((n_batch, chans, oh, ow))
    for i in range(oh):
        for j in range(ow):
            window = x[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            out[:, :, i, j] = (window ** norm_type).sum(axis=(2, 3)) ** (1.0 / norm_type)
    return out


def _bins(size, out):
    return [(math.floor(i * size / out), math.ceil((i + 1) * size / out)) for i in range(out)]


def adaptive_avg_pool2d(x, output_size):
    """Bin i covers rows floor(i*H/OH) .. ceil((i+1)*H/OH) - 1; the output is each bin's mean."""
    oh, ow = _pairs(output_size)
    h, wd = x.shape[2:]
    out = np.zeros(x.shape[:2] + (oh, ow))
    for i, (r0, r1) in enumerate(_bins(h, oh)):
        for j, (c0, c1) in enumerate(_bins(wd, ow)):
            out[:, :, i, j] = x[:, :, r0:r1, c0:c1].mean(axis=(2, 3))
    return out


def adaptive_max_pool2d(x, output_size, return_indices=False):
    """Each bin's maximum (bins as in adaptive_avg_pool2d), and with ``return_indices`` the flat
    index r * W + c of its row-major-first position."""
    oh, ow = _pairs(output_size)
    n_batch, chans, h, wd = x.shape
    out = np.zeros(x.shape[:2] + (oh, ow))
    idx = np.zeros(x.shape[:2] + (oh, ow), dtype=np.int64)
    for i, (r0, r1) in enumerate(_bins(h, oh)):
        for j, (c0, c1) in enumerate(_bins(wd, ow)):
            out[:, :, i, j] = x[:, :, r0:r1, c0:c1].max(axis=(2, 3))
            for n in range(n_batch):
                for c in range(chans):
                    r, s = np.unravel_index(np.argmax(x[n, c, r0:r1, c0:c1]), (r1 - r0, c1 - c0))
                    idx[n, c, i, j] = (r0 + r) * wd + c0 + s
    return (out, idx) if return_indices else out
