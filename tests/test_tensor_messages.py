"""Tensor(data) on data that is not numbers says what is wrong (issue 13, section 5): None, an
integer beyond int64, an iterator, a ragged list, a string inside a list."""

import numpy as np
import pytest

import tinygrad_cnn as tc


@pytest.mark.parametrize("data,message", [
    ([1.0, None], r"data\[1\] = None: a tensor holds numbers only"),
    ([[1, 2], [3, None]], r"data\[1\]\[1\] = None"),
    ([2**70], r"data\[0\] = 1180591620717411303424: it does not fit in int64"),
    ([2**63], r"data\[0\] = 9223372036854775808: it does not fit in int64"),
    ([1, -(2**63) - 1], r"data\[1\] = -9223372036854775809: it does not fit in int64"),
    (2**64, r"data = 18446744073709551616: it does not fit in int64"),
    ((x for x in range(3)), r"from a generator \(an iterator, read only once\): pass a list"),
    (iter([1, 2]), r"from a list_iterator \(an iterator"),
    ([[1, 2], [3]], r"ragged nested list: data\[0\] has 2 elements but data\[1\] has 1"),
    ([[1, 2], 3], r"ragged nested list: data\[0\] is a list but data\[1\] is a int"),
    ([[[1], [2]], [[1], [2, 3]]], r"ragged nested list: data\[0\]\[0\] has 1 elements but "
                                  r"data\[1\]\[1\] has 2"),
    ([1, "a"], r"data\[1\], a str \('a'\): a tensor holds numbers only"),
])
def test_bad_python_data_says_what_is_wrong(data, message):
    with pytest.raises(TypeError, match=message) as info:
        tc.Tensor(data)
    assert "unsupported dtype 'object'" not in str(info.value)


def test_good_python_data_still_converts():
    assert tc.Tensor([[1, 2], [3, 4]]).dtype == np.int64
    assert tc.Tensor([2**63 - 1]).item() == 2**63 - 1
    assert tc.Tensor([1.0, 2]).dtype == np.float32
    assert tc.Tensor(()).shape == (0,)
    assert tc.tensor([True, False]).dtype == np.bool_
