"""Rhythm regularity from beat-to-beat (RR) intervals."""

from __future__ import annotations

from typing import Literal

import numpy as np

from stethoscope.arrays import FloatArray
from stethoscope.order_statistics import median

MIN_INTERVALS = 4
#: Median successive RR difference, relative to the median RR, above which the rhythm is
#: irregular. Sinus arrhythmia in healthy children stays mostly below it; atrial fibrillation
#: (irregularly irregular) is far above it (Tateno & Glass 2001, Med Biol Eng Comput 39).
IRREGULAR_THRESHOLD = 0.10


def assess_rhythm(
    rr_intervals_s: FloatArray,
) -> tuple[Literal["regular", "irregular"] | None, float]:
    """Classify the rhythm and say how sure we are (None when there are too few intervals)."""
    if len(rr_intervals_s) < MIN_INTERVALS:
        return None, 0.0
    variability = float(median(np.abs(np.diff(rr_intervals_s))) / median(rr_intervals_s))
    margin = abs(variability - IRREGULAR_THRESHOLD) / IRREGULAR_THRESHOLD
    confidence = float(np.clip(margin, 0.0, 1.0) * min(1.0, len(rr_intervals_s) / 10))
    return ("irregular" if variability > IRREGULAR_THRESHOLD else "regular"), confidence
