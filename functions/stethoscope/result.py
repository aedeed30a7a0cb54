"""The analysis result: one Pydantic model, the contract between the analysis and everything else.

`model_dump()` gives snake_case keys for Python callers and the evaluation scripts;
`model_dump(by_alias=True)` gives the camelCase keys stored in Firestore and read by the
JavaScript frontend (DESIGN §7). Times are seconds from the start of the recording.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

Kind = Literal["heart", "lung"]
QualityReason = Literal[
    "too_short",  # too little signal to trust the figures
    "silent",  # the level is too low to hear anything
    "clipped",  # the signal hits full scale (distorted)
    "low_snr",  # the sounds barely rise above the background
    "noisy",  # bursts of noise (rubbing, speech, movement) cover much of the recording
    "aperiodic",  # no repeating cardiac cycle found
    "few_beats",  # too few complete beats were segmented
    "no_breathing",  # no breathing cycle found in a lung recording
    "uninterpretable",  # the learned gate does not recognise a heart recording it can interpret
    "not_breath_sounds",  # the lung quality model does not hear usable breath sounds
    "low_sample_rate",  # recorded at a rate too low for this kind (lung: below 2 kHz)
    "mains_hum",  # 50/60 Hz hum was notched out before the analysis (check the device's grounding)
]
RateFlag = Literal[
    "no_rate",  # no cycle found
    "hypotheses_disagree",  # the rate estimates (beats, autocorrelation, cycle hypotheses) differ
    "few_beats",  # too few consecutive beats to measure the rate
    "irregular_intervals",  # the S1-to-S1 intervals vary widely
    "uninterpretable",  # the recording failed the quality gate
]


class ResultModel(BaseModel):
    """Base: snake_case attributes, camelCase aliases, immutable, no unknown fields."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid"
    )


class Quality(ResultModel):
    """How far the figures of this recording can be trusted."""

    score: float = Field(ge=0, le=1, description="0 = unusable, 1 = clean recording")
    usable: bool = Field(description="False: re-record rather than rely on the figures")
    reasons: list[QualityReason] = Field(default_factory=list)
    clipping_fraction: float = Field(ge=0, le=1, description="share of samples at full scale")
    snr_db: float | None = Field(None, description="sound-to-background ratio estimate")
    level_dbfs: float = Field(description="RMS level of the raw recording, dB full scale")


class Beat(ResultModel):
    """One cardiac cycle: the S1 and S2 sounds that open systole and diastole."""

    s1_onset_s: float
    s1_offset_s: float
    s2_onset_s: float
    s2_offset_s: float


class Murmur(ResultModel):
    """Murmur detection from systolic/diastolic energy and spectral features across beats."""

    present: bool | None = Field(description="None: cannot tell from this recording")
    timing: Literal["systolic", "diastolic", "continuous"] | None = None
    systolic_timing: Literal["holosystolic", "early-systolic"] | None = Field(
        default=None,
        description="for a systolic murmur: lasting up to S2 (holosystolic) or fading before it "
        "(early-systolic), as CirCor 2022's annotators judged; None otherwise",
    )
    holosystolic_score: float | None = Field(
        default=None, ge=0, le=1, description="for a systolic murmur: P(holosystolic)"
    )
    score: float = Field(ge=0, le=1, description="probability that a murmur is present")
    systolic_score: float = Field(ge=0, le=1)
    diastolic_score: float = Field(ge=0, le=1)
    beat_evidence: list[float] = Field(
        default_factory=list,
        description="per decoded systole: its level relative to the bounding S1/S2 peaks (dB)",
    )


class HeartResult(ResultModel):
    """Heart-sound figures: rate, segmentation, rhythm, murmur."""

    heart_rate_bpm: float | None
    heart_rate_confidence: float = Field(
        ge=0, le=1, description="calibrated probability that the rate is within 5 bpm"
    )
    heart_rate_flags: list[RateFlag] = Field(
        default_factory=list, description="why the rate may be wrong"
    )
    segmentation_confidence: float = Field(ge=0, le=1)
    beats: list[Beat]
    rr_intervals_s: list[float]
    rhythm: Literal["regular", "irregular"] | None
    rhythm_confidence: float = Field(ge=0, le=1)
    systole_s: float | None = Field(description="median S1 onset to S2 onset")
    diastole_s: float | None = Field(description="median S2 onset to next S1 onset")
    murmur: Murmur


class BreathCycle(ResultModel):
    start_s: float
    end_s: float


class Wheeze(ResultModel):
    start_s: float
    end_s: float
    frequency_hz: float = Field(description="dominant frequency of the tonal ridge")
    kind: Literal["wheeze", "rhonchus", "stridor"] = Field(
        "wheeze", description="by pitch: rhonchus low (<= 200 Hz), stridor very high"
    )
    confidence: float | None = Field(None, ge=0, le=1, description="detector probability")


class Crackle(ResultModel):
    time_s: float
    kind: Literal["fine", "coarse"]
    confidence: float | None = Field(None, ge=0, le=1, description="detector probability")


class LungResult(ResultModel):
    """Lung-sound figures: breathing rate and cycles, wheezes, crackles."""

    respiratory_rate_bpm: float | None = Field(description="breaths per minute")
    respiratory_rate_confidence: float = Field(ge=0, le=1)
    cycles: list[BreathCycle]
    wheezes: list[Wheeze]
    crackles: list[Crackle]
    wheeze_present: bool | None
    crackle_present: bool | None
    wheeze_score: float = Field(ge=0, le=1)
    crackle_score: float = Field(ge=0, le=1)
    wheeze_fraction: float = Field(ge=0, le=1, description="share of the recording with wheeze")
    crackles_per_min: float | None
    crackle_counts_per_min: list[int] = Field(
        default_factory=list, description="crackles in each whole or partial minute"
    )


class AnalysisResult(ResultModel):
    """Everything one analysis run produced, with the version and parameters that produced it."""

    kind: Kind
    version: str
    duration_s: float
    sample_rate_hz: float = Field(description="rate of the recording as uploaded")
    analysis_rate_hz: float = Field(description="rate the analysis ran at")
    quality: Quality
    heart: HeartResult | None = None
    lung: LungResult | None = None
    parameters: dict[str, float | int | str] = Field(default_factory=dict)
