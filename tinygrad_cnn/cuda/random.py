"""The GPU's random numbers: counter-based (Philox4x64-10), with a state of two numbers on the host.

CuPy's generators keep their state on the device, one per thread, and offer no public way to
save and restore it, so a checkpoint could not hold it and a resumed GPU run drew different
dropout masks from the uninterrupted one. A counter-based generator needs no such state: block
``c`` of a stream is a pure function ``philox(key, c)`` of a 128-bit key and a 256-bit counter,
so the generator is ``(key, counter)``, and each draw of ``m`` blocks computes blocks
``counter + 1 .. counter + m`` (one GPU thread a block, any launch shape giving the same values)
and advances the counter by ``m``. ``state()`` / ``set_state()`` are plain ints.

The stream is NumPy's ``np.random.Philox``: the key is what ``np.random.Philox(seed)`` derives
from the seed, a block is four 64-bit words, and a draw's words are
``np.random.Philox(key=key, counter=counter).random_raw(4 * m)``. So the first ``random`` draw of
``PhiloxGenerator(seed)`` equals ``np.random.Generator(np.random.Philox(seed)).random`` in float64
and float32 alike (the tests' reference); every later draw starts on a fresh block (NumPy would go
on with the unused words of the last one). From the words:

- ``random``: float64 ``(w >> 11) * 2**-53``; float32 from each word's low then high 32 bits,
  ``(u >> 8) * 2**-24`` (NumPy's conversions);
- ``standard_normal``: Box-Muller in float64 on pairs of such uniforms (the first shifted to
  (0, 1]), cast to the dtype; not NumPy's ziggurat, so not NumPy's values;
- ``integers(low, high)``: ``low + ((w * (high - low)) >> 64)`` (a bias below ``(high - low) /
  2**64``);
- ``keep_mask(shape, p, dtype)``: dropout's mask, ``scale`` where the float64 uniform is at
  least ``p`` and 0 elsewhere, in one launch: the same values as ``(random(shape) >= p) * scale``.

With the kernels off (``TINYGRAD_CNN_CUDA_KERNELS=0``, or an array module without them) the
same words come from NumPy's Philox on the host and the results are copied to the device: the
same values (normals up to the last bits of ``log``/``cos``), more slowly.
"""

from __future__ import annotations

import math

import numpy as np

from tinygrad_cnn import backend

from .kernel import FLOAT_CHARS, Kernel, enabled_for

_WORD = 1 << 64
_INT64_LAUNCH = np.dtype(np.float64)  # the integer kernel's launch type (its T is unused)

# Random123's Philox4x64-10, as NumPy's random/src/philox/philox.h: ten rounds over the
# counter's four words, the key bumped between rounds; the counter is ``counter + block + 1``.
_PHILOX = r"""
__device__ __forceinline__ void tc_philox(unsigned long long w[4], long long k0, long long k1,
                                          long long c0, long long c1, long long c2,
                                          long long c3, long long block) {
    unsigned long long c[4] = {(unsigned long long)c0, (unsigned long long)c1,
                               (unsigned long long)c2, (unsigned long long)c3};
    unsigned long long add = (unsigned long long)block + 1ULL;
    for (int j = 0; j < 4; ++j) {               // c += block + 1, carrying into the next word
        const unsigned long long before = c[j];
        c[j] += add;
        add = c[j] < before ? 1ULL : 0ULL;
    }
    unsigned long long key0 = (unsigned long long)k0, key1 = (unsigned long long)k1;
    for (int r = 0; r < 10; ++r) {
        if (r > 0) {
            key0 += 0x9E3779B97F4A7C15ULL;
            key1 += 0xBB67AE8584CAA73BULL;
        }
        const unsigned long long lo0 = 0xD2E7470EE14C6C93ULL * c[0];
        const unsigned long long hi0 = __umul64hi(0xD2E7470EE14C6C93ULL, c[0]);
        const unsigned long long lo1 = 0xCA5A826395121157ULL * c[2];
        const unsigned long long hi1 = __umul64hi(0xCA5A826395121157ULL, c[2]);
        c[0] = hi1 ^ c[1] ^ key0;
        c[1] = lo1;
        c[2] = hi0 ^ c[3] ^ key1;
        c[3] = lo0;
    }
    for (int j = 0; j < 4; ++j) w[j] = c[j];
}
#define TC_PHILOX_BLOCK(w, b) unsigned long long w[4]; tc_philox(w, k0, k1, c0, c1, c2, c3, b)
#define TC_TWO_TO_MINUS_53 1.1102230246251565e-16
"""

UNIFORM = Kernel("tc_philox_uniform", _PHILOX + r"""
extern "C" __global__ void tc_philox_uniform(T* out, long long n,
        long long k0, long long k1, long long c0, long long c1, long long c2, long long c3,
        long long blocks) {
    TC_GRID_STRIDE(b, blocks) {
        TC_PHILOX_BLOCK(w, b);
        if (sizeof(T) == 8) {                   // four float64 a block
            for (int j = 0; j < 4; ++j) {
                const long long i = 4 * b + j;
                if (i < n) out[i] = (T)((double)(w[j] >> 11) * TC_TWO_TO_MINUS_53);
            }
        } else {                                // eight float32: each word's low, then high half
            for (int j = 0; j < 8; ++j) {
                const long long i = 8 * b + j;
                const unsigned int u = (j & 1) ? (unsigned int)(w[j / 2] >> 32)
                                               : (unsigned int)(w[j / 2] & 0xffffffffULL);
                if (i < n) out[i] = (T)((float)(u >> 8) * (1.0f / 16777216.0f));
            }
        }
    }
}
""", deferred=True)

NORMAL = Kernel("tc_philox_normal", _PHILOX + r"""
extern "C" __global__ void tc_philox_normal(T* out, long long n,
        long long k0, long long k1, long long c0, long long c1, long long c2, long long c3,
        long long blocks) {
    TC_GRID_STRIDE(b, blocks) {
        TC_PHILOX_BLOCK(w, b);
        for (int q = 0; q < 2; ++q) {           // Box-Muller on two pairs of uniforms
            const double u1 = ((double)(w[2 * q] >> 11) + 1.0) * TC_TWO_TO_MINUS_53;  // (0, 1]
            const double u2 = (double)(w[2 * q + 1] >> 11) * TC_TWO_TO_MINUS_53;       // [0, 1)
            const double r = sqrt(-2.0 * log(u1)), angle = 6.283185307179586 * u2;
            const long long i = 4 * b + 2 * q;
            if (i < n) out[i] = (T)(r * cos(angle));
            if (i + 1 < n) out[i + 1] = (T)(r * sin(angle));
        }
    }
}
""", deferred=True)

INTEGERS = Kernel("tc_philox_integers", _PHILOX + r"""
extern "C" __global__ void tc_philox_integers(long long* out, long long n,
        long long k0, long long k1, long long c0, long long c1, long long c2, long long c3,
        long long blocks, long long low, long long range) {
    TC_GRID_STRIDE(b, blocks) {                 // T unused: int64 results for any launch dtype
        TC_PHILOX_BLOCK(w, b);
        for (int j = 0; j < 4; ++j) {
            const long long i = 4 * b + j;
            if (i < n) out[i] = low + (long long)__umul64hi(w[j], (unsigned long long)range);
        }
    }
}
""", deferred=True)

KEEP_MASK = Kernel("tc_philox_keep_mask", _PHILOX + r"""
extern "C" __global__ void tc_philox_keep_mask(T* out, long long n,
        long long k0, long long k1, long long c0, long long c1, long long c2, long long c3,
        long long blocks, long long threshold, T scale) {
    TC_GRID_STRIDE(b, blocks) {                 // keep where the float64 uniform is >= p
        TC_PHILOX_BLOCK(w, b);
        for (int j = 0; j < 4; ++j) {
            const long long i = 4 * b + j;
            if (i < n) out[i] = (long long)(w[j] >> 11) >= threshold ? scale : (T)0;
        }
    }
}
""", deferred=True)


def _signed(word: int) -> int:
    """A 64-bit word as the ``long long`` with its bits (the kernels take signed integers)."""
    return word - _WORD if word >= _WORD // 2 else word


def _shape(size) -> tuple[int, ...]:
    if size is None:
        return ()
    return (int(size),) if isinstance(size, (int, np.integer)) else tuple(int(s) for s in size)


def _float_dtype(dtype, where: str) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype.char not in FLOAT_CHARS:
        raise TypeError(f"{where}: dtype must be float32 or float64, got {dtype}")
    return dtype


class PhiloxGenerator:
    """The library's GPU generator: draws on the current CUDA device from ``(key, counter)``.

    ``PhiloxGenerator(seed)`` starts at counter 0 with the key NumPy's ``Philox(seed)`` derives;
    the methods mirror NumPy's ``Generator`` (``random``, ``standard_normal``, ``integers``) and
    return CuPy arrays of ``size``'s shape. ``xp`` (tests: NumPy, with the host runner) is the
    array module to draw on; by default the GPU's."""

    def __init__(self, seed: int | None = None, xp=None):
        key = np.random.Philox(seed).state["state"]["key"]
        self.key = (int(key[0]), int(key[1]))
        self.counter = 0
        self._xp = xp

    # ---------------------------------------------------------------- state

    def state(self) -> dict:
        """The whole state as plain ints: ``{"key": [k0, k1], "counter": c}``."""
        return {"key": list(self.key), "counter": self.counter}

    def set_state(self, state: dict) -> None:
        """Put back what ``state()`` returned; the draws that follow repeat exactly."""
        if not isinstance(state, dict) or set(state) != {"key", "counter"}:
            raise TypeError(f"PhiloxGenerator.set_state: expected a dict with 'key' and "
                            f"'counter', got {state!r:.80}")
        key, counter = state["key"], state["counter"]
        if (not isinstance(key, (list, tuple)) or len(key) != 2
                or not all(isinstance(k, int) and 0 <= k < _WORD for k in key)):
            raise ValueError(f"PhiloxGenerator.set_state: 'key' must be two integers in "
                             f"[0, 2**64), got {key!r:.80}")
        if not isinstance(counter, int) or not 0 <= counter < _WORD ** 4:
            raise ValueError(f"PhiloxGenerator.set_state: 'counter' must be an integer in "
                             f"[0, 2**256), got {counter!r:.80}")
        self.key, self.counter = (key[0], key[1]), counter

    def _take(self, blocks: int) -> tuple[int, ...]:
        """The kernel arguments for the next ``blocks`` blocks (key, counter words, blocks), and
        the counter advanced past them."""
        start = self.counter
        self.counter = (start + blocks) % _WORD ** 4
        words = [(start >> (64 * j)) % _WORD for j in range(4)]
        return (*map(_signed, self.key), *map(_signed, words), blocks)

    def _host_words(self, args) -> np.ndarray:
        """The raw words of the blocks ``args`` describes, from NumPy's Philox (shape (4m,))."""
        k0, k1, c0, c1, c2, c3, blocks = args
        key = [k % _WORD for k in (k0, k1)]
        counter = [c % _WORD for c in (c0, c1, c2, c3)]
        return np.random.Philox(key=np.array(key, np.uint64),
                                counter=np.array(counter, np.uint64)).random_raw(4 * blocks)

    # ---------------------------------------------------------------- draws

    def random(self, size=None, dtype=np.float64):
        """Uniform samples in [0, 1) of shape ``size``, float32 or float64."""
        xp = self._xp or backend.require_gpu()
        dtype, shape = _float_dtype(dtype, "random"), _shape(size)
        n = math.prod(shape)
        args = self._take(-(-n // (8 if dtype.char == "f" else 4)))
        if enabled_for(xp):
            out = xp.empty(shape, dtype)
            UNIFORM(dtype, args[-1], out, n, *args)
            return out
        return _to(xp, _uniform(self._host_words(args), dtype)[:n].reshape(shape))

    def standard_normal(self, size=None, dtype=np.float64):
        """Standard normal samples of shape ``size``, float32 or float64 (Box-Muller)."""
        xp = self._xp or backend.require_gpu()
        dtype, shape = _float_dtype(dtype, "standard_normal"), _shape(size)
        n = math.prod(shape)
        args = self._take(-(-n // 4))
        if enabled_for(xp):
            out = xp.empty(shape, dtype)
            NORMAL(dtype, args[-1], out, n, *args)
            return out
        values = _normal(self._host_words(args))[:n].astype(dtype).reshape(shape)
        return _to(xp, values)

    def integers(self, low, high=None, size=None):
        """int64 samples in [low, high) (``integers(high)`` means low = 0), as NumPy's."""
        if high is None:
            low, high = 0, low
        low, high = int(low), int(high)
        if not high > low:
            raise ValueError(f"integers: high must be above low, got low={low}, high={high}")
        if not (-2**63 <= low and high - 1 < 2**63 and high - low < 2**63):
            raise ValueError(f"integers: [low, high) = [{low}, {high}) must lie in int64 and "
                             "span less than 2**63")
        xp = self._xp or backend.require_gpu()
        shape = _shape(size)
        n = math.prod(shape)
        args = self._take(-(-n // 4))
        if enabled_for(xp):
            out = xp.empty(shape, np.int64)
            INTEGERS(_INT64_LAUNCH, args[-1], out, n, *args, low, high - low)
            return out
        offsets = _mulhi(self._host_words(args), np.uint64(high - low))[:n]
        return _to(xp, (low + offsets.astype(np.int64)).reshape(shape))

    def keep_mask(self, shape, p: float, dtype):
        """Dropout's mask of ``shape``: ``1 / (1 - p)`` in ``dtype`` where a float64 uniform
        draw is at least ``p``, else 0; the values of ``(random(shape) >= p) * scale``."""
        xp = self._xp or backend.require_gpu()
        dtype, shape = np.dtype(dtype), _shape(shape)
        scale = dtype.type(1.0 / (1.0 - p))
        if dtype.char not in FLOAT_CHARS or not enabled_for(xp):
            return (self.random(shape) >= p).astype(dtype) * scale
        n = math.prod(shape)
        args = self._take(-(-n // 4))
        out = xp.empty(shape, dtype)
        # u = m * 2**-53 >= p  <=>  m >= ceil(p * 2**53): an exact integer comparison
        KEEP_MASK(dtype, args[-1], out, n, *args, math.ceil(p * 2.0**53), scale)
        return out


def _to(xp, values: np.ndarray):
    """Host ``values`` on ``xp``'s device (a 0-d array as one element: CuPy sends 0-d arrays by
    fill, which loses a -0.0's sign)."""
    return xp.asarray(values.reshape(-1)).reshape(values.shape)


def _uniform(words: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """NumPy's uniform conversions of raw Philox words (see the module docstring)."""
    if dtype.char == "d":
        return (words >> np.uint64(11)) * 2.0**-53
    halves = np.stack([words & np.uint64(0xFFFFFFFF), words >> np.uint64(32)], axis=1)
    return ((halves.reshape(-1) >> np.uint64(8)) * 2.0**-24).astype(np.float32)


def _normal(words: np.ndarray) -> np.ndarray:
    """Box-Muller in float64 on pairs of words, as the kernel computes it."""
    pairs = (words >> np.uint64(11)).astype(np.float64).reshape(-1, 2)
    u1 = (pairs[:, 0] + 1.0) * 2.0**-53
    u2 = pairs[:, 1] * 2.0**-53
    r, angle = np.sqrt(-2.0 * np.log(u1)), 6.283185307179586 * u2
    return np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1).reshape(-1)


def _mulhi(a: np.ndarray, b: np.uint64) -> np.ndarray:
    """The high 64 bits of the 128-bit products ``a * b`` (uint64), from 32-bit halves."""
    low32, shift = np.uint64(0xFFFFFFFF), np.uint64(32)
    a_hi, a_lo = a >> shift, a & low32
    b_hi, b_lo = b >> shift, b & low32
    cross1, cross2 = a_hi * b_lo, a_lo * b_hi
    carry = ((cross1 & low32) + (cross2 & low32) + ((a_lo * b_lo) >> shift)) >> shift
    return a_hi * b_hi + (cross1 >> shift) + (cross2 >> shift) + carry
