"""Zero-phase filtering (stethoscope.envelope): the cached design gives scipy's exact result."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import fft, signal

from stethoscope import envelope
from stethoscope.envelope import _butter, analytic_amplitude, bandpass, smooth


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [28, 1000, 40_001])
def test_bandpass_is_sosfiltfilt_bit_for_bit(dtype: type, n: int) -> None:
    x = np.random.default_rng(n).standard_normal(n).astype(dtype)
    sos = signal.butter(4, [100.0, 1000.0], btype="bandpass", fs=4000.0, output="sos")
    expected = signal.sosfiltfilt(sos, x)
    got = bandpass(x, 4000.0, 100.0, 1000.0)
    assert got.dtype == expected.dtype
    assert np.array_equal(got, expected)


@pytest.mark.parametrize("n", [2, 5, 16, 17, 3000])
def test_smooth_is_sosfiltfilt_bit_for_bit(n: int) -> None:
    x = np.random.default_rng(n).standard_normal(n)
    sos = signal.butter(2, 1.5, fs=62.5, output="sos")
    expected = signal.sosfiltfilt(sos, x, padlen=min(n - 1, 9))  # smooth: 3 x (2 x 1 section + 1)
    assert np.array_equal(smooth(x, 62.5, 1.5), expected)


def test_cached_design_is_not_changed_by_filtering() -> None:
    design = _butter(4, (100.0, 1000.0), "bandpass", 4000.0)
    before = design.sos.copy(), design.zi.copy()
    bandpass(np.random.default_rng(0).standard_normal(500), 4000.0, 100.0, 1000.0)
    assert np.array_equal(design.sos, before[0]) and np.array_equal(design.zi, before[1])


def test_too_short_for_the_padding_is_refused_like_scipy() -> None:
    with pytest.raises(ValueError, match="padlen"):
        bandpass(np.ones(27), 4000.0, 100.0, 1000.0)


@pytest.mark.parametrize("n", [7, 1000, 1001, 60_000, 40_001])
def test_analytic_amplitude_is_hilberts_up_to_rounding(n: int) -> None:
    x = np.random.default_rng(n).standard_normal(n)
    n_fft = fft.next_fast_len(n, real=True)
    expected = np.abs(signal.hilbert(x, N=n_fft)[:n])
    np.testing.assert_allclose(analytic_amplitude(x), expected, rtol=1e-12, atol=1e-12)


def test_filtering_without_scipys_compiled_core_gives_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fallback for a scipy that moves its private core is the public `sosfilt`."""
    x = np.random.default_rng(3).standard_normal(2000)
    fast = bandpass(x, 4000.0, 25.0, 400.0)
    monkeypatch.setattr(envelope, "_sosfilt_compiled", None)
    assert np.array_equal(bandpass(x, 4000.0, 25.0, 400.0), fast)
