"""Wheeze detection: sustained tonal ridges in the spectrogram.

A wheeze is a continuous musical sound, dominant frequency above 100 Hz, lasting at least
~100 ms (CORSA guidelines, Sovijärvi et al. 2000, Eur Respir Rev 10(77)). Following the
spectral-peak tracking of Taplidou & Hadjileontiadis 2007 (Comput Biol Med 37(8)), each
spectrogram frame is compared with its own smoothed spectrum (mean dB over ±125 Hz); bins that
are local maxima and stand `tonal_db` above that background are tonal. Tonal bins linked across
neighbouring frames (±2 bins in frequency) form ridges, and ridges lasting `min_duration_s` or more
are wheezes. Frames where many bins are "tonal" at once are broadband bursts (friction, speech),
not wheezes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt
from scipy import ndimage, signal

from stethoscope.arrays import FloatArray

WHEEZE_BAND_HZ = (100.0, 2000.0)
WINDOW_S = 0.064
HOP_S = 0.016
BACKGROUND_HZ = 250.0
MAX_TONAL_BINS_PER_FRAME = 4


@dataclass(frozen=True)
class WheezeEvents:
    start_s: FloatArray
    end_s: FloatArray
    frequency_hz: FloatArray

    def __len__(self) -> int:
        return len(self.start_s)

    def total_s(self) -> float:
        return float(np.sum(self.end_s - self.start_s))


@dataclass(frozen=True)
class Spectrogram:
    freqs_hz: FloatArray
    times_s: FloatArray
    power_db: FloatArray  # (freqs, times)


def spectrogram(x: FloatArray, fs_hz: float) -> Spectrogram:
    """Power spectrogram in dB (Hann, `WINDOW_S` windows every `HOP_S`)."""
    nperseg = max(32, round(WINDOW_S * fs_hz))
    hop = max(1, round(HOP_S * fs_hz))
    freqs, times, power = signal.spectrogram(
        x, fs=fs_hz, window="hann", nperseg=nperseg, noverlap=nperseg - hop, mode="psd"
    )
    floor = 1e-12 * float(np.max(power)) + 1e-30
    return Spectrogram(freqs, times, 10.0 * np.log10(power + floor))


@dataclass(frozen=True)
class TonalPeaks:
    """Spectrogram bins that are narrow peaks standing out of their frame's spectrum."""

    peaks: npt.NDArray[np.bool_]  # (freqs, times)
    prominence_db: FloatArray  # (freqs, times)

    @cached_property
    def footprint(self) -> npt.NDArray[np.bool_]:
        """The peaks widened by ±2 bins: the whole tonal line, not just its top bin."""
        widened: npt.NDArray[np.bool_] = ndimage.binary_dilation(
            self.peaks, structure=np.ones((5, 1), dtype=bool)
        )
        return widened


def tonal_peaks(spec: Spectrogram, tonal_db: float) -> TonalPeaks:
    """Local spectral maxima at least `tonal_db` above their frame's smoothed spectrum, in the
    wheeze band, in frames that are not broadband bursts."""
    freqs, power = spec.freqs_hz, spec.power_db
    band = (freqs >= WHEEZE_BAND_HZ[0]) & (freqs <= min(WHEEZE_BAND_HZ[1], 0.95 * freqs[-1]))
    bin_hz = float(freqs[1] - freqs[0])
    width = max(3, round(BACKGROUND_HZ / bin_hz) | 1)
    background = ndimage.uniform_filter1d(power, width, axis=0, mode="nearest")
    prominence = power - background
    local_max = np.zeros_like(power, dtype=bool)
    local_max[1:-1] = (power[1:-1] >= power[:-2]) & (power[1:-1] >= power[2:])
    tonal = (prominence >= tonal_db) & local_max & band[:, None]
    tonal[:, tonal.sum(axis=0) > MAX_TONAL_BINS_PER_FRAME] = False
    return TonalPeaks(tonal, prominence)


def detect_wheezes(
    spec: Spectrogram, tonal: TonalPeaks, *, min_duration_s: float = 0.1
) -> WheezeEvents:
    """Wheeze events (start, end, dominant frequency): tonal peaks linked into lasting ridges."""
    freqs, power = spec.freqs_hz, spec.power_db
    prominence = tonal.prominence_db
    linked = tonal.footprint
    peaks = tonal.peaks
    labels, count = ndimage.label(linked, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        return WheezeEvents(np.zeros(0), np.zeros(0), np.zeros(0))
    index = np.arange(1, count + 1)
    boxes = ndimage.find_objects(labels)
    first = np.array([box[1].start for box in boxes])
    last = np.array([box[1].stop - 1 for box in boxes])
    hop_s = float(spec.times_s[1] - spec.times_s[0]) if len(spec.times_s) > 1 else HOP_S
    duration = (last - first + 1) * hop_s
    weight = np.where(peaks, 10.0 ** (prominence / 10.0), 0.0)
    freq_grid = np.broadcast_to(freqs[:, None], power.shape)
    total = ndimage.sum(weight, labels, index)
    dominant = ndimage.sum(weight * freq_grid, labels, index) / np.maximum(total, 1e-30)
    keep = duration >= min_duration_s
    half = 0.5 * WINDOW_S
    start = spec.times_s[first[keep]] - half
    end = spec.times_s[last[keep]] + half
    order = np.argsort(start)
    return WheezeEvents(
        np.maximum(start[order], 0.0), end[order], np.asarray(dominant)[keep][order]
    )
