"""Wheeze detection: sustained tonal ridges in the spectrogram, searched at two resolutions.

A wheeze is a continuous musical sound lasting at least ~100 ms (CORSA guidelines, Sovijärvi et
al. 2000, Eur Respir Rev 10(77)); high-pitched wheezes lie above 400 Hz, low-pitched ones
(rhonchi) at or below 200 Hz (Pasterkamp et al. 1997, Am J Respir Crit Care Med 156(3)), and the
ICBHI 2017 annotators counted both as wheezes. One spectrogram cannot serve both: a wheeze often
glides in pitch (hundreds of Hz per second), which a long window smears flat, while the lines of
a rhonchus, 80-200 Hz, need a long window to be resolved at all. So `HIGH_PITCHED` searches
100-1000 Hz in 64 ms windows and `LOW_PITCHED` 80-400 Hz in 128 ms windows, and their events are
pooled.

Following the spectral-peak tracking of Taplidou & Hadjileontiadis 2007 (Comput Biol Med 37(8)),
each spectrogram frame is compared with its own smoothed spectrum (mean dB over the search's
`background_hz`); bins that are local maxima and stand `tonal_db` above that background are tonal.
A tonal bin must also stand `transient_db` above its own median over the whole recording: a line
present all the time at one frequency (a device resonance, mains hum, a fan) is not a wheeze,
which comes and goes with the breath. Tonal bins linked across neighbouring frames (±2 bins in
frequency) form ridges, and ridges lasting `min_duration_s` or more are wheezes. Frames where many
bins are "tonal" at once are broadband bursts (friction, speech), not wheezes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt
from scipy import ndimage, signal

from stethoscope.arrays import FloatArray

MAX_TONAL_BINS_PER_FRAME = 4
ROLL_OFF_FLOOR_DB = 10.0
#: Medians are taken over every 4th bin or frame: as good an estimate, four times cheaper.
MEDIAN_STRIDE = 4


@dataclass(frozen=True)
class RidgeSearch:
    """One spectrogram resolution and the band searched in it for tonal ridges."""

    window_s: float
    hop_s: float
    band_hz: tuple[float, float]
    background_hz: float  # width of the smoothed spectrum a peak must stand above
    transient_db: float  # how far above its own median over time a tonal bin must be


#: Wheezes proper, which glide in pitch: short windows keep a gliding line sharp. This is also
#: the spectrogram the breath envelope and the report use.
HIGH_PITCHED = RidgeSearch(0.064, 0.016, (100.0, 1000.0), 125.0, 6.0)
#: Rhonchi and low-pitched wheezes: long windows resolve lines 8 Hz apart.
LOW_PITCHED = RidgeSearch(0.128, 0.032, (80.0, 400.0), 250.0, 10.0)


@dataclass(frozen=True)
class WheezeEvents:
    start_s: FloatArray
    end_s: FloatArray
    frequency_hz: FloatArray

    def __len__(self) -> int:
        return len(self.start_s)

    def total_s(self) -> float:
        """Time covered by at least one event (events found at both resolutions overlap)."""
        return self.covered_s(0.0, float("inf"))

    def covered_s(self, start_s: float, end_s: float) -> float:
        """Time between `start_s` and `end_s` covered by at least one event."""
        a = np.clip(self.start_s, start_s, end_s)
        b = np.clip(self.end_s, start_s, end_s)
        order = np.argsort(a)
        a, b = a[order], b[order]
        reach = np.maximum.accumulate(b) if len(b) else b
        # each event adds only what extends past everything that started before it
        previous = np.concatenate([[start_s], reach[:-1]])
        return float(np.sum(np.clip(b - np.maximum(a, previous), 0.0, None)))

    @staticmethod
    def pooled(*events: WheezeEvents) -> WheezeEvents:
        """All events of several searches, in time order."""
        start = np.concatenate([e.start_s for e in events])
        order = np.argsort(start, kind="stable")
        return WheezeEvents(
            start[order],
            np.concatenate([e.end_s for e in events])[order],
            np.concatenate([e.frequency_hz for e in events])[order],
        )


@dataclass(frozen=True)
class Spectrogram:
    freqs_hz: FloatArray
    times_s: FloatArray
    power_db: FloatArray  # (freqs, times)
    window_s: float
    hop_s: float


def spectrogram(x: FloatArray, fs_hz: float, search: RidgeSearch) -> Spectrogram:
    """Power spectrogram in dB (Hann windows of the search's length and hop)."""
    nperseg = max(32, round(search.window_s * fs_hz))
    hop = max(1, round(search.hop_s * fs_hz))
    freqs, times, power = signal.spectrogram(
        x, fs=fs_hz, window="hann", nperseg=nperseg, noverlap=nperseg - hop, mode="psd"
    )
    floor = 1e-12 * float(np.max(power)) + 1e-30
    power_db = (10.0 * np.log10(power + floor)).astype(np.float32)  # halves the largest arrays
    return Spectrogram(freqs, times, power_db, nperseg / fs_hz, hop / fs_hz)


@dataclass(frozen=True)
class TonalPeaks:
    """Spectrogram bins that are narrow peaks standing out of their frame's spectrum."""

    peaks: npt.NDArray[np.bool_]  # (freqs, times)
    prominence_db: FloatArray  # (freqs, times)

    @cached_property
    def footprint(self) -> npt.NDArray[np.bool_]:
        """The peaks widened by ±2 bins: the whole tonal line, not just its top bin."""
        widened = self.peaks.copy()
        for shift in (1, 2):
            widened[shift:] |= self.peaks[:-shift]
            widened[:-shift] |= self.peaks[shift:]
        return widened


def tonal_peaks(spec: Spectrogram, search: RidgeSearch, tonal_db: float) -> TonalPeaks:
    """Local spectral maxima at least `tonal_db` above their frame's smoothed spectrum and
    `search.transient_db` above their bin's median over time, in the search's band, in frames
    that are not broadband bursts."""
    freqs, power = spec.freqs_hz, spec.power_db
    bin_hz = float(freqs[1] - freqs[0])
    width = max(3, round(search.background_hz / bin_hz) | 1)
    top = min(search.band_hz[1], 0.95 * float(freqs[-1]))
    lo = max(1, int(np.searchsorted(freqs, search.band_hz[0])))
    hi = int(np.searchsorted(freqs, top, side="right"))
    # the band plus enough neighbours for the smoothed spectrum and the local-maximum test
    a, b = max(0, lo - width), min(len(freqs), hi + width)
    part = power[a:b]
    # a steep roll-off (a band-limited microphone) must not drag the smoothed spectrum down and
    # make every bin above it look tonal: levels far below the frame's median count at that floor
    floor = np.median(part[::MEDIAN_STRIDE], axis=0, keepdims=True) - ROLL_OFF_FLOOR_DB
    background = ndimage.uniform_filter1d(np.maximum(part, floor), width, axis=0, mode="nearest")
    prominence = np.zeros_like(power)
    prominence[a:b] = part - background
    inner = part[lo - a - 1 : hi - a + 1]
    local_max = (inner[1:-1] >= inner[:-2]) & (inner[1:-1] >= inner[2:])
    typical = np.median(inner[1:-1, ::MEDIAN_STRIDE], axis=1, keepdims=True)
    transient = inner[1:-1] - typical >= search.transient_db
    tonal = np.zeros(power.shape, dtype=bool)
    tonal[lo:hi] = (prominence[lo:hi] >= tonal_db) & transient & local_max
    tonal[:, tonal.sum(axis=0) > MAX_TONAL_BINS_PER_FRAME] = False
    return TonalPeaks(tonal, prominence)


def detect_wheezes(
    spec: Spectrogram, tonal: TonalPeaks, *, min_duration_s: float = 0.1
) -> WheezeEvents:
    """Wheeze events (start, end, dominant frequency): tonal peaks linked into lasting ridges."""
    rows = np.flatnonzero(tonal.footprint.any(axis=1))
    if len(rows) == 0:
        return WheezeEvents(np.zeros(0), np.zeros(0), np.zeros(0))
    band = slice(int(rows[0]), int(rows[-1]) + 1)  # only the searched band can hold ridges
    freqs = spec.freqs_hz[band]
    prominence = tonal.prominence_db[band]
    linked = tonal.footprint[band]
    peaks = tonal.peaks[band]
    labels, count = ndimage.label(linked, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        return WheezeEvents(np.zeros(0), np.zeros(0), np.zeros(0))
    index = np.arange(1, count + 1)
    boxes = ndimage.find_objects(labels)
    first = np.array([box[1].start for box in boxes])
    last = np.array([box[1].stop - 1 for box in boxes])
    duration = (last - first + 1) * spec.hop_s
    weight = np.where(peaks, 10.0 ** (prominence / 10.0), 0.0)
    freq_grid = np.broadcast_to(freqs[:, None], peaks.shape)
    total = ndimage.sum(weight, labels, index)
    dominant = ndimage.sum(weight * freq_grid, labels, index) / np.maximum(total, 1e-30)
    keep = duration >= min_duration_s
    half = 0.5 * spec.window_s
    start = spec.times_s[first[keep]] - half
    end = spec.times_s[last[keep]] + half
    order = np.argsort(start)
    return WheezeEvents(
        np.maximum(start[order], 0.0), end[order], np.asarray(dominant)[keep][order]
    )
