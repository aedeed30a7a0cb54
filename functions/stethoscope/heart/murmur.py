"""Murmur detection from systolic and diastolic energy and spectra across beats.

A murmur is sound where a healthy heart is quiet: between S1 and S2 (systolic), between S2 and the
next S1 (diastolic), or both (continuous). For every segmented beat we measure, in the middle 80 %
of systole and of diastole, the envelope level relative to the beat's own S1/S2 peaks (dB) and the
share of energy above 150 Hz (murmurs are turbulent, broadband and higher pitched than the low
rumble of background noise). Medians across beats are the recording's features, and two small
logistic regressions (`murmur_model.json`, fitted by `training/train_murmur.py` on the development
recordings) turn them into a presence probability and a systolic-vs-diastolic timing probability.
The approach follows the segment-energy features of Springer's PhysioNet 2016 baseline and the
murmur-timing reasoning of the CirCor annotation protocol (Oliveira et al. 2022, IEEE JBHI 26(6)).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
from scipy import signal

from stethoscope.arrays import FloatArray
from stethoscope.heart.sounds import SoundEnvelope
from stethoscope.result import Murmur

MODEL_PATH = Path(__file__).with_name("murmur_model.json")
NEPER_TO_DB = 20.0 / np.log(10.0)
#: Contrasts, not absolute levels: background noise raises systole and diastole alike, a murmur
#: raises one of them. (A model of absolute levels, fitted on clean teaching recordings, called
#: every noisy normal recording a murmur.)
FEATURE_NAMES = (
    "systolic_excess_db",  # max(0, systolic level - diastolic level)
    "diastolic_excess_db",  # max(0, diastolic level - systolic level)
    "high_band_contrast",  # systolic minus diastolic share of energy above 150 Hz
)
#: Both phases this close (dB) to the S1/S2 peaks, with a murmur, is reported as continuous.
CONTINUOUS_LEVEL_DB = -15.0
#: Probabilities inside (0.5 - band, 0.5 + band) are reported as "cannot tell".
UNCERTAIN_BAND = 0.1


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
class LogisticModel:
    """Standardise, then a linear logit."""

    mean: FloatArray
    scale: FloatArray
    weights: FloatArray
    bias: float

    def probability(self, features: FloatArray) -> float:
        z = (features - self.mean) / self.scale
        return float(1.0 / (1.0 + np.exp(-(float(z @ self.weights) + self.bias))))

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> LogisticModel:
        return cls(
            np.asarray(d["mean"], dtype=np.float64),
            np.asarray(d["scale"], dtype=np.float64),
            np.asarray(d["weights"], dtype=np.float64),
            float(d["bias"]),  # type: ignore[arg-type]
        )


@dataclass(frozen=True)
class MurmurModel:
    presence: LogisticModel
    systolic_timing: LogisticModel  # P(systolic | murmur present)
    feature_names: tuple[str, ...]


@lru_cache(maxsize=1)
def load_model(path: Path = MODEL_PATH) -> MurmurModel:
    """The fitted parameters shipped with the package."""
    raw = json.loads(path.read_text())
    names = tuple(raw["feature_names"])
    if names != FEATURE_NAMES:
        raise ValueError(f"{path} was fitted on features {names}, expected {FEATURE_NAMES}")
    return MurmurModel(
        LogisticModel.from_dict(raw["presence"]),
        LogisticModel.from_dict(raw["systolic_timing"]),
        names,
    )


def murmur_features(
    x: FloatArray,
    fs_hz: float,
    envelope: SoundEnvelope,
    systoles: Intervals,
    diastoles: Intervals,
) -> tuple[FloatArray, FloatArray, FloatArray] | None:
    """Recording-level features (`FEATURE_NAMES` order), the median systolic and diastolic levels
    relative to the S1/S2 peaks (dB), and the level of each systole (dB).

    None unless at least one systole and one diastole were decoded.
    """
    if len(systoles) == 0 or len(diastoles) == 0:
        return None
    band_time, high_share = _high_band_share(x, fs_hz)
    band_rate = 1.0 / (band_time[1] - band_time[0])
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

    def share(iv: Intervals) -> float:
        start, end = _inner(iv.start_s, iv.end_s)
        shifted = _window_mean(high_share, band_rate, start - band_time[0], end - band_time[0])
        return float(np.median(shifted))

    systolic_db = level_db(systoles)
    contrast_db = float(np.median(systolic_db) - np.median(level_db(diastoles)))
    features = np.array(
        [max(0.0, contrast_db), max(0.0, -contrast_db), share(systoles) - share(diastoles)]
    )
    levels = np.array([np.median(systolic_db), np.median(level_db(diastoles))])
    return features, levels, systolic_db


def classify_murmur(
    measured: tuple[FloatArray, FloatArray, FloatArray] | None,
) -> Murmur:
    """Turn the output of `murmur_features` into the reported verdict."""
    if measured is None or not np.all(np.isfinite(measured[0])):
        return Murmur(present=None, timing=None, score=0.0, systolic_score=0.0, diastolic_score=0.0)
    features, levels_db, per_systole_db = measured
    model = load_model()
    p_present = model.presence.probability(features)
    p_systolic = model.systolic_timing.probability(features)
    present: bool | None = None
    if p_present >= 0.5 + UNCERTAIN_BAND:
        present = True
    elif p_present <= 0.5 - UNCERTAIN_BAND:
        present = False
    timing: Literal["systolic", "diastolic", "continuous"] | None = None
    if present:
        timing = "systolic" if p_systolic >= 0.5 else "diastolic"
        if bool(np.all(levels_db > CONTINUOUS_LEVEL_DB)) and 0.3 < p_systolic < 0.7:
            timing = "continuous"
    return Murmur(
        present=present,
        timing=timing,
        score=round(p_present, 3),
        systolic_score=round(p_present * p_systolic, 3),
        diastolic_score=round(p_present * (1.0 - p_systolic), 3),
        beat_evidence=[round(float(v), 2) for v in per_systole_db],
    )


def _inner(
    start_s: FloatArray, end_s: FloatArray, trim: float = 0.1
) -> tuple[FloatArray, FloatArray]:
    length = np.maximum(end_s - start_s, 0.0)
    return start_s + trim * length, end_s - trim * length


def _window_mean(
    values: FloatArray, rate_hz: float, start_s: FloatArray, end_s: FloatArray
) -> FloatArray:
    """Mean of `values` over each [start, end) window (at least one sample), via cumulative sums."""
    cumulative = np.concatenate([[0.0], np.cumsum(values)])
    lo = np.clip(np.round(start_s * rate_hz).astype(np.intp), 0, len(values) - 1)
    hi = np.clip(np.round(end_s * rate_hz).astype(np.intp), lo + 1, len(values))
    means: FloatArray = (cumulative[hi] - cumulative[lo]) / (hi - lo)
    return means


def _high_band_share(x: FloatArray, fs_hz: float) -> tuple[FloatArray, FloatArray]:
    """Per 10 ms frame: share of 25-600 Hz power that lies above 150 Hz."""
    nperseg = max(16, round(0.032 * fs_hz))
    hop = max(1, round(0.01 * fs_hz))
    freqs, times, spec = signal.stft(
        x, fs=fs_hz, nperseg=nperseg, noverlap=nperseg - hop, boundary=None, padded=False
    )
    power = np.abs(spec) ** 2
    low = power[(freqs >= 25) & (freqs < 150)].sum(axis=0)
    high = power[(freqs >= 150) & (freqs < min(600.0, fs_hz / 2))].sum(axis=0)
    share: FloatArray = high / (low + high + 1e-20)
    return np.asarray(times, dtype=np.float64), share
