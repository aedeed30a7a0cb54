"""Crackle detection: short explosive transients standing out of the breath sound.

Crackles are discontinuous, explosive sounds lasting under 20 ms (CORSA, Sovijärvi et al. 2000);
fine crackles have a two-cycle duration (2CD) under 10 ms, coarse ones over 10 ms (American
Thoracic Society nomenclature; Murphy 2007, Respir Care 52(7)). As in the transient detectors of
Vannuccini et al. 2000 (Eur Respir Rev 10(77)), the rectified signal is compared with the local
background level (running median of 5 ms RMS frames): a crackle is a peak at least `threshold`
times that level — for Gaussian breath noise 5x RMS is exceeded about once a minute —
whose envelope stays above half its height for less than `MAX_HALF_WIDTH_S` (heart sounds and
breath phases are far longer). Its 2CD is estimated from the zero crossings around the peak.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import fft, ndimage, signal

from stethoscope.arrays import FloatArray
from stethoscope.envelope import bandpass

CRACKLE_BAND_HZ = (150.0, 1800.0)
BACKGROUND_FRAME_S = 0.005
BACKGROUND_WINDOW_S = 0.15
MIN_SEPARATION_S = 0.01
MAX_HALF_WIDTH_S = 0.010
ENVELOPE_SMOOTHING_S = 0.002
FINE_MAX_2CD_S = 0.010


@dataclass(frozen=True)
class CrackleEvents:
    time_s: FloatArray
    two_cycle_s: FloatArray
    strength: FloatArray  # peak over local background

    def __len__(self) -> int:
        return len(self.time_s)

    @property
    def fine(self) -> npt.NDArray[np.bool_]:
        return self.two_cycle_s < FINE_MAX_2CD_S


def detect_crackles(x: FloatArray, fs_hz: float, *, threshold: float = 5.0) -> CrackleEvents:
    """Crackle events (time, two-cycle duration, strength)."""
    band = bandpass(x, fs_hz, *CRACKLE_BAND_HZ)
    analytic = signal.hilbert(band, N=fft.next_fast_len(len(band), real=True))[: len(band)]
    envelope = np.abs(analytic)
    smoothing = max(1, round(ENVELOPE_SMOOTHING_S * fs_hz))
    envelope = ndimage.uniform_filter1d(envelope, smoothing, mode="nearest")
    hop = max(1, round(BACKGROUND_FRAME_S * fs_hz))
    n_frames = len(band) // hop
    empty = CrackleEvents(np.zeros(0), np.zeros(0), np.zeros(0))
    if n_frames < 3:
        return empty
    frames = np.sqrt(np.mean(np.square(band[: n_frames * hop]).reshape(n_frames, hop), axis=1))
    window = max(3, round(BACKGROUND_WINDOW_S / BACKGROUND_FRAME_S) | 1)
    background = np.repeat(ndimage.median_filter(frames, size=window, mode="nearest"), hop)
    background = np.concatenate([background, np.full(len(band) - len(background), background[-1])])
    floor = max(float(np.percentile(background, 10)), 1e-12)
    level = np.maximum(background, floor)
    peaks, _ = signal.find_peaks(
        envelope, height=threshold * level, distance=max(1, round(MIN_SEPARATION_S * fs_hz))
    )
    if len(peaks) == 0:
        return empty
    widths, _, _, _ = signal.peak_widths(envelope, peaks, rel_height=0.5)
    peaks = peaks[widths / fs_hz <= MAX_HALF_WIDTH_S]
    strength = envelope[peaks] / level[peaks]
    return CrackleEvents(peaks / fs_hz, _two_cycle_duration_s(band, peaks, fs_hz), strength)


def _two_cycle_duration_s(
    band: FloatArray, peaks: npt.NDArray[np.intp], fs_hz: float
) -> FloatArray:
    """Time spanned by the four zero crossings nearest each peak (two full cycles)."""
    half = round(0.015 * fs_hz)
    offsets = np.arange(-half, half)
    idx = np.clip(peaks[:, None] + offsets[None, :], 0, len(band) - 2)
    crossing = np.signbit(band[idx]) != np.signbit(band[idx + 1])
    position = np.where(crossing, np.abs(offsets)[None, :], half + 1)
    nearest = np.sort(position, axis=1)[:, :4]
    span = np.where(nearest <= half, nearest, half).max(axis=1)
    duration: FloatArray = 2.0 * span / fs_hz
    return duration
