"""Entry points of the analysis core: samples or a file in, an `AnalysisResult` out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from stethoscope.audio import Recording, read_recording, resample, validate_samples
from stethoscope.errors import AnalysisInputError
from stethoscope.heart.analysis import ANALYSIS_RATE_HZ as HEART_RATE_HZ
from stethoscope.heart.analysis import HeartAnalysis, analyze_heart
from stethoscope.lung.analysis import ANALYSIS_RATE_HZ as LUNG_RATE_HZ
from stethoscope.lung.analysis import LungAnalysis, analyze_lung, without_findings
from stethoscope.lung.detectors import LungDetectors
from stethoscope.quality import QualityEvidence, assess_quality, clipping_fraction, level_dbfs
from stethoscope.result import AnalysisResult, Kind
from stethoscope.version import ANALYSIS_VERSION

KINDS: tuple[Kind, ...] = ("heart", "lung")


@dataclass(frozen=True)
class DetailedAnalysis:
    """The result plus the signals it was computed from (for plots and reports)."""

    result: AnalysisResult
    samples: npt.NDArray[np.float64]  # at the analysis rate
    rate_hz: float
    heart: HeartAnalysis | None
    lung: LungAnalysis | None


def analyze(samples: npt.ArrayLike, sample_rate_hz: float, kind: Kind = "heart") -> AnalysisResult:
    """Analyse a heart or lung recording given as samples (mono, or frames x channels).

    Raises `AnalysisInputError` (with a stable `code`) for input that cannot be analysed.
    """
    return analyze_detailed(samples, sample_rate_hz, kind).result


def analyze_file(source: str | Path | bytes | BinaryIO, kind: Kind = "heart") -> AnalysisResult:
    """Decode an audio file (path, bytes or seekable file object) and analyse it."""
    return analyze_recording(read_recording(source), kind).result


def analyze_recording(
    recording: Recording, kind: Kind = "heart", *, lung_detectors: LungDetectors | None = None
) -> DetailedAnalysis:
    """Analyse an already decoded recording."""
    return analyze_detailed(
        recording.samples, recording.sample_rate_hz, kind, lung_detectors=lung_detectors
    )


def analyze_detailed(
    samples: npt.ArrayLike,
    sample_rate_hz: float,
    kind: Kind = "heart",
    *,
    lung_detectors: LungDetectors | None = None,
) -> DetailedAnalysis:
    """Like `analyze`, also returning the intermediate signals. `lung_detectors` replaces the
    shipped lung detectors (the out-of-fold bench passes the ones fitted without the patient)."""
    if kind not in KINDS:
        raise AnalysisInputError("unsupported_kind", f"kind must be one of {KINDS}, not {kind!r}")
    raw = validate_samples(samples, sample_rate_hz)
    duration_s = len(raw) / sample_rate_hz
    measured = {
        "duration_s": duration_s,
        "level_dbfs": level_dbfs(raw),
        "clipping_fraction": clipping_fraction(raw),
    }
    target = HEART_RATE_HZ if kind == "heart" else LUNG_RATE_HZ
    resampled, rate = resample(raw, sample_rate_hz, target)
    x = resampled.astype(np.float64)
    heart = lung = None
    if kind == "heart":
        heart = analyze_heart(x, rate)
        evidence = QualityEvidence(
            **measured,
            snr_db=heart.snr_db,
            periodicity=None if heart.cycle is None else heart.cycle.periodicity,
            coverage=heart.coverage,
            events=len(heart.heart.beats),
            min_events=2,
            few_events_reason="few_beats",
        )
    else:
        lung = analyze_lung(x, rate, lung_detectors)
        evidence = QualityEvidence(
            **measured,
            snr_db=lung.snr_db,
            periodicity=lung.periodicity,
            coverage=lung.coverage,
            events=len(lung.lung.cycles) if lung.lung.respiratory_rate_bpm is not None else 0,
            min_events=1,
            few_events_reason="no_breathing",
            learned_usable=lung.findings.usable_probability,
            learned_threshold=lung.findings.usable_threshold,
        )
    quality = assess_quality(evidence)
    lung_result = None if lung is None else lung.lung
    if lung_result is not None and not quality.usable:
        lung_result = without_findings(lung_result)  # an unusable take gets no lung findings
    result = AnalysisResult(
        kind=kind,
        version=ANALYSIS_VERSION,
        duration_s=round(duration_s, 4),
        sample_rate_hz=float(sample_rate_hz),
        analysis_rate_hz=round(rate, 3),
        quality=quality,
        heart=None if heart is None else heart.heart,
        lung=lung_result,
        parameters=_parameters(kind, rate),
    )
    return DetailedAnalysis(result, x, rate, heart, lung)


def _parameters(kind: Kind, rate_hz: float) -> dict[str, float | int | str]:
    """The settings that produced a result, stored with it for reproducibility."""
    if kind == "heart":
        from stethoscope.heart import cycle, segmentation, sounds

        return {
            "method": "envelope-autocorrelation cycle + event-level duration Viterbi",
            "analysis_rate_hz": round(rate_hz, 3),
            "sound_band_hz": f"{sounds.SOUND_BAND_HZ[0]:g}-{sounds.SOUND_BAND_HZ[1]:g}",
            "frame_rate_hz": sounds.FRAME_RATE_HZ,
            "heart_rate_range_bpm": f"{cycle.MIN_HEART_RATE_BPM:g}-{cycle.MAX_HEART_RATE_BPM:g}",
            "missed_sound_penalty": segmentation.MISSED_SOUND_PENALTY,
            "restart_penalty": segmentation.RESTART_PENALTY,
        }
    from stethoscope.lung import analysis as lung_analysis

    return dict(lung_analysis.parameters(), analysis_rate_hz=round(rate_hz, 3))
