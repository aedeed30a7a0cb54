"""Medians and percentiles with numpy's values, bit for bit, at a fraction of numpy's cost.

The lung analysis takes about twenty medians and percentiles per recording, most of short arrays
(a few hundred frames or windows). numpy 2's `np.median` and `np.percentile` spend 25-100 µs per
call on argument handling, and partition at every rank they read at once — the two middle ones,
or the two a percentile interpolates between, plus the last (to look for NaN) — which numpy's
selection does several times slower than at one rank. Here a median partitions at one rank (the
upper middle; the lower middle is the largest value below it) and a percentile sorts once for all
its ranks. The arithmetic is numpy's: the mean of the two middle values, and numpy's default
"linear" percentile (Hyndman & Fan 1996, Am Stat 50(4), definition 7) in numpy's interpolation
form; a NaN in a slice makes its result NaN. tests/analysis/test_order_statistics.py checks
equality with numpy (float32 and float64, odd and even lengths, 1-D and along either axis).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from scipy import ndimage


def median(x: npt.ArrayLike, axis: int | None = None) -> Any:
    """`np.median(x, axis)`, the same value (a numpy scalar or an array, of x's float dtype)."""
    a = np.asarray(x)
    if axis is None and a.ndim == 1 and a.dtype.kind == "f" and a.itemsize in (4, 8):
        return _median_1d(a)  # the common case, without the axis handling (~2x faster)
    a = _along_first_axis(x, axis)
    n = len(a)
    if n == 0:
        return np.median(a, axis=0)  # numpy's warning and NaN
    upper_rank = n // 2
    part = np.partition(a, upper_rank, axis=0)
    middle = part[upper_rank]
    if n % 2 == 0:  # numpy's mean of the two middle values: their sum halved, in x's dtype
        middle = (part[:upper_rank].max(axis=0) + middle) / 2
    largest = part[upper_rank:].max(axis=0)  # NaN if the slice holds one (NaN sorts last)
    nan = np.isnan(largest)
    return np.where(nan, largest, middle)[()] if nan.any() else middle


def _median_1d(a: npt.NDArray[np.floating[Any]]) -> Any:
    """`median` of a 1-D float32/float64 array: the same steps on scalars."""
    n = len(a)
    if n == 0:
        return np.median(a)  # numpy's warning and NaN
    upper_rank = n // 2
    part = np.partition(a, upper_rank)
    middle = part[upper_rank]
    if n % 2 == 0:
        middle = (part[:upper_rank].max() + middle) / 2
    largest = part[upper_rank:].max()
    return largest if np.isnan(largest) else middle


def running_median(x: npt.ArrayLike, size: int) -> Any:
    """`scipy.ndimage.median_filter(x, size=size, mode="nearest")` of a 1-D array, the same values.

    For a window more than about twice the array's length scipy leaves its fast 1-D filter for a
    generic one (scipy gh-23293) that costs ~2 ms on 250 frames (an 8 s median over a 4 s lung
    take: a third of its analysis). Extending the array by `size` copies of each edge value first
    ("nearest", as the filter would) keeps it on the fast path; a median is one of its window's
    values, so the result does not depend on the path.
    """
    a = np.asarray(x)
    if len(a) > size // 2:  # scipy's own fast path
        return ndimage.median_filter(a, size=size, mode="nearest")
    extended = np.concatenate([np.repeat(a[:1], size), a, np.repeat(a[-1:], size)])
    return ndimage.median_filter(extended, size=size, mode="nearest")[size : size + len(a)]


def percentile(x: npt.ArrayLike, q: float | Sequence[float], axis: int | None = None) -> Any:
    """`np.percentile(x, q, axis)` (method "linear"), the same values: one per q, first axis
    over q when q is a sequence, as numpy's."""
    flat = axis is None and type(q) in (int, float)
    ordered = _along_first_axis(x, axis)
    n = len(ordered)
    if n == 0:
        return np.percentile(ordered, q, axis=0)  # numpy's error
    if flat:  # one value of the whole array: partitioned at one rank instead of sorted
        rank, gamma = _rank(n, cast(float, q))
        if rank == -1:
            low = high = ordered.max()  # NaN if there is one
        else:
            part = np.partition(ordered, rank)
            low, high = part[rank], part[rank + 1 :].min()  # NaN (sorted last) if there is one
        return _interpolated(low, high, gamma)
    ordered = np.sort(ordered, axis=0)
    below, above, gammas = [], [], []
    for value in np.atleast_1d(q).tolist():
        rank, gamma = _rank(n, value)
        below.append(rank)
        above.append(-1 if rank == -1 else rank + 1)
        gammas.append(gamma)
    low, high = ordered[below], ordered[above]
    step = high - low
    if type(q) in (int, float):  # numpy keeps x's dtype for a Python scalar q
        result = _interpolated(low[0], high[0], gammas[0])
    else:
        weight = np.array(gammas).reshape((-1,) + (1,) * (ordered.ndim - 1))
        result = np.where(weight >= 0.5, high - step * (1 - weight), low + step * weight)
        if np.ndim(q) == 0:
            result = result[0]
    nan = np.isnan(ordered[-1])  # NaN sorts last
    return np.where(nan, ordered[-1], result)[()] if nan.any() else result


def _rank(n: int, q: float) -> tuple[int, float]:
    """numpy's ranks for percentile q of n values (float64 arithmetic, as numpy's): the floor of
    (n - 1) q and the weight of the next value up; -1 from n - 1 on (numpy's rank of the last
    value, which its weight counts from)."""
    fraction = q / 100
    if not 0.0 <= fraction <= 1.0:
        raise ValueError("Percentiles must be in the range [0, 100]")
    virtual = (n - 1) * fraction
    rank = -1.0 if virtual >= n - 1 else math.floor(virtual)
    return int(rank), virtual - rank


def _interpolated(low: Any, high: Any, gamma: float) -> Any:
    """numpy's interpolation between two order statistics: up from the lower value below the
    midpoint, down from the upper one from it on."""
    step = high - low
    return high - step * (1 - gamma) if gamma >= 0.5 else low + step * gamma


def _along_first_axis(x: npt.ArrayLike, axis: int | None) -> npt.NDArray[np.floating[Any]]:
    """x (float32 or float64, at most 2-D) with the axis to summarise first."""
    a = np.asarray(x)
    if a.dtype not in (np.float32, np.float64):
        raise TypeError(f"order statistics of float32 or float64 arrays only, not {a.dtype}")
    if axis is None:
        return a.ravel()
    if a.ndim > 2:
        raise ValueError("order statistics along an axis of 1-D or 2-D arrays only")
    if not -a.ndim <= axis < a.ndim:
        raise np.exceptions.AxisError(axis, a.ndim)
    return a.T if axis % a.ndim == 1 else a
