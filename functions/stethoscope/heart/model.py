"""The learned parts of the heart analysis, read from `heart_model.json`.

Small models evaluated in numpy (logistic regressions, one one-hidden-layer perceptron): murmur
presence and, for a systolic murmur, whether it is holosystolic; whether the recording can be
interpreted as a heart recording at all, which decoded intervals to read the rate from, and
whether the reported heart rate is right (within 5 bpm).
Each comes with the decision threshold chosen on training folds only. The file is written by
`training/train_heart.py` (CirCor 2022 per-site labels and annotated stretches, patient-grouped
folds) and carries its provenance: data, folds, seed, out-of-fold figures, date.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from stethoscope.arrays import FloatArray
from stethoscope.heart.segmentation import DecoderSettings

MODEL_PATH = Path(__file__).with_name("heart_model.json")


@dataclass(frozen=True)
class LogisticModel:
    """Standardise, then a linear logit: P = 1 / (1 + exp(-(z · w + b)))."""

    feature_names: tuple[str, ...]
    mean: FloatArray
    scale: FloatArray
    weights: FloatArray
    bias: float
    threshold: float  # decide "yes" at P >= threshold (fit on training folds)

    def probability(self, features: FloatArray) -> float:
        z = (np.asarray(features, dtype=np.float64) - self.mean) / self.scale
        logit = float(np.clip(z, -8.0, 8.0) @ self.weights) + self.bias
        return float(1.0 / (1.0 + np.exp(-logit)))

    def probabilities(self, rows: FloatArray) -> FloatArray:
        """`probability` of each row of a 2-D array."""
        z = (np.asarray(rows, dtype=np.float64) - self.mean) / self.scale
        logit = np.clip(z, -8.0, 8.0) @ self.weights + self.bias
        p: FloatArray = 1.0 / (1.0 + np.exp(-logit))
        return p

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LogisticModel:
        return cls(
            tuple(d["feature_names"]),
            np.asarray(d["mean"], dtype=np.float64),
            np.asarray(d["scale"], dtype=np.float64),
            np.asarray(d["weights"], dtype=np.float64),
            float(d["bias"]),
            float(d["threshold"]),
        )


@dataclass(frozen=True)
class PerceptronModel:
    """Standardise, one hidden ReLU layer, a logistic output (scikit-learn's MLPClassifier)."""

    feature_names: tuple[str, ...]
    mean: FloatArray
    scale: FloatArray
    hidden_weights: FloatArray  # (features, hidden)
    hidden_bias: FloatArray
    weights: FloatArray  # (hidden,)
    bias: float
    threshold: float
    input_clip: float  # standardised inputs are clipped to ±this (limits extrapolation)

    def probability(self, features: FloatArray) -> float:
        z = (np.asarray(features, dtype=np.float64) - self.mean) / self.scale
        z = np.clip(z, -self.input_clip, self.input_clip)
        hidden = np.maximum(z @ self.hidden_weights + self.hidden_bias, 0.0)
        logit = float(hidden @ self.weights) + self.bias
        return float(1.0 / (1.0 + np.exp(-logit)))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PerceptronModel:
        return cls(
            tuple(d["feature_names"]),
            np.asarray(d["mean"], dtype=np.float64),
            np.asarray(d["scale"], dtype=np.float64),
            np.asarray(d["hidden_weights"], dtype=np.float64),
            np.asarray(d["hidden_bias"], dtype=np.float64),
            np.asarray(d["weights"], dtype=np.float64),
            float(d["bias"]),
            float(d["threshold"]),
            float(d["input_clip"]),
        )


@dataclass(frozen=True)
class CycleRange:
    """Where the envelope autocorrelation at fractions and multiples of the decoded cycle lay for
    the training folds' correctly rated recordings (central `1 - 2 * tail` share per cue).

    Outside it, the decoded cycle is probably not the envelope's own period (a 1.5x, 2x or 3x
    rate error: issue 12), and the rate confidence is capped below one half."""

    feature_names: tuple[str, ...]
    low: FloatArray
    high: FloatArray
    cap: float  # the rate confidence of a recording outside the range is at most this
    tail: float

    def outside(self, named: dict[str, float]) -> bool:
        values = np.array([named[n] for n in self.feature_names])  # NaN: not judged
        return bool(np.any((values < self.low) | (values > self.high)))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CycleRange:
        return cls(
            tuple(d["feature_names"]),
            np.asarray(d["low"], dtype=np.float64),
            np.asarray(d["high"], dtype=np.float64),
            float(d["cap"]),
            float(d["tail"]),
        )


def _either(d: dict[str, Any]) -> LogisticModel | PerceptronModel:
    return PerceptronModel.from_dict(d) if "hidden_weights" in d else LogisticModel.from_dict(d)


@dataclass(frozen=True)
class HeartModel:
    murmur_presence: LogisticModel | PerceptronModel
    murmur_systolic: LogisticModel | PerceptronModel  # P(systolic | murmur present)
    interpretable: LogisticModel | PerceptronModel  # P(a heart recording we can interpret)
    rate_correct: LogisticModel | PerceptronModel  # P(heart rate within 5 bpm of the annotation)
    decoder: DecoderSettings  # the S1/S2 decoder's weights
    rate_cycle_range: CycleRange | None = None  # caps the rate confidence (None: no cap)
    #: P(an expert would have annotated this S1-to-S1 interval); None: rate of the steady run
    interval_trust: LogisticModel | None = None
    #: P(holosystolic | systolic murmur) from `SYSTOLIC_SHAPE_NAMES`; None: not reported
    murmur_holosystolic: LogisticModel | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HeartModel:
        return cls(
            _either(d["murmur_presence"]),
            _either(d["murmur_systolic"]),
            _either(d["interpretable"]),
            _either(d["rate_correct"]),
            DecoderSettings(**d.get("decoder", {})),
            CycleRange.from_dict(d["rate_cycle_range"]) if "rate_cycle_range" in d else None,
            LogisticModel.from_dict(d["interval_trust"]) if "interval_trust" in d else None,
            (
                LogisticModel.from_dict(d["murmur_holosystolic"])
                if "murmur_holosystolic" in d
                else None
            ),
        )


@lru_cache(maxsize=1)
def load_model(path: Path = MODEL_PATH) -> HeartModel:
    """The fitted parameters shipped with the package."""
    return HeartModel.from_dict(json.loads(path.read_text()))
