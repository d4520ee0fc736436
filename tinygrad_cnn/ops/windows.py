"""Sliding-window geometry shared by convolution and pooling: output sizes, padding, im2col/col2im.

Shapes: N batch, C channels, H, W input size, KH, KW kernel, OH, OW output size, L = OH*OW.

One spatial axis is described by an ``Axis``: the input size, kernel, stride, dilation, the
padding before the first element, and the number of output positions. The windows read the
padded axis from ``-pad_before`` to ``span - pad_before``; ``pad_to_windows`` builds exactly that
range (zeros or -inf outside the input; trailing input rows no window reaches are left out) and
``unpad`` is its adjoint. Kernel offset ``i`` of every window is the strided slice ``tap(i)`` of
the padded axis, so im2col is one strided view and col2im is KH*KW slice-adds (on the phase
grid of ``col2im_phases``, where each is a shift of whole rows). On CuPy, float32 and float64
data take one CUDA kernel each for im2col (padding included) and col2im instead
(tinygrad_cnn/cuda/windows.py).
"""

from __future__ import annotations

import numbers
import sys
import threading
from dataclasses import dataclass

from tinygrad_cnn import backend
from tinygrad_cnn.cuda import windows as cuda_windows

# The im2col buffer of one conv call is built in batch chunks of at most this many bytes (all
# threads' chunks in flight together), so a large batch cannot exhaust memory; a forward keeps
# its columns for the weight gradient only when they total at most twice this. 64 MiB: the
# article's model at 224 px and batch 32 (465 MB of 5x5 columns) peaks 230 MB lower than with
# 256 MiB, at the same speed (GEMMs of a few batch items are still large; docs/benchmarks.md).
IM2COL_BUDGET_BYTES = 64 * 2**20

# im2col buffers are recycled between calls on the CPU (CuPy has its own memory pool): writing
# into memory the process already holds skips the kernel's zeroing of fresh pages, about 40% of
# a large im2col. A buffer is free again once no view of it is alive (its reference count says
# so: the columns kept for backward are views of it), and at most WORKSPACE_BYTES are kept.
WORKSPACE_BYTES = 512 * 2**20
_workspace: list = []
ROW_PAD = 16  # elements after each row of im2col's columns (see im2col)
_workspace_lock = threading.Lock()  # check-and-hand-out must be atomic across threads


def _idle_refcount():
    """sys.getrefcount of a workspace buffer nobody else holds, as empty_cols's loop sees it;
    None (no recycling) if this interpreter's counts do not reveal a live view."""
    probe = [bytearray(1)]
    counts = []
    for buf in probe:  # the same loop shape as empty_cols's, so the same references
        counts.append(sys.getrefcount(buf))
    view = memoryview(probe[0])  # a live view holds one more reference, like a NumPy view
    for buf in probe:
        counts.append(sys.getrefcount(buf))
    del view
    return counts[0] if counts[1] == counts[0] + 1 else None


_IDLE_REFCOUNT = _idle_refcount()


def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding=0,
                     dilation: int = 1) -> int:
    """Positions of a kernel along one axis: floor((W - D*(F-1) - 1 + 2P) / S) + 1.

    The article's formula (W - F + 2P) / S + 1, generalised to dilation D. ``padding`` is P on
    both sides, a pair (before, after) for asymmetric padding, "valid" (P = 0) or "same"
    (ceil(W / S), the size conv2d's "same" gives). The result is 0 or negative when the kernel
    does not fit the padded input; conv and pooling refuse that. Arguments that are not ints of
    the right sign raise TypeError or ValueError naming them.
    """
    op = "conv_output_size"
    size = int_at_least(size, 0, "size", op)
    kernel_size = int_at_least(kernel_size, 1, "kernel_size", op)
    stride = int_at_least(stride, 1, "stride", op)
    dilation = int_at_least(dilation, 1, "dilation", op)
    if isinstance(padding, str):
        if padding == "same":
            return -(-size // stride)
        if padding != "valid":
            raise ValueError(f"{op}: padding must be an int, a pair (before, after), 'valid' or "
                             f"'same', got {padding!r}")
        before = after = 0
    else:
        before, after = pair(padding, "padding", op)
        if before < 0 or after < 0:
            raise ValueError(f"{op}: padding must be non-negative, got {padding!r}")
    return (size + before + after - dilation * (kernel_size - 1) - 1) // stride + 1


def int_at_least(value, least: int, name: str, op: str) -> int:
    """``value`` as an int, or an error naming it when it is not an int >= ``least``."""
    if type(value) is int and value >= least:  # the common case, without the ABC checks below
        return value
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{op}: {name} must be an int, got {value!r}")
    if value < least:
        raise ValueError(f"{op}: {name} must be {'positive' if least == 1 else f'>= {least}'}, "
                         f"got {value!r}")
    return int(value)


@dataclass(frozen=True)
class Axis:
    """One spatial axis of a windowed op; ``out`` is explicit (ceil_mode, transposed conv)."""

    size: int
    kernel: int
    stride: int
    dilation: int
    pad_before: int
    out: int

    @property
    def span(self) -> int:
        """Length of the padded axis that the windows read: (out-1)*S + D*(K-1) + 1."""
        return (self.out - 1) * self.stride + self.dilation * (self.kernel - 1) + 1

    def tap(self, i: int) -> slice:
        """Positions (in padded coordinates) that kernel offset ``i`` reads, one per output."""
        start = i * self.dilation
        return slice(start, start + (self.out - 1) * self.stride + 1, self.stride)

    @property
    def tiles(self) -> bool:
        """Windows tile the input exactly: no padding, no gaps, no overlap, nothing left over."""
        return (self.pad_before == 0 and self.dilation == 1 and self.stride == self.kernel
                and self.span == self.size)


# ---------------------------------------------------------------------- argument checking


def check_flag(op: str, name: str, value) -> None:
    """PyTorch's flags are bools; a string or a number there is a mistake, not a truth value."""
    if not isinstance(value, bool):
        raise TypeError(f"{op}: {name} must be a bool, got {value!r}")


def output_padding_pair(op: str, output_padding, stride, dilation) -> tuple[int, int]:
    """A transposed conv's output_padding as (h, w), each >= 0 and smaller than its axis's
    stride or dilation (a larger one would add rows that no input reaches)."""
    extra = pair(output_padding, "output_padding", op)
    for e, s, d in zip(extra, stride, dilation, strict=True):
        if not 0 <= e < max(s, d):
            raise ValueError(f"{op}: output_padding {e} must be >= 0 and smaller than the "
                             f"stride {s} or the dilation {d}")
    return extra


def pair(value, name: str, op: str) -> tuple[int, int]:
    """An int or a pair of ints as (h, w), or a TypeError naming the argument."""
    if type(value) is int:  # the common cases, without the ABC checks below
        return value, value
    if type(value) is tuple and len(value) == 2 and type(value[0]) is type(value[1]) is int:
        return value
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value), int(value)
    if (isinstance(value, (tuple, list)) and len(value) == 2
            and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value)):
        return int(value[0]), int(value[1])
    raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")


def positive_pair(value, name: str, op: str) -> tuple[int, int]:
    """pair() that also requires both values > 0."""
    h, w = pair(value, name, op)
    if h <= 0 or w <= 0:
        raise ValueError(f"{op}: {name} must be positive, got {value!r}")
    return h, w


def resolve_padding(padding, size_hw, kernel_hw, stride_hw, dilation_hw, op: str,
                    allow_strings: bool = True) -> tuple[tuple[int, int], tuple[int, int]]:
    """Padding as ((top, bottom), (left, right)).

    Accepts an int, a pair (h, w), ((top, bottom), (left, right)), "valid" (none) and "same":
    output size ceil(size / stride), the total padding split with the extra element at the
    bottom/right (PyTorch for stride 1, Keras/TensorFlow for any stride).
    """
    if isinstance(padding, str):
        if not allow_strings:
            raise ValueError(f"{op}: padding={padding!r} is not supported; give an int or a pair")
        if padding == "valid":
            return (0, 0), (0, 0)
        if padding != "same":
            raise ValueError(f"{op}: padding must be an int, a pair, 'valid' or 'same', "
                             f"got {padding!r}")
        out = []
        for size, k, s, d in zip(size_hw, kernel_hw, stride_hw, dilation_hw, strict=True):
            total = max((-(-size // s) - 1) * s + d * (k - 1) + 1 - size, 0)
            out.append((total // 2, total - total // 2))
        return out[0], out[1]
    if (isinstance(padding, (tuple, list)) and len(padding) == 2
            and all(isinstance(p, (tuple, list)) for p in padding)):
        pads = tuple(pair(p, "padding", op) for p in padding)
        flat = (*pads[0], *pads[1])
    else:
        ph, pw = pair(padding, "padding", op)
        pads = ((ph, ph), (pw, pw))
        flat = (ph, pw)
    if any(p < 0 for p in flat):
        raise ValueError(f"{op}: padding must be non-negative, got {padding!r}")
    return pads


def make_axis(op: str, name: str, size: int, kernel: int, stride: int, dilation: int,
              pad: tuple[int, int], ceil_mode: bool = False) -> Axis:
    """The Axis of a conv or pool, or a ValueError when the kernel does not fit the padded input."""
    reach = dilation * (kernel - 1) + 1
    room = size + pad[0] + pad[1] - reach
    floor_out = conv_output_size(size, kernel, stride, pad, dilation)
    out = floor_out
    if ceil_mode:  # PyTorch's rule: windows may run past the end if they start inside
        out = -(-room // stride) + 1
        if (out - 1) * stride >= size + pad[0]:  # the last window must start inside the input
            out -= 1
    if out < 1:
        raise ValueError(
            f"{op}: the kernel ({kernel}, dilation {dilation}, reaching {reach}) is larger than "
            f"the padded input {name} {size} + padding {pad[0]}+{pad[1]} = "
            f"{size + pad[0] + pad[1]}; the output {name} "
            f"floor(({size} + {pad[0] + pad[1]} - {reach}) / {stride}) + 1 would be {floor_out}"
        )
    return Axis(size, kernel, stride, dilation, pad[0], out)


def check_4d(x, op: str, what: str = "input", layout: str = "(N, C, H, W)") -> None:
    """A ValueError unless ``x`` is 4-D; the message names ``what`` and its ``layout``."""
    if x.ndim != 4:
        raise ValueError(f"{op}: expected a 4-D {what} {layout}, got shape {tuple(x.shape)}")


# ---------------------------------------------------------------------- padding and its adjoint


def pad_to_windows(xp, x, gh: Axis, gw: Axis, fill=0, recycled=False, batch_last=False):
    """(N, C, H, W) -> (N, C, gh.span, gw.span): exactly the padded region the windows read.

    ``recycled``: build it in a workspace buffer (see empty_cols), for a copy that dies soon.
    ``batch_last``: always a copy, laid out (C, span_h, span_w, N) in memory (the result is
    still indexed (N, C, span_h, span_w): a transposed view of that copy).
    """
    if (not batch_last and gh.pad_before == 0 and gw.pad_before == 0
            and gh.span <= gh.size and gw.span <= gw.size):
        return x[:, :, : gh.span, : gw.span]  # a view, no copy
    n, c = x.shape[:2]
    shape = (c, gh.span, gw.span, n) if batch_last else (n, c, gh.span, gw.span)
    (rows, top), (cols, left) = _overlap(gh), _overlap(gw)
    out = empty_cols(xp, shape, x.dtype) if recycled else xp.empty(shape, dtype=x.dtype)
    if batch_last:
        out = out.transpose(3, 0, 1, 2)
    out[:, :, top, left] = x[:, :, rows, cols]
    out[:, :, : top.start] = fill  # the border around it
    out[:, :, top.stop:] = fill
    out[:, :, top, : left.start] = fill
    out[:, :, top, left.stop:] = fill
    return out


def unpad(xp, x_pad, gh: Axis, gw: Axis):
    """The adjoint of pad_to_windows: (N, C, span_h, span_w) -> (N, C, H, W), zero elsewhere."""
    if gh.pad_before == 0 and gw.pad_before == 0 and gh.span == gh.size and gw.span == gw.size:
        return x_pad
    out = xp.zeros(x_pad.shape[:2] + (gh.size, gw.size), dtype=x_pad.dtype)
    src, dst = _overlap(gh), _overlap(gw)
    out[:, :, src[0], dst[0]] = x_pad[:, :, src[1], dst[1]]
    return out


def _overlap(g: Axis) -> tuple[slice, slice]:
    """Matching slices of the input axis and of the padded axis."""
    lo = max(0, -g.pad_before)
    hi = min(g.size, g.span - g.pad_before)
    return slice(lo, hi), slice(lo + g.pad_before, hi + g.pad_before)


# ---------------------------------------------------------------------- im2col / col2im


def im2col(xp, x, gh: Axis, gw: Axis, batch_last=False):
    """(N, C, H, W) -> cols (C, KH, KW, N, OH, OW), contiguous but for a gap after each
    (N, OH, OW) row (see ROW_PAD); with ``batch_last``, (C, KH, KW, OH, OW, N) likewise.

    This layout makes the forward product (G, C_out/G, C/G*KH*KW) @ (G, C/G*KH*KW, N*L) one
    contiguous GEMM per group, and the weight gradient its transpose-free counterpart.
    The copy's inner loop runs along OW (N, OH, OW) or along OW and N (batch last, stride 1):
    for small images, where OW is a few elements, the batch-last copy is several times faster
    (see conv's _batch_last_pays). On the CUDA-kernel path (tinygrad_cnn.cuda) the columns are
    contiguous, padding included, and never batch-last.
    """
    n, c = x.shape[:2]
    rows, length = c * gh.kernel * gw.kernel, n * gh.out * gw.out
    if cuda_windows.usable(xp, x.dtype) and not batch_last:
        cols = empty_cols(xp, (rows, length), x.dtype)
        cuda_windows.im2col(xp, x, cols, gh, gw)
        return cols.reshape(c, gh.kernel, gw.kernel, n, gh.out, gw.out)
    x_pad = pad_to_windows(xp, x, gh, gw, recycled=True, batch_last=batch_last)
    sn, sc, sh, sw = x_pad.strides
    taps = ((c, gh.kernel, gw.kernel), (sc, sh * gh.dilation, sw * gw.dilation))
    outs = ((gh.out, gw.out), (sh * gh.stride, sw * gw.stride))
    if batch_last:
        shape, strides = taps[0] + outs[0] + (n,), taps[1] + outs[1] + (sn,)
    else:
        shape, strides = taps[0] + (n,) + outs[0], taps[1] + (sn,) + outs[1]
    view = backend.as_strided(xp, x_pad, shape, strides)
    # rows of N*L columns, each ROW_PAD elements longer: a row length that is a multiple of a
    # large power of two (N*L often is) makes BLAS's reads of the columns collide in the cache
    cols = empty_cols(xp, (rows, length + ROW_PAD), x.dtype)[:, :length].reshape(shape)
    cols[...] = view
    return cols


def empty_cols(xp, shape, dtype):
    """An uninitialised array of ``shape`` (im2col columns and their like), from the workspace
    when an idle buffer is large enough.

    Buffers are flat and handed out by size, so a step whose input gradient needs slightly
    larger columns than its forward reuses one buffer for both: the smallest idle buffer that
    fits and is at most twice the request is used (a padded input never takes a column
    buffer), and on a miss the idle buffers of half the request up to the request are dropped
    (the new buffer serves their requests too).
    """
    if xp.__name__ != "numpy" or _IDLE_REFCOUNT is None:
        return xp.empty(shape, dtype=dtype)
    dtype = xp.dtype(dtype)
    size = 1
    for n in shape:
        size *= n
    with _workspace_lock:
        best, idle = None, []
        for buf in _workspace:
            if sys.getrefcount(buf) == _IDLE_REFCOUNT:  # only the list and this loop hold it
                if (buf.dtype == dtype and size <= buf.size <= 2 * size
                        and (best is None or buf.size < best.size)):
                    best = buf
                idle.append(buf)
        if best is not None:
            return best[:size].reshape(shape)  # a view: it keeps the buffer marked as in use
        nbytes = size * dtype.itemsize
        held = sum(buf.nbytes for buf in _workspace)
        for buf in idle:  # drop idle buffers this one replaces, or too many bytes
            replaced = buf.dtype == dtype and buf.size < size <= 2 * buf.size
            if replaced or held + nbytes > WORKSPACE_BYTES:
                _workspace[:] = [kept for kept in _workspace if kept is not buf]
                held -= buf.nbytes
        idle = buf = None  # let the dropped buffers go before the new one is allocated
        out = xp.empty(size, dtype=dtype)
        if held + nbytes <= WORKSPACE_BYTES:
            _workspace.append(out)
        return out[:size].reshape(shape)


def col2im(xp, cols, gh: Axis, gw: Axis, out=None):
    """The adjoint of im2col: cols (C, KH, KW, N, OH, OW) -> (N, C, H, W), summing overlaps;
    written into ``out`` (overwritten whole) when given."""
    c, kh, kw, n = cols.shape[:4]
    if cuda_windows.usable(xp, cols.dtype):
        if out is None:
            out = xp.empty((n, c, gh.size, gw.size), dtype=cols.dtype)
        cuda_windows.col2im(xp, cols, out, gh, gw)
        return out
    if out is not None:
        out[...] = 0  # col2im_phases adds into zeros
    grid = xp.zeros((c, kh, kw, n, phase_len(gh), phase_len(gw)), dtype=cols.dtype)
    grid[..., : gh.out, : gw.out] = cols
    grid = grid.reshape(c, kh, kw, -1)
    return col2im_phases(xp, lambda i, j: grid[:, i, j], (n, c), cols.dtype, gh, gw, out=out)


def phase_len(g: Axis) -> int:
    """Length of one stride phase of the padded axis, ceil(span / S) = out + D*(K-1) // S."""
    return -(-g.span // g.stride)


def col2im_phases(xp, tap_cols, batch_channels, dtype, gh: Axis, gw: Axis, out=None):
    """col2im from tap_cols(i, j) -> (..., N*PH*PW), the columns of kernel offset (i, j) laid on
    the phase grid (N, PH, PW) (PH = phase_len(gh)) and zero outside its (OH, OW) corner; the
    leading dims hold the C channels, as (C,) or (G, C/G).

    With stride S, offset i reaches padded rows q*S + r of one residue r = i*D mod S, at
    q = o + i*D // S. In a phase-major buffer (S_h, S_w, C, N*PH*PW) an offset's columns so land
    at one flat shift qi*PW + qj of its phase: one slice-add of long contiguous rows (the zeros
    outside the outputs are what wraps from one row, or batch item, into the next). One strided
    copy per phase then gives (N, C, H, W), written into ``out`` when given (it must hold zeros).
    """
    n, c = batch_channels
    sh, sw = gh.stride, gw.stride
    ph, pw = phase_len(gh), phase_len(gw)
    m = n * ph * pw
    buf = empty_cols(xp, (sh, sw, c, m), dtype)  # each phase is written before it is added to
    written = set()
    for i in range(gh.kernel):
        for j in range(gw.kernel):
            (qi, ri), (qj, rj) = divmod(i * gh.dilation, sh), divmod(j * gw.dilation, sw)
            shift = qi * pw + qj
            cols = tap_cols(i, j)
            dst = buf[ri, rj].reshape(cols.shape)
            if (ri, rj) in written:
                dst[..., shift:] += cols[..., : m - shift]
            else:
                dst[..., :shift] = 0
                dst[..., shift:] = cols[..., : m - shift]
                written.add((ri, rj))
    # back to (N, C, H, W): one strided copy per phase, input rows h = q*S + r - pad_before
    if out is None:
        out = xp.zeros((n, c, gh.size, gw.size), dtype=dtype)
    for (h0, q_h, count_h) in _phase_rows(gh, ph):
        for (w0, q_w, count_w) in _phase_rows(gw, pw):
            phase = ((h0 + gh.pad_before) % sh, (w0 + gw.pad_before) % sw)
            if phase not in written:  # no offset reaches these rows (kernel < stride)
                continue
            src = buf[phase].reshape(c, n, ph, pw)[:, :, q_h:q_h + count_h, q_w:q_w + count_w]
            out[:, :, h0::sh, w0::sw][:, :, :count_h, :count_w] = src.transpose(1, 0, 2, 3)
    return out


def _phase_rows(g: Axis, phase_len: int):
    """(first input row, first phase index, count) of each residue's rows that hold input."""
    rows = []
    for r in range(g.stride):
        q0 = max(0, -(-(g.pad_before - r) // g.stride))
        q1 = min(phase_len, -(-(g.size + g.pad_before - r) // g.stride))
        if q1 > q0:
            rows.append((q0 * g.stride + r - g.pad_before, q0, q1 - q0))
    return rows


def batch_chunks(n: int, bytes_per_item: int, budget: int | None = None, parts: int = 1):
    """(start, stop) ranges over the batch, as even as can be: at least ``parts`` of them (when
    the batch has that many items) and a multiple of ``parts``, each holding at most
    budget / parts bytes of im2col columns, so ``parts`` of them in flight stay within the budget.
    """
    budget = IM2COL_BUDGET_BYTES if budget is None else budget
    per_range = max(1, budget // parts // max(bytes_per_item, 1))
    count = -(-n // per_range)
    count = min(n, -(-count // parts) * parts)
    return [(i * n // count, (i + 1) * n // count) for i in range(count)]
