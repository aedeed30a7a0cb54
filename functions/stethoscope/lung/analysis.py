"""Lung-sound analysis: breathing rate and cycles, wheezes, crackles.

Heart sounds are found first (with the heart analysis, on the same recording) so that their sharp
onsets are not counted as crackles; the breathing envelope is built from a band above most heart
energy. Detector thresholds and the presence rules come from `lung_model.json`, fitted by
`training/train_lung.py` on the development recordings.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from stethoscope.arrays import FloatArray
from stethoscope.audio import resample
from stethoscope.heart.analysis import ANALYSIS_RATE_HZ as HEART_RATE_HZ
from stethoscope.heart.analysis import segment_heart
from stethoscope.lung.breathing import BreathEnvelope, Breathing, breath_envelope, find_breathing
from stethoscope.lung.crackle import CrackleEvents, detect_crackles
from stethoscope.lung.wheeze import (
    HIGH_PITCHED,
    LOW_PITCHED,
    Spectrogram,
    TonalPeaks,
    WheezeEvents,
    detect_wheezes,
    spectrogram,
    tonal_peaks,
)
from stethoscope.result import BreathCycle, Crackle, LungResult, Wheeze

ANALYSIS_RATE_HZ = 4000.0
MODEL_PATH = Path(__file__).with_name("lung_model.json")
#: Crackle candidates this close to a heart sound are heart sound, not crackle.
HEART_SOUND_GUARD_S = 0.07
#: Tonal events lying mostly within this of a heart sound are its harmonics, not a wheeze.
HEART_SOUND_WHEEZE_GUARD_S = 0.12
HEART_SOUND_LONGEST_S = 0.3
#: S1 and S2 together, whose low harmonics can merge into one ridge.
HEART_SOUND_PAIR_LONGEST_S = 0.5
HEART_HARMONIC_MAX_HZ = 200.0
NEPER_TO_DB = 20.0 / np.log(10.0)


@dataclass(frozen=True)
class LungModel:
    """Detector thresholds and presence rules (see training/train_lung.py)."""

    tonal_db: float
    low_tonal_db: float
    min_wheeze_s: float
    crackle_threshold: float
    wheeze_fraction_present: float
    crackles_per_min_present: float
    crackles_per_cycle: int


@lru_cache(maxsize=1)
def load_model(path: Path = MODEL_PATH) -> LungModel:
    raw = json.loads(path.read_text())
    return LungModel(**{k: raw[k] for k in LungModel.__dataclass_fields__})


@dataclass(frozen=True)
class LungAnalysis:
    """The lung result plus the signals a report draws."""

    lung: LungResult
    envelope: BreathEnvelope
    breathing: Breathing
    spectrogram: Spectrogram
    wheezes: WheezeEvents
    crackles: CrackleEvents
    snr_db: float | None
    periodicity: float
    coverage: float


def analyze_lung(x: FloatArray, fs_hz: float, model: LungModel | None = None) -> LungAnalysis:
    """Analyse a lung recording at (about) `ANALYSIS_RATE_HZ`."""
    model = model or load_model()
    duration_s = len(x) / fs_hz
    spec = spectrogram(x, fs_hz, HIGH_PITCHED)
    tonal = tonal_peaks(spec, HIGH_PITCHED, model.tonal_db)
    envelope = breath_envelope(spec, tonal)
    breathing = find_breathing(envelope)
    heart_sounds = heart_sound_times(x, fs_hz)
    low_spec = spectrogram(x, fs_hz, LOW_PITCHED)
    low_tonal = tonal_peaks(low_spec, LOW_PITCHED, model.low_tonal_db)
    wheezes = find_wheezes([(spec, tonal), (low_spec, low_tonal)], model.min_wheeze_s, heart_sounds)
    crackles = without_heart_sound_crackles(
        detect_crackles(x, fs_hz, threshold=model.crackle_threshold), heart_sounds
    )

    minutes = duration_s / 60.0
    wheeze_fraction = min(1.0, wheezes.total_s() / duration_s)
    crackle_rate = len(crackles) / minutes
    wheeze_score = _ratio_score(wheeze_fraction, model.wheeze_fraction_present)
    crackle_score = _ratio_score(crackle_rate, model.crackles_per_min_present)
    counts = np.bincount((crackles.time_s // 60).astype(int), minlength=int(np.ceil(minutes)))
    cycles = [
        BreathCycle(start_s=round(float(a), 3), end_s=round(float(b), 3))
        for a, b in zip(breathing.cycle_start_s, breathing.cycle_end_s, strict=True)
    ]
    coverage = float(np.sum(breathing.cycle_end_s - breathing.cycle_start_s) / duration_s)
    rate = breathing.rate_bpm
    lung = LungResult(
        respiratory_rate_bpm=None if rate is None else round(rate, 1),
        respiratory_rate_confidence=round(_rate_confidence(breathing, coverage), 3),
        cycles=cycles,
        wheezes=[
            Wheeze(
                start_s=round(float(a), 3),
                end_s=round(float(b), 3),
                frequency_hz=round(float(f), 1),
            )
            for a, b, f in zip(wheezes.start_s, wheezes.end_s, wheezes.frequency_hz, strict=True)
        ],
        crackles=[
            Crackle(time_s=round(float(t), 4), kind="fine" if fine else "coarse")
            for t, fine in zip(crackles.time_s, crackles.fine, strict=True)
        ],
        wheeze_present=wheeze_score >= 0.5,
        crackle_present=crackle_score >= 0.5,
        wheeze_score=round(wheeze_score, 3),
        crackle_score=round(crackle_score, 3),
        wheeze_fraction=round(wheeze_fraction, 4),
        crackles_per_min=round(crackle_rate, 1),
        crackle_counts_per_min=[int(c) for c in counts],
    )
    spread = np.percentile(envelope.log_amplitude, [10, 90])
    snr_db = float(NEPER_TO_DB * (spread[1] - spread[0]))
    return LungAnalysis(
        lung, envelope, breathing, spec, wheezes, crackles, snr_db, breathing.periodicity, coverage
    )


def find_wheezes(
    searches: Sequence[tuple[Spectrogram, TonalPeaks]],
    min_duration_s: float,
    heart_sounds: FloatArray,
) -> WheezeEvents:
    """The wheezes of every ridge search (a spectrogram and its tonal peaks), pooled, without the
    ones that are heart-sound harmonics."""
    found = [detect_wheezes(spec, tonal, min_duration_s=min_duration_s) for spec, tonal in searches]
    return without_heart_sound_wheezes(WheezeEvents.pooled(*found), heart_sounds)


def cycle_findings(
    start_s: float,
    end_s: float,
    crackle_times_s: FloatArray,
    wheezes: WheezeEvents,
    model: LungModel | None = None,
) -> tuple[bool, bool]:
    """(crackles, wheeze) in one breathing cycle, from the events inside it (ICBHI-style): enough
    crackles in the cycle, or wheezing overlapping it for at least the minimum wheeze duration."""
    model = model or load_model()
    crackles = int(np.sum((crackle_times_s >= start_s) & (crackle_times_s < end_s)))
    wheezing_s = wheezes.covered_s(start_s, end_s)
    return crackles >= model.crackles_per_cycle, wheezing_s >= model.min_wheeze_s


def classify_cycle(
    start_s: float, end_s: float, lung: LungResult, model: LungModel | None = None
) -> tuple[bool, bool]:
    """`cycle_findings` for the events of a finished result."""
    return cycle_findings(
        start_s,
        end_s,
        np.array([c.time_s for c in lung.crackles]),
        WheezeEvents(
            np.array([w.start_s for w in lung.wheezes]),
            np.array([w.end_s for w in lung.wheezes]),
            np.array([w.frequency_hz for w in lung.wheezes]),
        ),
        model,
    )


def heart_sound_times(x: FloatArray, fs_hz: float) -> FloatArray:
    """Centres of the S1/S2 sounds the heart analysis finds in a lung recording."""
    heart_x, heart_rate = resample(x, fs_hz, HEART_RATE_HZ)
    seg = segment_heart(heart_x, heart_rate)
    times: FloatArray = seg.candidates.times_s[seg.labels.index]
    return times


def without_heart_sound_crackles(
    crackles: CrackleEvents, heart_sounds: FloatArray
) -> CrackleEvents:
    """Drop crackle candidates that coincide with a heart sound."""
    if len(crackles) == 0 or len(heart_sounds) == 0:
        return crackles
    nearest = np.min(np.abs(crackles.time_s[:, None] - heart_sounds[None, :]), axis=1)
    keep = nearest > HEART_SOUND_GUARD_S
    return CrackleEvents(crackles.time_s[keep], crackles.two_cycle_s[keep], crackles.strength[keep])


def without_heart_sound_wheezes(wheezes: WheezeEvents, heart_sounds: FloatArray) -> WheezeEvents:
    """Drop short tonal events that mostly lie on heart sounds (the harmonics of S1/S2 look like
    brief low wheezes); longer events are wheezes even where heart sounds overlap them."""
    if len(wheezes) == 0 or len(heart_sounds) == 0:
        return wheezes
    step = 0.01
    grid = np.arange(0.0, float(wheezes.end_s.max()) + step, step)
    first = np.searchsorted(grid, heart_sounds - HEART_SOUND_WHEEZE_GUARD_S)
    last = np.searchsorted(grid, heart_sounds + HEART_SOUND_WHEEZE_GUARD_S)
    edges = np.zeros(len(grid) + 1)
    np.add.at(edges, first, 1)
    np.add.at(edges, last, -1)
    on_heart = np.cumsum(edges)[:-1] > 0
    covered = np.concatenate([[0], np.cumsum(on_heart)])
    a = np.searchsorted(grid, wheezes.start_s)
    b = np.maximum(np.searchsorted(grid, wheezes.end_s), a + 1)
    duration = wheezes.end_s - wheezes.start_s
    like_heart = (duration < HEART_SOUND_LONGEST_S) | (
        (duration < HEART_SOUND_PAIR_LONGEST_S) & (wheezes.frequency_hz < HEART_HARMONIC_MAX_HZ)
    )
    keep = ~like_heart | ((covered[b] - covered[a]) / (b - a) < 0.5)
    return WheezeEvents(wheezes.start_s[keep], wheezes.end_s[keep], wheezes.frequency_hz[keep])


def _ratio_score(value: float, threshold: float) -> float:
    """A 0-1 score that crosses 0.5 at the presence threshold (logistic in log ratio)."""
    if threshold <= 0:
        return 1.0 if value > 0 else 0.0
    return float(1.0 / (1.0 + (threshold / max(value, 1e-9)) ** 2))


def _rate_confidence(breathing: Breathing, coverage: float) -> float:
    if breathing.rate_bpm is None:
        return 0.0
    agreement = 1.0
    if breathing.period_s and len(breathing.cycle_start_s) >= 2:
        lengths = breathing.cycle_end_s - breathing.cycle_start_s
        agreement = float(np.exp(-(((np.median(lengths) / breathing.period_s - 1.0) / 0.15) ** 2)))
    periodic = min(1.0, breathing.periodicity / 0.5)
    return float(
        np.clip(np.sqrt(min(1.0, coverage)) * (0.5 + 0.5 * agreement) * periodic, 0.0, 1.0)
    )


def parameters(model: LungModel | None = None) -> dict[str, float | int | str]:
    """The settings behind a lung result, stored with it."""
    model = model or load_model()
    return {
        "method": (
            "breath-envelope autocorrelation, spectral-peak wheezes at two resolutions,"
            " transient crackles"
        ),
        "breath_band_hz": "150-1000",
        "tonal_db": model.tonal_db,
        "low_tonal_db": model.low_tonal_db,
        "min_wheeze_s": model.min_wheeze_s,
        "crackle_threshold": model.crackle_threshold,
        "wheeze_fraction_present": model.wheeze_fraction_present,
        "crackles_per_min_present": model.crackles_per_min_present,
        "crackles_per_cycle": model.crackles_per_cycle,
    }
