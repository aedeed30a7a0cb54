"""Which S1-to-S1 intervals to read the heart rate from (analysis 1.4).

CirCor 2022's annotators segmented only the stretches of a recording they could trust (half
the recordings have less than half their length annotated), and its reference rate is the
median S1-to-S1 interval inside those stretches. The stretches they left out are louder in the
background and their sounds stand less clearly above it (on 377 recordings with both kinds of
beat: the background at left-out beats is higher in 76 %, the sounds lower in 79 %), and a
child's rate drifts over a 20-30 s take — so a whole-recording rate misses the trusted
stretch's by more than 5 bpm where the decoding itself is right (the median of our own decoded
intervals inside the annotated stretches is within 5 bpm for 0.93 of the recordings; over the
whole recording, 0.83).

A logistic regression (`HeartModel.interval_trust`, fit on CirCor 2022's annotated stretches in
training/train_heart.py, fold by fold) gives each decoded interval the probability that an
expert would have annotated it, from the background level and sound height at its beats, how
steady it is with its neighbours, how far it lies from the recording's median interval, and
where it lies in the take. The rate is read from the plausible intervals weighted by that
probability squared: the weighted mean of those near their weighted median (see
`TRUST_EXPONENT`, docs/analysis.md).
"""

from __future__ import annotations

import numpy as np

from stethoscope.arrays import FloatArray
from stethoscope.heart.cycle import MAX_HEART_RATE_BPM, MIN_HEART_RATE_BPM
from stethoscope.heart.model import LogisticModel
from stethoscope.heart.sounds import SoundEnvelope
from stethoscope.order_statistics import median

INTERVAL_FEATURE_NAMES: tuple[str, ...] = (
    "background_start",  # log background (1 s running median) at the first beat, vs the take's
    "background_end",  # ... at the second beat
    "height_start",  # the fainter of the beat's S1/S2 peaks above background, vs the take's
    "height_end",
    "change_before",  # |this interval - the previous| / this interval, capped at 1 (1: none)
    "change_after",  # |next - this| / this, capped at 1
    "off_median",  # |ln(interval / the take's median interval)|
    "position",  # first beat's time / duration
    "from_start_s",  # time from the take's start to the first beat, capped at 5 s
    "to_end_s",  # time from the second beat to the take's end, capped at 5 s
    "height",  # the fainter peak of the first beat above background, ln units
    "background_spread",  # SD of the background at the take's beats
)
#: Capped distances from the take's edges: placing and lifting the chest piece (design choice).
EDGE_CAP_S = 5.0
#: Weight = P(trusted) ** this, and the rate the weighted mean of the intervals within
#: `NEAR_MEDIAN` of their weighted median: chosen with the folds in view (training script's
#: out-of-fold within-5-bpm share; exponent 1 / 2 / 4 at 0.2: 0.866 / 0.879 / 0.879; window
#: 0.05 / 0.1 / 0.15 / 0.2 / 0.3 at exponent 2: 0.871 / 0.869 / 0.875 / 0.879 / 0.874).
TRUST_EXPONENT = 2.0
NEAR_MEDIAN = 0.2
#: Below this many plausible intervals the analysis keeps its other rate estimate.
MIN_INTERVALS = 2


def interval_features(
    envelope: SoundEnvelope,
    s1_onset_s: FloatArray,
    s1_peak_s: FloatArray,
    s2_peak_s: FloatArray,
    duration_s: float,
) -> FloatArray:
    """One row of `INTERVAL_FEATURE_NAMES` per interval between successive decoded beats."""
    n = len(s1_onset_s)
    if n < 2:
        return np.zeros((0, len(INTERVAL_FEATURE_NAMES)))
    beat = envelope.frame_at(s1_onset_s)
    at_beat = envelope.log_amplitude[beat] - envelope.relative[beat]  # the 1 s running median
    centred = at_beat - median(at_beat)
    height = np.minimum(
        envelope.relative[envelope.frame_at(s1_peak_s)],
        envelope.relative[envelope.frame_at(s2_peak_s)],
    )
    height_centred = height - median(height)
    d = np.diff(s1_onset_s)
    step = np.abs(np.diff(d))
    before = np.concatenate([[1.0], np.minimum(step / d[1:], 1.0)])
    after = np.concatenate([np.minimum(step / d[:-1], 1.0), [1.0]])
    return np.column_stack(
        [
            centred[:-1],
            centred[1:],
            height_centred[:-1],
            height_centred[1:],
            before,
            after,
            np.abs(np.log(d / median(d))),
            s1_onset_s[:-1] / duration_s,
            np.minimum(s1_onset_s[:-1], EDGE_CAP_S),
            np.minimum(duration_s - s1_onset_s[1:], EDGE_CAP_S),
            height[:-1],
            np.full(n - 1, float(np.std(at_beat))),
        ]
    )


def reported_rate_bpm(
    trust: LogisticModel | None,
    intervals_s: FloatArray,
    features: FloatArray,
    steady_rate_bpm: float | None,
) -> float | None:
    """The rate the analysis reports: read from the trusted intervals, else the steady-run rate
    (no trust model, no steady rate, no interval, or too few plausible ones). Training
    (`train_heart.with_trusted_rates`) calls it on the cached features, as the analysis does."""
    if trust is None or steady_rate_bpm is None or len(features) == 0:
        return steady_rate_bpm
    rate = trusted_rate_bpm(intervals_s, trust.probabilities(features))
    return steady_rate_bpm if rate is None else rate


def trusted_rate_bpm(intervals_s: FloatArray, trust: FloatArray) -> float | None:
    """60 / the trust-weighted mean of the plausible intervals (30-250 bpm) within
    `NEAR_MEDIAN` of their trust-weighted median; None if fewer than `MIN_INTERVALS` are
    plausible. The mean around the median, not the median itself: onsets lie on a 5 ms frame
    grid, and one frame is 5 bpm at 250 bpm."""
    plausible = (intervals_s >= 60.0 / MAX_HEART_RATE_BPM) & (
        intervals_s <= 60.0 / MIN_HEART_RATE_BPM
    )
    if int(plausible.sum()) < MIN_INTERVALS:
        return None
    values = intervals_s[plausible]
    weights = trust[plausible] ** TRUST_EXPONENT
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    if not cumulative[-1] > 0.0:
        return None
    centre = float(values[order][int(np.searchsorted(cumulative, 0.5 * cumulative[-1]))])
    near = np.abs(values - centre) <= NEAR_MEDIAN * centre
    return 60.0 * float(weights[near].sum()) / float(weights[near] @ values[near])
