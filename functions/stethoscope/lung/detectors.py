"""Learned wheeze, crackle and quality detectors, evaluated in numpy.

Small learned heads on standardised features (`stethoscope.lung.features`: one-hidden-layer MLPs,
a logistic regression for fine/coarse), fitted by `training/train_lung.py` on SPRSound 2022
(events and record labels) and a synthetic noise corpus, stored with their thresholds and
provenance in `lung_detectors.json`:

* `crackle` and `wheeze`: the probability that a 0.256 s window lies in a breath the annotators
  marked as holding crackles (wheezes). A recording has the sound when its score — the mean of
  its `TOP_WINDOWS` most probable windows, or of all its windows, or (crackles) the probability
  of a record-level logistic regression on `record_inputs`, as the head's `record_aggregate`
  says — reaches the head's `record_threshold`; only then are its
  windows at or above `event_threshold` reported (or, when none reaches it, its most probable
  window: `event_cut`), each as one finding with its probability — a crackle at the loudest 4 ms
  of the window, a wheeze spanning the run of such windows.
* `coarse`: among crackle windows, the probability the crackles are coarse (else fine).
* `quality`: from the recording summary, the probability that the take is usable; below
  `threshold` the recording gets no wheeze or crackle decision at all. A take whose summary lies
  outside `familiar_low`..`familiar_high` (the range of the usable training takes, widened; see
  training/train_lung.py) is unlike anything the head learned from — a clean tone, mains hum,
  clicks in digital silence — and gets probability 0 instead of the head's extrapolation.

The thresholds are chosen on the training patients only (see training/train_lung.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np

from stethoscope.arrays import FloatArray
from stethoscope.lung.features import (
    FRAME_FEATURES,
    RECORD_FEATURES,
    WINDOW_FEATURES,
    LungFeatures,
)
from stethoscope.order_statistics import median, percentile

MODEL_PATH = Path(__file__).with_name("lung_detectors.json")
#: A recording's "top" score is the mean of its most probable windows: one stray window is not a
#: finding, a few are (fixed a priori, not tuned). Wheezes are local and suit it; crackles, spread
#: over many breaths, may suit the mean of all windows better: training picks per head.
TOP_WINDOWS = 3
#: "head": a record-level logistic regression (`record_head`) on `record_inputs` — summaries of the
#: window probabilities, the recording summary and the windows' mean and 90th percentile.
RecordAggregate = Literal["top", "mean", "head"]
#: The window-probability summaries `record_inputs` passes to a record head, per window head
#: (crackle, then wheeze), on the logit scale where noted (fixed a priori, not tuned).
PROBABILITY_SUMMARIES = (
    "logit_top3",
    "logit_top10",
    "logit_mean",
    "logit_p75",
    "share_at_0.9",
    "share_at_0.7",
)
#: Low-pitched wheezes (rhonchi) lie at or below 200 Hz (Pasterkamp et al. 1997, Am J Respir Crit
#: Care Med 156(3)); stridor is a very high-pitched, loud wheeze — above 600 Hz here (a pitch
#: rule only, not validated: SPRSound has 15 stridor events, and its device passes little above
#: 800 Hz).
RHONCHUS_MAX_HZ = 200.0
STRIDOR_MIN_HZ = 600.0
#: Windows overlap by half: a run of windows is one wheeze from the first start to the last end.
WheezeKind = Literal["wheeze", "rhonchus", "stridor"]


@dataclass(frozen=True)
class LogisticHead:
    """Standardise, then a logistic regression — on the features, or, when the model file gives
    `members`, the mean probability of a few small MLPs (one hidden layer of rectified units,
    trained from different seeds: one alone moves by ±0.01 in the figures with the seed)."""

    mean: FloatArray
    scale: FloatArray
    coef: FloatArray
    intercept: float
    members: tuple[tuple[FloatArray, FloatArray, FloatArray, float], ...] = ()

    def probability(self, features: FloatArray) -> FloatArray:
        z = (features - self.mean) / self.scale
        if not self.members:
            return _sigmoid(z @ self.coef + self.intercept)
        total = np.zeros(len(z))
        for hidden_coef, hidden_intercept, coef, intercept in self.members:
            total += _sigmoid(
                np.maximum(z @ hidden_coef + hidden_intercept, 0.0) @ coef + intercept
            )
        mean: FloatArray = total / len(self.members)
        return mean

    @staticmethod
    def from_json(raw: dict[str, Any]) -> LogisticHead:
        members = tuple(
            (
                np.asarray(m["hidden_coef"], dtype=np.float64),
                np.asarray(m["hidden_intercept"], dtype=np.float64),
                np.asarray(m["coef"], dtype=np.float64),
                float(m["intercept"]),
            )
            for m in raw.get("members", [])
        )
        return LogisticHead(
            np.asarray(raw["mean"], dtype=np.float64),
            np.asarray(raw["scale"], dtype=np.float64),
            np.asarray(raw.get("coef", []), dtype=np.float64),
            float(raw.get("intercept", 0.0)),
            members,
        )


def _sigmoid(logit: FloatArray) -> FloatArray:
    p: FloatArray = 1.0 / (1.0 + np.exp(-np.clip(logit, -30.0, 30.0)))
    return p


@dataclass(frozen=True)
class EventHead:
    """A window detector with its recording and event thresholds."""

    head: LogisticHead
    record_aggregate: RecordAggregate
    record_threshold: float
    event_threshold: float
    record_head: LogisticHead | None = None

    def record_score(
        self,
        window_probability: FloatArray,
        features: LungFeatures | None = None,
        other_probability: FloatArray | None = None,
    ) -> float:
        """The recording's score; a record head needs the features and the other head's
        window probabilities too (its inputs: `record_inputs`)."""
        if self.record_aggregate != "head":
            return record_score(window_probability, self.record_aggregate)
        assert self.record_head is not None and features is not None
        assert other_probability is not None
        x = record_inputs(features, window_probability, other_probability)
        return float(self.record_head.probability(x[None, :])[0])

    @staticmethod
    def from_json(raw: dict[str, Any]) -> EventHead:
        aggregate = raw.get("record_aggregate", "top")
        if aggregate not in ("top", "mean", "head"):
            raise ValueError(f"unknown record aggregate {aggregate!r}")
        if aggregate == "head" and "record_head" not in raw:
            raise ValueError("record aggregate 'head' without a record_head")
        return EventHead(
            LogisticHead.from_json(raw),
            aggregate,
            float(raw["record_threshold"]),
            float(raw["event_threshold"]),
            LogisticHead.from_json(raw["record_head"]) if aggregate == "head" else None,
        )


@dataclass(frozen=True)
class LungDetectors:
    crackle: EventHead
    wheeze: EventHead
    coarse: LogisticHead
    quality: LogisticHead
    quality_threshold: float
    familiar_low: FloatArray  # per `RECORD_FEATURES`: outside these, the take is not familiar
    familiar_high: FloatArray

    def familiar(self, record: FloatArray) -> bool:
        """Whether a recording summary lies within the range of the usable training takes."""
        return within(record, self.familiar_low, self.familiar_high)

    @staticmethod
    def from_json(raw: dict[str, Any]) -> LungDetectors:
        if (
            tuple(raw["window_features"]) != WINDOW_FEATURES
            or tuple(raw["record_features"]) != RECORD_FEATURES
        ):
            raise ValueError("lung detector model was fitted on other features: retrain it")
        return LungDetectors(
            EventHead.from_json(raw["crackle"]),
            EventHead.from_json(raw["wheeze"]),
            LogisticHead.from_json(raw["coarse"]),
            LogisticHead.from_json(raw["quality"]),
            float(raw["quality"]["threshold"]),
            np.asarray(raw["quality"]["familiar_low"], dtype=np.float64),
            np.asarray(raw["quality"]["familiar_high"], dtype=np.float64),
        )


def within(record: FloatArray, low: FloatArray, high: FloatArray) -> bool:
    """Every value of `record` in `low`..`high` (a NaN anywhere is not within)."""
    return bool(np.all((record >= low) & (record <= high)))


@lru_cache(maxsize=1)
def load_model_file(path: Path = MODEL_PATH) -> dict[str, Any]:
    raw: dict[str, Any] = json.loads(path.read_text())
    return raw


@lru_cache(maxsize=8)
def load_detectors(path: Path = MODEL_PATH, fold: int | None = None) -> LungDetectors:
    """The shipped detectors, or (for the out-of-fold bench) those fitted without fold `fold`."""
    raw = load_model_file(path)
    if fold is None:
        return LungDetectors.from_json(raw)
    return LungDetectors.from_json({**raw, **raw["folds"][fold]})


@dataclass(frozen=True)
class CrackleFinding:
    time_s: float
    coarse: bool
    confidence: float


@dataclass(frozen=True)
class WheezeFinding:
    start_s: float
    end_s: float
    frequency_hz: float
    kind: WheezeKind
    confidence: float


@dataclass(frozen=True)
class Findings:
    """What the detectors say about one recording."""

    usable: bool
    usable_probability: float  # 0 when the take is not `familiar`
    usable_threshold: float
    familiar: bool  # its summary lies within the usable training takes' range
    crackle_score: float  # the record head's probability (or the top windows' mean)
    wheeze_score: float
    crackle_present: bool | None  # None when the take is not usable
    wheeze_present: bool | None
    crackles: list[CrackleFinding]
    wheezes: list[WheezeFinding]
    crackle_probability: FloatArray  # per window
    wheeze_probability: FloatArray


def record_score(window_probability: FloatArray, aggregate: RecordAggregate = "top") -> float:
    """Mean of the `TOP_WINDOWS` most probable windows (all of them if fewer), or of all."""
    if len(window_probability) == 0:
        return 0.0
    if aggregate == "mean":
        return float(np.mean(window_probability))
    k = min(TOP_WINDOWS, len(window_probability))
    return float(np.mean(np.partition(window_probability, -k)[-k:]))


def _logit(p: float) -> float:
    q = min(max(p, 1e-4), 1.0 - 1e-4)
    return float(np.log(q / (1.0 - q)))


def _summaries(p: FloatArray) -> list[float]:
    """`PROBABILITY_SUMMARIES` of one head's window probabilities."""
    if len(p) == 0:
        return [_logit(0.0)] * 4 + [0.0, 0.0]
    ordered = np.sort(p)[::-1]
    return [
        _logit(float(ordered[:3].mean())),
        _logit(float(ordered[:10].mean())),
        _logit(float(p.mean())),
        _logit(float(percentile(p, 75))),
        float(np.mean(p >= 0.9)),
        float(np.mean(p >= 0.7)),
    ]


def record_inputs(features: LungFeatures, p_self: FloatArray, p_other: FloatArray) -> FloatArray:
    """A record head's inputs: `PROBABILITY_SUMMARIES` of its own window head, then of the other
    (crackle and wheeze share breaths), log window count, the recording summary
    (`RECORD_FEATURES`), and the mean and 90th percentile of each window feature."""
    windows = features.windows
    if len(windows):
        mean, p90 = windows.mean(axis=0), percentile(windows, 90, axis=0)
    else:
        mean = p90 = np.zeros(len(WINDOW_FEATURES))
    x: FloatArray = np.concatenate(
        [
            _summaries(p_self),
            _summaries(p_other),
            [float(np.log(max(len(windows), 1)))],
            features.record,
            mean,
            p90,
        ]
    )
    return x


def detect(features: LungFeatures, model: LungDetectors) -> Findings:
    """Quality, record-level decisions and the reported events of one recording."""
    familiar = model.familiar(features.record)
    usable_p = float(model.quality.probability(features.record[None, :])[0]) if familiar else 0.0
    usable = usable_p >= model.quality_threshold
    p_crackle = model.crackle.head.probability(features.windows)
    p_wheeze = model.wheeze.head.probability(features.windows)
    c_score = model.crackle.record_score(p_crackle, features, p_wheeze)
    w_score = model.wheeze.record_score(p_wheeze, features, p_crackle)
    crackle_present: bool | None = None
    wheeze_present: bool | None = None
    crackles: list[CrackleFinding] = []
    wheezes: list[WheezeFinding] = []
    if usable:
        crackle_present = c_score >= model.crackle.record_threshold
        wheeze_present = w_score >= model.wheeze.record_threshold
        if crackle_present:
            crackles = _crackles(
                features, p_crackle, event_cut(p_crackle, model.crackle.event_threshold), model
            )
        if wheeze_present:
            wheezes = _wheezes(
                features, p_wheeze, event_cut(p_wheeze, model.wheeze.event_threshold)
            )
    return Findings(
        usable,
        usable_p,
        model.quality_threshold,
        familiar,
        c_score,
        w_score,
        crackle_present,
        wheeze_present,
        crackles,
        wheezes,
        p_crackle,
        p_wheeze,
    )


def event_cut(probability: FloatArray, threshold: float) -> float:
    """The probability a window needs to be reported in a recording that has the sound: the
    head's event threshold, or the recording's most probable window when none reaches it. The
    record decision reads summaries of all windows, so it can say "crackles" with no single
    window above the event threshold; the report would then read "crackles: yes — 0 /min" with
    nothing to listen to. A finding always shows where it is most likely instead (with that
    window's probability as its confidence). Training chooses the thresholds under this rule."""
    if len(probability) == 0:
        return threshold
    return min(threshold, float(probability.max()))


def _crackles(
    features: LungFeatures, probability: FloatArray, cut: float, model: LungDetectors
) -> list[CrackleFinding]:
    """One crackle per window at or above `cut`, at the window's sharpest 4 ms."""
    chosen = np.flatnonzero(probability >= cut)
    if len(chosen) == 0:
        return []
    column = FRAME_FEATURES.index("transient_diff_db")
    coarse = model.coarse.probability(features.windows[chosen]) >= 0.5
    found = []
    for k, index in enumerate(chosen):
        frames = features.window_frames(int(index))
        sharpest = frames.start + int(np.argmax(features.frames[frames, column]))
        found.append(
            CrackleFinding(
                float(features.loudest_s[sharpest]), bool(coarse[k]), float(probability[index])
            )
        )
    return found


def _wheezes(
    features: LungFeatures, probability: FloatArray, threshold: float
) -> list[WheezeFinding]:
    """Runs of windows at or above the threshold, each one wheeze with the median frequency of
    its strongest tonal ridge."""
    above = probability >= threshold
    if not above.any():
        return []
    edges = np.diff(np.concatenate([[0], above.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    low = features.frames[:, FRAME_FEATURES.index("ridge_low_db")]
    high = features.frames[:, FRAME_FEATURES.index("ridge_high_db")]
    frequency = np.where(low > high, features.peak_hz_low, features.peak_hz_high)
    found = []
    for a, b in zip(starts, stops, strict=True):
        first = features.window_frames(int(a)).start
        last = features.window_frames(int(b - 1)).stop
        hz = float(median(frequency[first:last]))
        kind: WheezeKind = (
            "rhonchus" if hz <= RHONCHUS_MAX_HZ else "stridor" if hz >= STRIDOR_MIN_HZ else "wheeze"
        )
        found.append(
            WheezeFinding(
                float(features.window_start_s[a]),
                float(features.window_end_s[b - 1]),
                hz,
                kind,
                float(probability[a:b].max()),
            )
        )
    return found
