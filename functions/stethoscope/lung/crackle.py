"""Crackle detection: short explosive transients standing out of the breath sound.

Crackles are discontinuous, explosive sounds lasting under 20 ms (CORSA, Sovijärvi et al. 2000);
fine crackles have a two-cycle duration (2CD) under 10 ms, coarse ones over 10 ms (American
Thoracic Society nomenclature; Murphy 2007, Respir Care 52(7)). As in the transient detectors of
Vannuccini et al. 2000 (Eur Respir Rev 10(77)), the rectified signal is compared with the local
background level (running median of 5 ms RMS frames over half a second — longer than a burst of
crackles, so a burst does not raise its own background): a crackle is a peak at least `threshold`
times that level whose envelope stays above half its height for less than `MAX_HALF_WIDTH_S`
(heart sounds and breath phases are far longer). The band starts at 100 Hz because coarse
crackles, through a stethoscope's bell or a Littmann-style filter, are mostly 100-200 Hz
deflections. Its 2CD is estimated from the zero crossings around the peak.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import fft, ndimage, signal

from stethoscope.arrays import FloatArray
from stethoscope.envelope import bandpass

CRACKLE_BAND_HZ = (100.0, 1800.0)
BACKGROUND_FRAME_S = 0.005
BACKGROUND_WINDOW_S = 0.5
MIN_SEPARATION_S = 0.01
MAX_HALF_WIDTH_S = 0.010
ENVELOPE_SMOOTHING_S = 0.002
FINE_MAX_2CD_S = 0.010
TWO_CYCLE_WINDOW_S = 0.025
CROSSING_DEAD_BAND = 0.15
TRAIN_MAX_INTERVAL_S = 0.03
TRAIN_TOLERANCE = 0.15


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
    peaks = peaks[~in_periodic_train(peaks / fs_hz)]
    strength = envelope[peaks] / level[peaks]
    two_cycle_s = _two_cycle_duration_s(band, peaks, envelope[peaks], fs_hz)
    return CrackleEvents(peaks / fs_hz, two_cycle_s, strength)


def in_periodic_train(times_s: FloatArray) -> npt.NDArray[np.bool_]:
    """Transients in a steady train (three or more, < `TRAIN_MAX_INTERVAL_S` apart, intervals
    within `TRAIN_TOLERANCE` of each other): the rapidly dampened periodic waveform of a rhonchus
    (CORSA), not crackles, which come at irregular intervals."""
    train = np.zeros(len(times_s), dtype=bool)
    if len(times_s) < 3:
        return train
    gaps = np.diff(times_s)
    before, after = gaps[:-1], gaps[1:]
    steady = (
        (before < TRAIN_MAX_INTERVAL_S)
        & (after < TRAIN_MAX_INTERVAL_S)
        & (np.abs(after - before) <= TRAIN_TOLERANCE * np.maximum(before, after))
    )
    train[:-2] |= steady
    train[1:-1] |= steady
    train[2:] |= steady
    return train


def _two_cycle_duration_s(
    band: FloatArray, peaks: npt.NDArray[np.intp], height: FloatArray, fs_hz: float
) -> FloatArray:
    """Two full cycles from the zero crossing that starts each crackle's deflection (the last one
    at or before the envelope peak) to the fourth crossing after it; `TWO_CYCLE_WINDOW_S` when the
    window holds fewer (CORSA's 2CD, read off the band-passed waveform). Samples within
    `CROSSING_DEAD_BAND` of the peak height of zero keep the previous sign, so breath noise on the
    fading tail does not add crossings."""
    reach = round(TWO_CYCLE_WINDOW_S * fs_hz)
    offsets = np.arange(-reach, reach)
    window = band[np.clip(peaks[:, None] + offsets[None, :], 0, len(band) - 1)]
    sign = np.where(np.abs(window) >= CROSSING_DEAD_BAND * height[:, None], np.sign(window), 0.0)
    last_signed = np.maximum.accumulate(np.where(sign != 0, np.arange(len(offsets)), 0), axis=1)
    held = np.take_along_axis(sign, last_signed, axis=1)
    crossing = (held[:, 1:] * held[:, :-1]) < 0
    count = np.cumsum(crossing, axis=1)
    first = np.maximum(count[:, reach - 1], 1)  # ordinal of the starting crossing
    start = np.argmax(count >= first[:, None], axis=1)
    end = np.argmax(count >= (first + 4)[:, None], axis=1)
    complete = count[:, -1] >= first + 4
    duration: FloatArray = np.where(complete, end - start, reach) / fs_hz
    return duration
