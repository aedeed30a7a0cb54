"""Band-pass filters, amplitude envelopes and autocorrelation shared by the heart and lung analyses.

All functions are pure: arrays and plain parameters in, arrays out, rates in Hz.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import fft, signal

from stethoscope.arrays import FloatArray


@lru_cache(maxsize=64)
def _butter(order: int, edges_hz: tuple[float, ...], btype: str, fs_hz: float) -> FloatArray:
    """Filter design, cached: the same few filters serve every recording of a rate."""
    cutoff = edges_hz[0] if len(edges_hz) == 1 else list(edges_hz)
    sos: FloatArray = signal.butter(order, cutoff, btype=btype, fs=fs_hz, output="sos")
    return sos


def bandpass(
    x: FloatArray, fs_hz: float, low_hz: float, high_hz: float, order: int = 4
) -> FloatArray:
    """Zero-phase Butterworth band-pass (`high_hz` is clipped below Nyquist)."""
    high_hz = min(high_hz, 0.45 * fs_hz)
    y: FloatArray = signal.sosfiltfilt(_butter(order, (low_hz, high_hz), "bandpass", fs_hz), x)
    return y


def amplitude_envelope(
    x: FloatArray, fs_hz: float, frame_rate_hz: float
) -> tuple[FloatArray, float]:
    """Hilbert amplitude averaged over frames of `1/frame_rate_hz` seconds.

    Returns the envelope and its exact frame rate (the frame length is a whole number of samples).
    """
    hop = max(1, round(fs_hz / frame_rate_hz))
    n_fast = fft.next_fast_len(len(x), real=True)
    amplitude = np.abs(signal.hilbert(x, N=n_fast)[: len(x)])
    n_frames = len(amplitude) // hop
    frames = amplitude[: n_frames * hop].reshape(n_frames, hop).mean(axis=1)
    return frames, fs_hz / hop


def smooth(x: FloatArray, rate_hz: float, cutoff_hz: float, order: int = 2) -> FloatArray:
    """Zero-phase Butterworth low-pass, for envelopes sampled at `rate_hz`."""
    if cutoff_hz >= 0.45 * rate_hz:
        return x
    sos = _butter(order, (cutoff_hz,), "lowpass", rate_hz)
    y: FloatArray = signal.sosfiltfilt(sos, x, padlen=min(len(x) - 1, 3 * (2 * len(sos) + 1)))
    return y


def autocorrelation(x: FloatArray, *, unbiased: bool = True) -> FloatArray:
    """Normalised autocorrelation of `x` (mean removed) for lags 0..len(x)-1, via FFT.

    `unbiased=True` divides each lag by the number of overlapping samples, so long lags are not
    pulled towards zero (right when many periods fit in the signal); `unbiased=False` keeps that
    taper, which favours the shortest true period when only a few periods fit.
    """
    x = np.asarray(x, dtype=np.float64) - float(np.mean(x))
    n = len(x)
    n_fft = fft.next_fast_len(2 * n, real=True)
    spectrum = fft.rfft(x, n_fft)
    acf = fft.irfft(spectrum * np.conj(spectrum), n_fft)[:n]
    if unbiased:
        acf /= np.arange(n, 0, -1)
    if acf[0] <= 0:
        return np.zeros(n)
    normalised: FloatArray = acf / acf[0]
    return normalised
