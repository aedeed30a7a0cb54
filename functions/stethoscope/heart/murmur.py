"""Murmur detection from systolic and diastolic energy and spectra across beats.

A murmur is sound where a healthy heart is quiet: between S1 and S2 (systolic), between S2 and the
next S1 (diastolic), or both (continuous). For every segmented beat we measure, in the middle 80 %
of systole and of diastole, the envelope level relative to the beat's own S1/S2 peaks (dB), the
power in five bands from 25 to 800 Hz (murmurs are turbulent and broadband, higher pitched than
the low rumble of background noise) and the share of energy above 150 Hz. Medians across beats,
mostly as contrasts between systole and diastole and between the quiet phases and the sounds, are
the recording's features. A logistic regression fitted on CirCor 2022's per-site labels ("murmur
at this location"; `training/train_heart.py`, patient-grouped folds) turns them into a calibrated
presence probability, a second one (Yaseen 2018 MR/MVP vs MS) into the systolic-vs-diastolic
timing, and a third (CirCor 2022's systolic timing labels) tells a systolic murmur that lasts up
to S2 (holosystolic) from one that fades before it (early-systolic). The approach follows the
segment-energy features of Springer's PhysioNet 2016 baseline and the murmur-timing reasoning of
the CirCor annotation protocol (Oliveira et al. 2022, IEEE JBHI 26(6)).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
from scipy import signal

from stethoscope.arrays import FloatArray
from stethoscope.heart.model import HeartModel
from stethoscope.heart.sounds import SoundEnvelope
from stethoscope.order_statistics import median
from stethoscope.result import Murmur

NEPER_TO_DB = 20.0 / np.log(10.0)
BANDS_HZ = ((25.0, 50.0), (50.0, 100.0), (100.0, 200.0), (200.0, 400.0), (400.0, 800.0))
_BAND_NAMES = tuple(f"{int(a)}_{int(b)}" for a, b in BANDS_HZ)
#: Contrasts, not absolute levels: background noise raises systole and diastole alike, a murmur
#: raises one of them. (A model of absolute levels, fitted on clean teaching recordings, called
#: every noisy normal recording a murmur.)
FEATURE_NAMES = (
    "systolic_excess_db",  # max(0, systolic level - diastolic level)
    "diastolic_excess_db",  # max(0, diastolic level - systolic level)
    "high_band_contrast",  # systolic minus diastolic share of energy above 150 Hz
    "systolic_level_db",  # systole relative to its bounding S1/S2 peaks
    "diastolic_level_db",
    "systolic_high_share",
    "louder_systole_share",  # share of beats whose systole is louder than their diastole
    *(f"systole_vs_diastole_{b}" for b in _BAND_NAMES),  # ln power ratio per band
    *(f"systole_vs_sounds_{b}" for b in _BAND_NAMES),  # ln systole / S1+S2 power per band
)
#: How a systolic murmur's power changes from the first to the last third of systole (ln ratio,
#: median over beats) in the three lowest bands: a holosystolic murmur lasts up to S2, an
#: early-systolic one fades before it. Over CirCor 2022's 96 sites with a Holosystolic or
#: Early-systolic murmur each ratio alone separates them with AUC 0.78-0.86 (no fitting; 50-200
#: Hz the most); the two upper bands were not tried. Fitted: `training/train_heart.py`,
#: `holosystolic_model`.
SYSTOLIC_SHAPE_NAMES = tuple(f"late_vs_early_systole_{b}" for b in _BAND_NAMES[:3])
#: Both phases this close (dB) to the S1/S2 peaks, with a murmur, is reported as continuous.
CONTINUOUS_LEVEL_DB = -15.0
#: The sound's own power is measured ±30 ms around its peak: the core of S1/S2 (50-150 ms long)
#: without reaching into systole at 250 bpm (design choice).
SOUND_HALF_WIDTH_S = 0.03


@dataclass(frozen=True)
class Intervals:
    """Stretches between two decoded sounds (systoles or diastoles), in seconds."""

    start_s: FloatArray  # offset of the opening sound
    end_s: FloatArray  # onset of the closing sound
    opening_peak_s: FloatArray
    closing_peak_s: FloatArray

    def __len__(self) -> int:
        return len(self.start_s)


@dataclass(frozen=True)
class MurmurMeasurement:
    features: FloatArray  # FEATURE_NAMES order
    levels_db: FloatArray  # median systolic and diastolic level relative to the sounds
    per_systole_db: FloatArray
    systolic_shape: FloatArray  # SYSTOLIC_SHAPE_NAMES order


def murmur_features(
    x: FloatArray,
    fs_hz: float,
    envelope: SoundEnvelope,
    systoles: Intervals,
    diastoles: Intervals,
) -> MurmurMeasurement | None:
    """Recording-level murmur features; None unless a systole and a diastole were decoded."""
    if len(systoles) == 0 or len(diastoles) == 0:
        return None
    spec = _band_powers(x, fs_hz)
    log_amp = envelope.log_amplitude
    frame_rate = envelope.frame_rate_hz

    def level_db(iv: Intervals) -> FloatArray:
        start, end = _inner(iv.start_s, iv.end_s)
        sound = 0.5 * (
            envelope.log_amplitude_at(iv.opening_peak_s)
            + envelope.log_amplitude_at(iv.closing_peak_s)
        )
        level: FloatArray = NEPER_TO_DB * (_window_mean(log_amp, frame_rate, start, end) - sound)
        return level

    def phase_power(iv: Intervals) -> FloatArray:
        start, end = _inner(iv.start_s, iv.end_s)
        return spec.mean_over(start, end)  # (intervals, bands + 1)

    systolic_db, diastolic_db = level_db(systoles), level_db(diastoles)
    systolic_median_db, diastolic_median_db = median(systolic_db), median(diastolic_db)
    contrast_db = float(systolic_median_db - diastolic_median_db)
    sys_power, dia_power = phase_power(systoles), phase_power(diastoles)
    peaks = np.concatenate([systoles.opening_peak_s, systoles.closing_peak_s])
    sound_power = spec.mean_over(peaks - SOUND_HALF_WIDTH_S, peaks + SOUND_HALF_WIDTH_S)
    sys_bands = np.log(median(sys_power[:, :-1], axis=0) + 1e-20)
    dia_bands = np.log(median(dia_power[:, :-1], axis=0) + 1e-20)
    sound_bands = np.log(median(sound_power[:, :-1], axis=0) + 1e-20)
    sys_share = float(median(sys_power[:, -1]))
    dia_share = float(median(dia_power[:, -1]))
    n = min(len(systolic_db), len(diastolic_db))
    louder = float(np.mean(systolic_db[:n] > diastolic_db[:n])) if n else 0.5
    features = np.concatenate(
        [
            [
                max(0.0, contrast_db),
                max(0.0, -contrast_db),
                sys_share - dia_share,
                float(systolic_median_db),
                float(diastolic_median_db),
                sys_share,
                louder,
            ],
            sys_bands - dia_bands,
            sys_bands - sound_bands,
        ]
    )
    levels = np.array([systolic_median_db, diastolic_median_db])
    return MurmurMeasurement(features, levels, systolic_db, _systolic_shape(spec, systoles))


def _systolic_shape(spec: _BandPowers, systoles: Intervals) -> FloatArray:
    """`SYSTOLIC_SHAPE_NAMES`: per band, the median over beats of ln(power in the last third of
    the inner systole / power in its first third)."""
    start, end = _inner(systoles.start_s, systoles.end_s)
    third = (end - start) / 3.0
    bands = len(SYSTOLIC_SHAPE_NAMES)
    early = spec.mean_over(start, start + third)[:, :bands]
    late = spec.mean_over(end - third, end)[:, :bands]
    shape: FloatArray = median(np.log(late + 1e-20) - np.log(early + 1e-20), axis=0)
    return shape


def classify_murmur(
    measured: MurmurMeasurement | None, model: HeartModel, interpretable: bool
) -> Murmur:
    """Turn the output of `murmur_features` into the reported verdict.

    `present` is None when the recording cannot be interpreted (quality gate) or no beat was
    segmented; otherwise the calibrated probability is compared with the threshold fitted on the
    training folds.
    """
    if measured is None or not np.all(np.isfinite(measured.features)):
        return Murmur(present=None, timing=None, score=0.0, systolic_score=0.0, diastolic_score=0.0)
    features = measured.features
    p_present = model.murmur_presence.probability(features)
    p_systolic = model.murmur_systolic.probability(features)
    present: bool | None = None
    if interpretable:
        present = p_present >= model.murmur_presence.threshold
    timing: Literal["systolic", "diastolic", "continuous"] | None = None
    if present:
        timing = "systolic" if p_systolic >= 0.5 else "diastolic"
        if bool(np.all(measured.levels_db > CONTINUOUS_LEVEL_DB)) and 0.3 < p_systolic < 0.7:
            timing = "continuous"
    systolic_timing: Literal["holosystolic", "early-systolic"] | None = None
    p_holosystolic: float | None = None
    shape, shape_model = measured.systolic_shape, model.murmur_holosystolic
    if timing == "systolic" and shape_model is not None and np.all(np.isfinite(shape)):
        p = shape_model.probability(shape)
        systolic_timing = "holosystolic" if p >= shape_model.threshold else "early-systolic"
        p_holosystolic = round(p, 3)
    return Murmur(
        present=present,
        timing=timing,
        systolic_timing=systolic_timing,
        holosystolic_score=p_holosystolic,
        score=round(p_present, 3),
        systolic_score=round(p_present * p_systolic, 3),
        diastolic_score=round(p_present * (1.0 - p_systolic), 3),
        beat_evidence=[round(float(v), 2) for v in measured.per_systole_db],
    )


def _inner(
    start_s: FloatArray, end_s: FloatArray, trim: float = 0.1
) -> tuple[FloatArray, FloatArray]:
    length = np.maximum(end_s - start_s, 0.0)
    return start_s + trim * length, end_s - trim * length


def _window_mean(
    values: FloatArray, rate_hz: float, start_s: FloatArray, end_s: FloatArray
) -> FloatArray:
    """Mean of `values` (along axis 0) over each [start, end) window (at least one sample), via
    cumulative sums."""
    cumulative = np.concatenate([np.zeros((1, *values.shape[1:])), np.cumsum(values, axis=0)])
    # (np.minimum/np.maximum: np.clip of a short integer array costs three times as much)
    lo = np.minimum(np.maximum(np.round(start_s * rate_hz).astype(np.intp), 0), len(values) - 1)
    hi = np.minimum(np.maximum(np.round(end_s * rate_hz).astype(np.intp), lo + 1), len(values))
    span = (hi - lo).reshape(-1, *([1] * (values.ndim - 1)))
    means: FloatArray = (cumulative[hi] - cumulative[lo]) / span
    return means


@dataclass(frozen=True)
class _BandPowers:
    """Per 10 ms frame: power in each of `BANDS_HZ`, then the share of 25-600 Hz above 150 Hz."""

    start_s: float
    rate_hz: float
    values: FloatArray  # (frames, bands + 1)

    def mean_over(self, start_s: FloatArray, end_s: FloatArray) -> FloatArray:
        return _window_mean(self.values, self.rate_hz, start_s - self.start_s, end_s - self.start_s)


def _band_powers(x: FloatArray, fs_hz: float) -> _BandPowers:
    """Hann-windowed 32 ms frames every 10 ms (`scipy.signal.stft` framing without its padding,
    vectorised)."""
    nperseg = max(16, round(0.032 * fs_hz))
    hop = max(1, round(0.01 * fs_hz))
    if len(x) < nperseg:
        x = np.pad(x, (0, nperseg - len(x)))
    layout = _frame_layout(nperseg, fs_hz)
    frames = np.lib.stride_tricks.sliding_window_view(x, nperseg)[::hop]
    spec = np.fft.rfft(frames * layout.window, axis=1)
    # (bins, frames) in C order: each band is a block of whole rows, summed row after row as
    # the boolean-mask copies that this replaces were (bit for bit the same sums)
    power = np.ascontiguousarray((spec.real**2 + spec.imag**2).T)
    columns = [power[a:b].sum(axis=0) for a, b in layout.bands]
    low = power[slice(*layout.low)].sum(axis=0)
    high = power[slice(*layout.high)].sum(axis=0)
    columns.append(high / (low + high + 1e-20))
    return _BandPowers(0.5 * nperseg / fs_hz, fs_hz / hop, np.stack(columns, axis=1))


@dataclass(frozen=True)
class _FrameLayout:
    """The Hann window of a frame length and the FFT bins of each band, as [start, stop)."""

    window: FloatArray  # shared through the cache: read-only
    bands: tuple[tuple[int, int], ...]  # `BANDS_HZ`
    low: tuple[int, int]  # 25-150 Hz
    high: tuple[int, int]  # 150-600 Hz


@lru_cache(maxsize=16)
def _frame_layout(nperseg: int, fs_hz: float) -> _FrameLayout:
    """Cached per frame length and rate (a few serve every recording)."""
    window: FloatArray = signal.get_window("hann", nperseg)
    window.flags.writeable = False
    freqs = np.fft.rfftfreq(nperseg, 1.0 / fs_hz)

    def bins(low_hz: float, high_hz: float) -> tuple[int, int]:
        inside = np.flatnonzero((freqs >= low_hz) & (freqs < high_hz))  # contiguous: sorted
        return (int(inside[0]), int(inside[-1]) + 1) if len(inside) else (0, 0)

    return _FrameLayout(
        window,
        tuple(bins(a, min(b, fs_hz / 2)) for a, b in BANDS_HZ),
        bins(25.0, 150.0),
        bins(150.0, min(600.0, fs_hz / 2)),
    )
