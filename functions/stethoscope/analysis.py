"""Entry points of the analysis core: samples or a file in, an `AnalysisResult` out."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO, TypedDict

import numpy as np
import numpy.typing as npt

from stethoscope import resampling
from stethoscope.allocator import reuse_freed_memory
from stethoscope.audio import DecodedAudio, condition_samples, read_recording
from stethoscope.errors import AnalysisInputError
from stethoscope.heart.analysis import ANALYSIS_RATE_HZ as HEART_RATE_HZ
from stethoscope.heart.analysis import (
    HEART_MIN_USABLE_DURATION_S,
    HeartAnalysis,
    analyze_heart,
    withhold_unusable,
)
from stethoscope.heart.model import HeartModel
from stethoscope.hum import remove_mains_hum
from stethoscope.lung.analysis import ANALYSIS_RATE_HZ as LUNG_RATE_HZ
from stethoscope.lung.analysis import MIN_SAMPLE_RATE_HZ as LUNG_MIN_SAMPLE_RATE_HZ
from stethoscope.lung.analysis import LungAnalysis, analyze_lung, without_findings
from stethoscope.lung.detectors import LungDetectors
from stethoscope.quality import QualityEvidence, assess_quality
from stethoscope.result import AnalysisResult, Kind
from stethoscope.version import ANALYSIS_VERSION

KINDS: tuple[Kind, ...] = ("heart", "lung")


class _Measured(TypedDict):
    """Quality evidence measured on the raw recording, before any analysis."""

    duration_s: float
    level_dbfs: float
    clipping_fraction: float
    mains_hum_hz: float | None  # mains hum notched out before the analysis (`hum.py`)


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
    return analyze_file_detailed(source, kind).result


def analyze_file_detailed(
    source: str | Path | bytes | BinaryIO, kind: Kind = "heart"
) -> DetailedAnalysis:
    """Decode a file straight to the analysis rate (bounded memory) and analyse it."""
    _check_kind(kind)
    return analyze_decoded(read_recording(source, target_rate_hz=analysis_rate_hz(kind)), kind)


def analyze_detailed(
    samples: npt.ArrayLike,
    sample_rate_hz: float,
    kind: Kind = "heart",
    *,
    heart_model: HeartModel | None = None,
    lung_detectors: LungDetectors | None = None,
) -> DetailedAnalysis:
    """Like `analyze`, also returning the intermediate signals.

    `heart_model` and `lung_detectors` replace the shipped models (the out-of-fold benches pass
    the ones fitted without the recording's patient).
    """
    _check_kind(kind)
    audio = condition_samples(samples, sample_rate_hz, target_rate_hz=analysis_rate_hz(kind))
    return analyze_decoded(audio, kind, heart_model=heart_model, lung_detectors=lung_detectors)


def analysis_rate_hz(kind: Kind) -> float:
    """The rate each kind of analysis runs at (recordings are decimated to it)."""
    return HEART_RATE_HZ if kind == "heart" else LUNG_RATE_HZ


def analyze_decoded(
    audio: DecodedAudio,
    kind: Kind = "heart",
    *,
    heart_model: HeartModel | None = None,
    lung_detectors: LungDetectors | None = None,
) -> DetailedAnalysis:
    """Analyse decoded audio (already at the analysis rate, or decimated here)."""
    _check_kind(kind)
    reuse_freed_memory()  # once per process: no page faults for the arrays of each analysis
    if audio.sample_rate_hz > analysis_rate_hz(kind) * 1.01:
        audio = _decimated(audio, analysis_rate_hz(kind))
    x, mains_hz = remove_mains_hum(audio.samples.astype(np.float64), audio.sample_rate_hz)
    rate = audio.sample_rate_hz
    measured = _Measured(
        duration_s=audio.duration_s,
        level_dbfs=audio.level_dbfs,
        clipping_fraction=audio.clipping_fraction,
        mains_hum_hz=mains_hz,
    )
    heart = lung = None
    if kind == "heart":
        heart = analyze_heart(x, rate, heart_model)
        evidence = QualityEvidence(
            **measured,
            snr_db=heart.snr_db,
            periodicity=None if heart.cycle is None else heart.cycle.periodicity,
            coverage=heart.coverage,
            events=len(heart.heart.beats),
            min_events=2,
            few_events_reason="few_beats",
        )
        evidence = replace(
            evidence,
            interpretable_probability=heart.interpretable_probability,
            interpretable=heart.interpretable,
            min_duration_s=HEART_MIN_USABLE_DURATION_S,
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
            sample_rate_hz=rate,
            min_sample_rate_hz=LUNG_MIN_SAMPLE_RATE_HZ,
        )
    quality = assess_quality(evidence)
    lung_result = None if lung is None else lung.lung
    if lung_result is not None and not quality.usable:
        lung_result = without_findings(lung_result)  # an unusable take gets no lung findings
    result = AnalysisResult(
        kind=kind,
        version=ANALYSIS_VERSION,
        duration_s=round(audio.duration_s, 4),
        sample_rate_hz=float(audio.source_rate_hz),
        analysis_rate_hz=round(rate, 3),
        quality=quality,
        heart=None if heart is None else withhold_unusable(heart.heart, quality.usable),
        lung=lung_result,
        parameters=_parameters(kind, rate)
        | ({} if mains_hz is None else {"mains_hum_removed_hz": mains_hz}),
    )
    return DetailedAnalysis(result, x, rate, heart, lung)


def _decimated(audio: DecodedAudio, target_rate_hz: float) -> DecodedAudio:
    """The decoded recording brought to about `target_rate_hz`. Only the samples change: the
    level, clipping and length were measured at the recorded rate when it was decoded or
    conditioned, and measuring them again would only cost a pass over the samples."""
    samples, rate_hz = resampling.resample(audio.samples, audio.sample_rate_hz, target_rate_hz)
    return replace(audio, samples=samples, sample_rate_hz=rate_hz)


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise AnalysisInputError("unsupported_kind", f"kind must be one of {KINDS}, not {kind!r}")


def _parameters(kind: Kind, rate_hz: float) -> dict[str, float | int | str]:
    """The settings that produced a result, stored with it for reproducibility."""
    if kind == "heart":
        from stethoscope.heart import cycle, segmentation, sounds
        from stethoscope.heart.model import load_model

        return {
            "method": "envelope-autocorrelation cycle + event-level duration Viterbi",
            "analysis_rate_hz": round(rate_hz, 3),
            "sound_band_hz": f"{sounds.SOUND_BAND_HZ[0]:g}-{sounds.SOUND_BAND_HZ[1]:g}",
            "frame_rate_hz": sounds.FRAME_RATE_HZ,
            "heart_rate_range_bpm": f"{cycle.MIN_HEART_RATE_BPM:g}-{cycle.MAX_HEART_RATE_BPM:g}",
            "missed_sound_penalty": segmentation.MISSED_SOUND_PENALTY,
            "restart_penalty": load_model().decoder.restart_penalty,
        }
    from stethoscope.lung import analysis as lung_analysis

    return dict(lung_analysis.parameters(), analysis_rate_hz=round(rate_hz, 3))
