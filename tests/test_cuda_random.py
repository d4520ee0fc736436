"""The GPU's counter-based generator (tinygrad_cnn/cuda/random.py) against NumPy's Philox.

Its kernels run on NumPy arrays in the host runner (the same CUDA source, compiled by g++); the
host path (kernels off) runs as it would next to CuPy. The reference for the raw stream is
NumPy's own ``np.random.Philox``; the conversions are written out here from their definitions.
On a GPU the same checks run on CuPy.
"""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_cnn as tc
import tinygrad_cnn.nn.functional as F
from tests.conftest import CUDA_SKIP_REASON
from tests.cuda_host import COMPILER, NO_COMPILER_REASON, on_host
from tests.devices import to_host
from tinygrad_cnn import backend
from tinygrad_cnn.cuda.random import PhiloxGenerator

pytestmark = pytest.mark.skipif(COMPILER is None, reason=NO_COMPILER_REASON)

seeds = st.integers(0, 2**63)
sizes = st.integers(0, 70)
float_dtypes = st.sampled_from([np.float32, np.float64])


def both_paths(seed, method, *args):
    """``method(*args)`` of a fresh ``PhiloxGenerator(seed)``: through the kernel on the host
    runner, and through the host path; both results and the generators after."""
    kernel_gen, host_gen = PhiloxGenerator(seed, xp=np), PhiloxGenerator(seed, xp=np)
    by_kernel, launches = on_host(getattr(kernel_gen, method), *args)
    by_host = getattr(host_gen, method)(*args)
    assert kernel_gen.state() == host_gen.state()
    return by_kernel, by_host, kernel_gen, launches


def raw_words(key, counter, blocks):
    return np.random.Philox(key=np.array(key, np.uint64), counter=counter).random_raw(4 * blocks)


# ----------------------------------------------------------------------------- the stream


@given(seed=seeds, n=sizes, dtype=float_dtypes)
def test_a_first_uniform_draw_is_numpys_philox_generator(seed, n, dtype):
    expected = np.random.Generator(np.random.Philox(seed)).random(n, dtype=dtype)
    by_kernel, by_host, gen, launches = both_paths(seed, "random", n, dtype)
    assert by_kernel.dtype == by_host.dtype == np.dtype(dtype) and by_kernel.shape == (n,)
    np.testing.assert_array_equal(by_kernel, expected)
    np.testing.assert_array_equal(by_host, expected)
    assert gen.counter == math.ceil(n / (8 if dtype == np.float32 else 4))
    assert launches == (["tc_philox_uniform"] if n else [])


@given(seed=seeds, first=sizes, second=st.integers(1, 40))
def test_each_draw_starts_on_the_block_after_the_last(seed, first, second):
    gen = PhiloxGenerator(seed, xp=np)
    on_host(gen.random, first)
    key, counter = gen.state()["key"], gen.state()["counter"]
    assert counter == math.ceil(first / 4)
    got, _ = on_host(gen.random, second)
    expected = np.random.Generator(np.random.Philox(key=np.array(key, np.uint64),
                                                    counter=counter)).random(second)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("counter", [2**64 - 2, 2**128 - 1, 2**192 - 3, 2**256 - 2])
def test_the_counter_carries_across_its_words_and_wraps_like_numpys(counter):
    gen = PhiloxGenerator(5, xp=np)
    gen.set_state({"key": [2**64 - 1, 12345], "counter": counter})
    got, _ = on_host(gen.random, (3, 4))                  # three blocks: across the carry
    words = raw_words([2**64 - 1, 12345], counter, 3)
    np.testing.assert_array_equal(got.reshape(-1), (words >> np.uint64(11)) * 2.0**-53)
    assert gen.state()["counter"] == (counter + 3) % 2**256


def test_float32_takes_each_words_low_half_first():
    gen = PhiloxGenerator(11, xp=np)
    got, _ = on_host(gen.random, 8, np.float32)
    words = [int(w) for w in raw_words(gen.key, 0, 1)]
    halves = [h for w in words for h in (w & 0xFFFFFFFF, w >> 32)]
    np.testing.assert_array_equal(got, np.array([(h >> 8) / 2**24 for h in halves], np.float32))


# ----------------------------------------------------------------------------- conversions


def box_muller(words):
    """The standard normals of raw words, by Python's math in float64."""
    out = []
    for w1, w2 in zip(words[0::2], words[1::2], strict=True):
        u1 = ((int(w1) >> 11) + 1) / 2**53
        u2 = (int(w2) >> 11) / 2**53
        r = math.sqrt(-2.0 * math.log(u1))
        out += [r * math.cos(2 * math.pi * u2), r * math.sin(2 * math.pi * u2)]
    return np.array(out)


@given(seed=seeds, n=sizes, dtype=float_dtypes)
def test_normals_are_box_muller_on_the_stream(seed, n, dtype):
    by_kernel, by_host, gen, _ = both_paths(seed, "standard_normal", (n,), dtype)
    expected = box_muller(raw_words(gen.key, 0, math.ceil(n / 4)))[:n]
    assert by_kernel.dtype == by_host.dtype == np.dtype(dtype)
    # libm's log/cos/sin against Python's: a few ulps in float64, then one rounding to float32
    rtol = 4 * np.finfo(dtype).eps
    for got in (by_kernel, by_host):
        np.testing.assert_allclose(got, expected.astype(dtype), rtol=rtol, atol=rtol)
    assert gen.counter == math.ceil(n / 4)


def test_normals_have_the_normal_distribution():
    gen = PhiloxGenerator(2024, xp=np)
    z, _ = on_host(gen.standard_normal, 200_000)
    assert abs(z.mean()) < 5 / math.sqrt(z.size)             # 5 standard errors
    assert abs(z.std() - 1) < 5 / math.sqrt(2 * z.size)
    for q, expected in ((-1.96, 0.025), (0.0, 0.5), (1.0, 0.8413447460685429)):
        assert abs(np.mean(z < q) - expected) < 5 * math.sqrt(expected * (1 - expected) / z.size)


@given(seed=seeds, n=sizes, low=st.integers(-2**62, 2**62), span=st.integers(1, 2**62))
def test_integers_are_the_high_half_of_word_times_span(seed, n, low, span):
    by_kernel, by_host, gen, launches = both_paths(seed, "integers", low, low + span, (n,))
    words = raw_words(gen.key, 0, math.ceil(n / 4))[:n]
    expected = np.array([low + ((int(w) * span) >> 64) for w in words], dtype=np.int64)
    for got in (by_kernel, by_host):
        assert got.dtype == np.int64 and got.shape == (n,)
        np.testing.assert_array_equal(got, expected)
    assert launches == (["tc_philox_integers"] if n else [])


def test_integers_cover_their_range_evenly():
    gen = PhiloxGenerator(1, xp=np)
    got, _ = on_host(gen.integers, 3, 10, 70_000)
    counts = np.bincount(got - 3, minlength=7)
    assert got.min() == 3 and got.max() == 9 and len(counts) == 7
    assert np.all(np.abs(counts - 10_000) < 5 * math.sqrt(10_000 * 6 / 7))


@pytest.mark.parametrize("low,high,message", [
    (5, 5, "high must be above low"),
    (3, -1, "high must be above low"),
    (-2**63, 2**63 - 1, "span less than 2\\*\\*63"),
    (0, 2**63 + 1, "must lie in int64"),
])
def test_integers_refuse_ranges_they_cannot_draw(low, high, message):
    with pytest.raises(ValueError, match=message):
        PhiloxGenerator(0, xp=np).integers(low, high, 3)


@given(seed=seeds, n=sizes, p=st.floats(0.0, 1.0, exclude_max=True), dtype=float_dtypes)
def test_keep_mask_is_uniform_at_least_p_times_scale(seed, n, p, dtype):
    by_kernel, by_host, gen, launches = both_paths(seed, "keep_mask", (n,), p, dtype)
    uniform = (raw_words(gen.key, 0, math.ceil(n / 4))[:n] >> np.uint64(11)) * 2.0**-53
    expected = (uniform >= p).astype(dtype) * np.dtype(dtype).type(1.0 / (1.0 - p))
    for got in (by_kernel, by_host):
        assert got.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(got, expected)
    assert launches == (["tc_philox_keep_mask"] if n else [])


def test_keep_mask_compares_exactly_at_a_draw_equal_to_p():
    gen = PhiloxGenerator(9, xp=np)
    m = int(raw_words(gen.key, 0, 1)[0]) >> 11         # the first draw is m * 2**-53
    for p, kept in ((m * 2.0**-53, True), ((m + 1) * 2.0**-53, False)):
        mask, _ = on_host(PhiloxGenerator(9, xp=np).keep_mask, (1,), p, np.float64)
        assert (mask[0] != 0) == kept, p


def test_keep_mask_in_float16_takes_the_uniform_draws():
    mask = PhiloxGenerator(4, xp=np).keep_mask((5, 6), 0.25, np.float16)
    uniform = PhiloxGenerator(4, xp=np).random((5, 6))
    np.testing.assert_array_equal(mask, (uniform >= 0.25).astype(np.float16)
                                  * np.float16(1 / 0.75))


# ----------------------------------------------------------------------------- state


@given(seed=seeds, before=sizes, n=st.integers(1, 30))
def test_a_restored_state_repeats_the_draws(seed, before, n):
    gen = PhiloxGenerator(seed, xp=np)
    gen.random(before)
    saved = gen.state()
    first = (gen.random(n), gen.standard_normal(n), gen.integers(0, 1000, n))
    gen.random(3)
    gen.set_state(saved)
    again = (gen.random(n), gen.standard_normal(n), gen.integers(0, 1000, n))
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)


def test_seeds_give_their_own_streams_and_the_key_is_numpys():
    a, b = PhiloxGenerator(1, xp=np), PhiloxGenerator(2, xp=np)
    assert a.key == tuple(int(k) for k in np.random.Philox(1).state["state"]["key"])
    assert not np.array_equal(a.random(16), b.random(16))


@pytest.mark.parametrize("state,error,message", [
    ([1, 2], TypeError, "expected a dict with 'key' and 'counter'"),
    ({"key": [1, 2]}, TypeError, "expected a dict with 'key' and 'counter'"),
    ({"key": [1, 2, 3], "counter": 0}, ValueError, "'key' must be two integers"),
    ({"key": [1, -2], "counter": 0}, ValueError, "'key' must be two integers"),
    ({"key": [1, 2**64], "counter": 0}, ValueError, "'key' must be two integers"),
    ({"key": [1, 2], "counter": 2**256}, ValueError, "'counter' must be an integer"),
    ({"key": [1, 2], "counter": 1.5}, ValueError, "'counter' must be an integer"),
])
def test_bad_states_are_refused_and_change_nothing(state, error, message):
    gen = PhiloxGenerator(3, xp=np)
    before = gen.state()
    with pytest.raises(error, match=message):
        gen.set_state(state)
    assert gen.state() == before


def test_the_librarys_state_holds_the_gpu_generators():
    tc.manual_seed(3)
    state = tc.get_rng_state()
    assert state["gpu"] is None                          # not used yet: made from the seed
    state["gpu"] = {"key": [7, 8], "counter": 41}
    tc.set_rng_state(state)
    assert tc.get_rng_state()["gpu"] == {"key": [7, 8], "counter": 41}
    state["gpu"] = None                                  # as a file written before first use
    tc.set_rng_state(state)
    assert tc.get_rng_state()["gpu"] is None


def test_a_bad_gpu_state_is_refused_before_anything_changes():
    tc.manual_seed(3)
    before = tc.get_rng_state()
    bad = {**tc.get_rng_state(), "seed": 99, "gpu": {"key": [1], "counter": 0}}
    with pytest.raises(ValueError, match="'key' must be two integers"):
        tc.set_rng_state(bad)
    assert tc.get_rng_state() == before


def test_dropout_repeats_after_restoring_the_state(device):
    x = tc.ones(4, 50, device=device)
    state = tc.get_rng_state()
    first = to_host(F.dropout(x, 0.4).data)
    second = to_host(F.dropout(x, 0.4).data)
    tc.set_rng_state(state)
    np.testing.assert_array_equal(to_host(F.dropout(x, 0.4).data), first)
    np.testing.assert_array_equal(to_host(F.dropout(x, 0.4).data), second)
    assert not np.array_equal(first, second)
    assert set(np.unique(first)) <= {0.0, np.float32(1 / 0.6)}


def test_gpu_draws_repeat_after_restoring_the_state(device):
    tc.rand(3, device=device)
    state = tc.get_rng_state()
    draws = [to_host(f(*args, device=device).data) for f, args in
             ((tc.rand, (5,)), (tc.randn, (5,)), (tc.randint, (0, 9, (5,))), (tc.randperm, (7,)))]
    tc.set_rng_state(state)
    again = [to_host(f(*args, device=device).data) for f, args in
             ((tc.rand, (5,)), (tc.randn, (5,)), (tc.randint, (0, 9, (5,))), (tc.randperm, (7,)))]
    for a, b in zip(draws, again, strict=True):
        np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------------------- on a GPU


@pytest.mark.gpu
@pytest.mark.skipif(CUDA_SKIP_REASON is not None, reason=f"no CUDA: {CUDA_SKIP_REASON}")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cupy_draws_are_numpys_philox(dtype):
    gen = PhiloxGenerator(77)
    assert backend.is_gpu_array(got := gen.random((1000, 3), dtype))
    expected = np.random.Generator(np.random.Philox(77)).random((1000, 3), dtype=dtype)
    np.testing.assert_array_equal(got.get(), expected)
    counter = gen.counter
    got = gen.integers(-3, 1000, 999).get()
    words = raw_words(gen.key, counter, math.ceil(999 / 4))[:999]
    np.testing.assert_array_equal(got, [-3 + ((int(w) * 1003) >> 64) for w in words])
    counter = gen.counter
    z = gen.standard_normal(998, dtype).get()
    expected = box_muller(raw_words(gen.key, counter, math.ceil(998 / 4)))[:998]
    rtol = 4 * np.finfo(dtype).eps
    np.testing.assert_allclose(z, expected.astype(dtype), rtol=rtol, atol=rtol)
