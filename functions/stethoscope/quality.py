"""Recording quality: how far the figures of a recording can be trusted.

The score combines level, clipping, the sound-to-background ratio, how periodic the signal is and
how much of it the analysis could follow. Hard problems (silence, clipping over a threshold, no
periodicity, too little signal) set `usable = False` with the reasons, so a bad take is re-recorded
instead of producing a confident wrong number.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stethoscope.result import Quality, QualityReason

SILENT_LEVEL_DBFS = -70.0
#: Share of samples on clipped plateaus above which the recording is flagged.
CLIPPED_FRACTION = 0.001
#: Share above which clipping alone makes the recording unusable.
UNUSABLE_CLIPPED_FRACTION = 0.02
LOW_SNR_DB = 4.0
NOISY_COVERAGE = 0.5
APERIODIC_PERIODICITY = 0.08
MIN_USABLE_DURATION_S = 2.0
USABLE_SCORE = 0.45


@dataclass(frozen=True)
class QualityEvidence:
    """What the analysis measured that bears on quality."""

    duration_s: float
    level_dbfs: float
    clipping_fraction: float
    snr_db: float | None
    periodicity: float | None  # autocorrelation strength of the cycle (heart or breathing)
    coverage: float  # share of the recording the analysis could follow (0..1)
    events: int  # complete beats or breath cycles found
    min_events: int  # fewer than this is "few_beats"/"no_breathing"
    few_events_reason: QualityReason
    #: The learned gate (heart): its probability that the recording can be interpreted and its
    #: verdict. When present, the score is that probability and the verdict replaces
    #: `USABLE_SCORE`; None: no gate, the heuristic score decides.
    interpretable_probability: float | None = None
    interpretable: bool | None = None
    min_duration_s: float = MIN_USABLE_DURATION_S
    #: Lung: the learned quality model's probability that the take is usable, and its cut
    #: (lung/detectors.py). When given, it decides; periodicity and cycle count are then
    #: reasons to list, not to reject (irregular breathing still has wheezes and crackles).
    learned_usable: float | None = None
    learned_threshold: float = 0.5
    #: Mains hum notched out before the analysis (Hz), listed as a reason (not a rejection).
    mains_hum_hz: float | None = None
    #: The rate the analysis ran at, and the lowest its features can be measured at (0: any).
    sample_rate_hz: float = 0.0
    min_sample_rate_hz: float = 0.0


def assess_quality(evidence: QualityEvidence) -> Quality:
    """Score the evidence (0-1), list the reasons, decide whether the figures are usable."""
    reasons: list[QualityReason] = []
    hard = False
    if evidence.duration_s < evidence.min_duration_s:
        reasons.append("too_short")
        hard = True
    if evidence.level_dbfs < SILENT_LEVEL_DBFS:
        reasons.append("silent")
        hard = True
    if evidence.mains_hum_hz is not None:
        reasons.append("mains_hum")
    if evidence.sample_rate_hz < evidence.min_sample_rate_hz:
        reasons.append("low_sample_rate")
        hard = True
    if evidence.clipping_fraction > CLIPPED_FRACTION:
        reasons.append("clipped")
        hard = hard or evidence.clipping_fraction > UNUSABLE_CLIPPED_FRACTION
    if evidence.snr_db is not None and evidence.snr_db < LOW_SNR_DB:
        reasons.append("low_snr")
    if evidence.coverage < NOISY_COVERAGE and evidence.events >= evidence.min_events:
        reasons.append("noisy")
    learned = evidence.learned_usable is not None
    if evidence.periodicity is None or evidence.periodicity < APERIODIC_PERIODICITY:
        reasons.append("aperiodic")
        hard = hard or not learned
    if evidence.events < evidence.min_events:
        reasons.append(evidence.few_events_reason)
        hard = hard or not learned
    if evidence.interpretable is False:
        reasons.append("uninterpretable")
        hard = True

    snr_term = (
        0.5 if evidence.snr_db is None else float(np.clip((evidence.snr_db - 2.0) / 10.0, 0, 1))
    )
    periodic_term = float(np.clip((evidence.periodicity or 0.0) / 0.35, 0, 1))
    coverage_term = float(np.clip(evidence.coverage, 0, 1))
    clip_term = 1.0 - float(np.clip(evidence.clipping_fraction / UNUSABLE_CLIPPED_FRACTION, 0, 1))
    duration_term = float(np.clip(evidence.duration_s / 5.0, 0.4, 1))
    score = (0.3 * snr_term + 0.3 * periodic_term + 0.4 * coverage_term) * clip_term * duration_term
    if evidence.interpretable_probability is not None:
        score = evidence.interpretable_probability * clip_term
    if evidence.learned_usable is not None:
        score = _learned_score(evidence.learned_usable, evidence.learned_threshold) * clip_term
        if evidence.learned_usable < evidence.learned_threshold:
            reasons.append("not_breath_sounds")
            hard = True
    if hard:
        score = min(score, USABLE_SCORE - 0.05)
    score = round(float(np.clip(score, 0.0, 1.0)), 3)
    return Quality(
        score=score,
        usable=not hard
        and (score >= USABLE_SCORE if evidence.interpretable is None else evidence.interpretable),
        reasons=reasons,
        clipping_fraction=round(evidence.clipping_fraction, 6),
        snr_db=None if evidence.snr_db is None else round(evidence.snr_db, 1),
        level_dbfs=round(evidence.level_dbfs, 1),
    )


def _learned_score(probability: float, threshold: float) -> float:
    """The learned probability mapped so that its cut falls on `USABLE_SCORE`."""
    if probability >= threshold:
        return USABLE_SCORE + (probability - threshold) / max(1.0 - threshold, 1e-9) * (
            1.0 - USABLE_SCORE
        )
    return USABLE_SCORE * probability / max(threshold, 1e-9)
