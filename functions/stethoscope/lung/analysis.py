"""Lung-sound analysis: breathing rate and cycles, wheezes, crackles, whether the take is usable.

One spectrogram serves everything: the breath envelope (`breathing.py`) and the features
(`features.py`) of the learned detectors (`detectors.py`, fitted by `training/train_lung.py` on
SPRSound 2022). Only the detectors' confident findings are reported as events; a take the
quality model does not accept gets no wheeze or crackle decision.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stethoscope.arrays import FloatArray
from stethoscope.lung.breathing import BreathEnvelope, Breathing, breath_envelope, find_breathing
from stethoscope.lung.detectors import (
    MODEL_PATH,
    TOP_WINDOWS,
    Findings,
    LungDetectors,
    detect,
    load_detectors,
    load_model_file,
)
from stethoscope.lung.features import LungFeatures, lung_features
from stethoscope.lung.wheeze import HIGH_PITCHED, Spectrogram, spectrogram, tonal_peaks
from stethoscope.order_statistics import median, percentile
from stethoscope.result import BreathCycle, Crackle, LungResult, Wheeze

ANALYSIS_RATE_HZ = 4000.0
#: Below this the features (bands and tonal peaks up to 1000 Hz) cannot be measured: a take is
#: unusable with reason `low_sample_rate`. (Session 6: SPRSound takes brought to 2 kHz gave the
#: same answers as at 8 kHz, 10 of 10; at 1.5 and 1 kHz the gate turned them all down.)
MIN_SAMPLE_RATE_HZ = 2000.0
#: Tonal lines this far above their frame's spectrum are left out of the breath envelope (a loud
#: expiratory wheeze would otherwise look like a second breath); see breathing.py.
ENVELOPE_TONAL_DB = 8.0
NEPER_TO_DB = 20.0 / np.log(10.0)


@dataclass(frozen=True)
class LungAnalysis:
    """The lung result plus the signals a report draws."""

    lung: LungResult
    envelope: BreathEnvelope
    breathing: Breathing
    spectrogram: Spectrogram
    features: LungFeatures
    findings: Findings
    snr_db: float | None
    periodicity: float
    coverage: float


def analyze_lung(
    x: FloatArray, fs_hz: float, detectors: LungDetectors | None = None
) -> LungAnalysis:
    """Analyse a lung recording at (about) `ANALYSIS_RATE_HZ`."""
    detectors = detectors or load_detectors()
    duration_s = len(x) / fs_hz
    spec = spectrogram(x, fs_hz, HIGH_PITCHED)
    envelope = breath_envelope(spec, tonal_peaks(spec, HIGH_PITCHED, ENVELOPE_TONAL_DB))
    breathing = find_breathing(envelope)
    features = lung_features(x, fs_hz, spec)
    findings = detect(features, detectors)

    minutes = duration_s / 60.0
    crackle_times = np.array([c.time_s for c in findings.crackles])
    counts = np.bincount((crackle_times // 60).astype(int), minlength=int(np.ceil(minutes)))
    wheeze_s = _covered_s([(w.start_s, w.end_s) for w in findings.wheezes])
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
                start_s=round(w.start_s, 3),
                end_s=round(w.end_s, 3),
                frequency_hz=round(w.frequency_hz, 1),
                kind=w.kind,
                confidence=round(w.confidence, 3),
            )
            for w in findings.wheezes
        ],
        crackles=[
            Crackle(
                time_s=round(c.time_s, 4),
                kind="coarse" if c.coarse else "fine",
                confidence=round(c.confidence, 3),
            )
            for c in findings.crackles
        ],
        wheeze_present=findings.wheeze_present,
        crackle_present=findings.crackle_present,
        wheeze_score=round(findings.wheeze_score, 3),
        crackle_score=round(findings.crackle_score, 3),
        wheeze_fraction=round(min(1.0, wheeze_s / duration_s), 4),
        crackles_per_min=round(len(findings.crackles) / minutes, 1),
        crackle_counts_per_min=[int(c) for c in counts],
    )
    spread = percentile(envelope.log_amplitude, [10, 90])
    snr_db = float(NEPER_TO_DB * (spread[1] - spread[0]))
    return LungAnalysis(
        lung,
        envelope,
        breathing,
        spec,
        features,
        findings,
        snr_db,
        breathing.periodicity,
        coverage,
    )


def without_findings(lung: LungResult) -> LungResult:
    """The result of a take judged unusable: no wheeze or crackle decision and no events."""
    return lung.model_copy(
        update={
            "wheeze_present": None,
            "crackle_present": None,
            "wheezes": [],
            "crackles": [],
            "wheeze_fraction": 0.0,
            "crackles_per_min": None,
            "crackle_counts_per_min": [],
        }
    )


def _covered_s(spans: list[tuple[float, float]]) -> float:
    """Time covered by at least one span."""
    total, reach = 0.0, float("-inf")
    for a, b in sorted(spans):
        total += max(0.0, b - max(a, reach))
        reach = max(reach, b)
    return total


def _rate_confidence(breathing: Breathing, coverage: float) -> float:
    """0-1: how far the cut cycles cover the recording, agree with the period, and how periodic
    the envelope is (hand-set combination, not fitted)."""
    if breathing.rate_bpm is None:
        return 0.0
    agreement = 1.0
    if breathing.period_s and len(breathing.cycle_start_s) >= 2:
        lengths = breathing.cycle_end_s - breathing.cycle_start_s
        agreement = float(np.exp(-(((median(lengths) / breathing.period_s - 1.0) / 0.15) ** 2)))
    periodic = min(1.0, breathing.periodicity / 0.5)
    return float(
        np.clip(np.sqrt(min(1.0, coverage)) * (0.5 + 0.5 * agreement) * periodic, 0.0, 1.0)
    )


def parameters() -> dict[str, float | int | str]:
    """The settings behind a lung result, stored with it."""
    training = load_model_file(MODEL_PATH)["training"]
    return {
        "method": (
            "breath-envelope autocorrelation; learned (small MLP) wheeze, crackle and quality"
            " detectors on spectral and transient window features; quality judged only within"
            " the range of the usable training takes"
        ),
        "breath_band_hz": "150-1000",
        "detectors": MODEL_PATH.name,
        "detectors_fitted_at": str(training["fitted_at"]),
        "detectors_top_windows": TOP_WINDOWS,
    }
