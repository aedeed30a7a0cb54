"""Medians and percentiles (stethoscope.order_statistics): numpy's values, bit for bit."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from scipy import ndimage

from stethoscope.order_statistics import median, percentile, running_median

SHAPES_AXES = [((1,), None), ((2,), 0), ((7,), None), ((600,), 0), ((601,), None), ((5000,), 0)]
SHAPES_AXES += [((8, 577), 1), ((577, 22), 0), ((23, 600), 0), ((75, 154), -1), ((3, 4), None)]


def _data(shape: tuple[int, ...], dtype: type, seed: int, ties: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * 10.0 ** rng.uniform(-6, 6)
    if ties:  # repeated values, as in clipped or floored levels
        x = np.round(x, 0)
    return x.astype(dtype)


def _same(got: Any, expected: Any) -> bool:
    got, expected = np.asarray(got), np.asarray(expected)
    return got.dtype == expected.dtype and bool(np.array_equal(got, expected, equal_nan=True))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("shape", "axis"), SHAPES_AXES)
@pytest.mark.parametrize("ties", [False, True])
def test_median_is_numpys(
    dtype: type, shape: tuple[int, ...], axis: int | None, ties: bool
) -> None:
    for seed in range(5):
        x = _data(shape, dtype, seed, ties)
        assert _same(median(x, axis), np.median(x, axis=axis))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("shape", "axis"), SHAPES_AXES)
@pytest.mark.parametrize("q", [5, 10.0, 75, 90, 100, 0, 33.3, [10, 90], [10, 50, 90], [5.0]])
def test_percentile_is_numpys(
    dtype: type, shape: tuple[int, ...], axis: int | None, q: float | list[float]
) -> None:
    for seed in range(5):
        x = _data(shape, dtype, seed, ties=seed % 2 == 1)
        assert _same(percentile(x, q, axis), np.percentile(x, q, axis=axis))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_in_a_slice_gives_nan_like_numpy(dtype: type) -> None:
    x = _data((6, 41), dtype, 0, ties=False)
    x[2, 5] = x[4, 0] = x[4, 40] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for axis in (0, 1, None):
            assert _same(median(x, axis), np.median(x, axis=axis))
            assert _same(percentile(x, [10, 90], axis), np.percentile(x, [10, 90], axis=axis))
            assert _same(percentile(x, 50, axis), np.percentile(x, 50, axis=axis))
        for q in (0, 5, 50, 97.5, 100):  # one percentile of a 1-D array: the partition path
            assert _same(percentile(x[4], q), np.percentile(x[4], q))


def test_refuses_what_it_does_not_reproduce() -> None:
    with pytest.raises(TypeError):
        median(np.arange(5), None)
    with pytest.raises(ValueError):
        percentile(np.ones(5), 101)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_running_median_is_scipys_median_filter_for_any_window(dtype: type) -> None:
    """Windows from 1 to 4x the array's length: short arrays take the padded fast path, the
    others scipy's own call; the values are the same either way."""
    rng = np.random.default_rng(11)
    for trial in range(400):
        n = int(rng.integers(1, 400))
        size = int(rng.integers(1, 4 * n + 2))
        x = rng.standard_normal(n).astype(dtype)
        if trial % 3 == 0:
            x = (np.round(x * 2) / 2 + 0.25).astype(dtype)  # ties
        expected = ndimage.median_filter(x, size=size, mode="nearest")
        got = running_median(x, size)
        assert got.dtype == expected.dtype
        assert np.array_equal(got, expected), (n, size)
