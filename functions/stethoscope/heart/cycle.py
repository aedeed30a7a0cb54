"""Cardiac cycle length and systole length from the envelope autocorrelation.

Follows the idea of Schmidt et al. 2010 (Physiol Meas 31(4)) and Springer et al. 2016 (the heart
cycle is the autocorrelation peak of the sound envelope), with the checks their single-peak rule
lacks, so that 30-250 bpm all work:

* harmonics: the period is the shortest autocorrelation peak reaching 75 % of the strongest one,
  so a multiple of the period (2T, 3T) is never taken for it;
* fractions: a cycle found at 2T or 1.5T (beats alternating in loudness, evenly spaced sounds)
  also offers T when the autocorrelation peaks there, and the segmentation decides;
* S1/S2 symmetry: when S1 and S2 are evenly spaced (fast rates, children), the envelope repeats
  every half cycle; a repeat shorter than 0.36 s may be half a cycle or a whole one, so both are
  offered to the segmentation, which keeps the one that explains the sounds better;
* systole is the shorter of the two intervals that an inner autocorrelation peak splits the cycle
  into (systole shorter than diastole holds up to the fastest rates we accept).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import signal

from stethoscope.arrays import FloatArray
from stethoscope.envelope import autocorrelation
from stethoscope.order_statistics import percentile

MIN_HEART_RATE_BPM = 30.0
MAX_HEART_RATE_BPM = 250.0
HARMONIC_RATIO = 0.75
SINGLE_SOUND_MAX_SPACING_S = 0.36
#: A peak within 10 % (design choice: the frame grid and beat-to-beat variation) of half or two
#: thirds of the cycle, at least this strong relative to the
#: cycle's own, is offered as a shorter cycle (`_fractional_cycles`). 0.3 was chosen among 0.3,
#: 0.5 and 0.7 on all 618 CirCor 2022 recordings (within-5-bpm share 0.854 / 0.853 / 0.846; no
#: fold-wise choice for this one constant — see docs/analysis.md, known weaknesses).
FRACTION_TOLERANCE = 0.1
FRACTION_MIN_STRENGTH = 0.3


@dataclass(frozen=True)
class CycleEstimate:
    """The dominant cardiac cycle of a recording."""

    period_s: float
    systole_s: float
    periodicity: float  # autocorrelation at the period: 0 (none) .. 1 (perfectly periodic)

    @property
    def heart_rate_bpm(self) -> float:
        return 60.0 / self.period_s


def estimate_cycles(
    relative_envelope: FloatArray, frame_rate_hz: float, *, fractional: bool = True
) -> list[CycleEstimate]:
    """Cycle hypotheses from a relative log envelope, most likely first; empty if none.

    Usually one. When the envelope repeats faster than `SINGLE_SOUND_MAX_SPACING_S`, it is
    either one sound per repeat (S1 and S2 evenly spaced: the cycle is twice the repeat) or one
    whole beat per repeat (a fast heart whose S1 and S2 nearly merge); both are returned and the
    segmentation decides which explains the sounds better. `fractional` also offers half and two
    thirds of a longer cycle (`_fractional_cycles`).
    """
    excursions = np.clip(relative_envelope, 0.0, None)
    if len(excursions) < 4 or not np.any(excursions > 0):
        return []
    excursions = np.minimum(excursions, percentile(excursions, 98))
    acf = autocorrelation(excursions)
    max_lag = min(len(acf) - 1, int(1.1 * 60.0 / MIN_HEART_RATE_BPM * frame_rate_hz))
    peaks, _ = signal.find_peaks(acf[: max_lag + 1])
    in_range = peaks[peaks >= 60.0 / MAX_HEART_RATE_BPM * frame_rate_hz]
    if len(in_range) == 0:
        return []
    strongest = float(acf[in_range].max())
    if strongest <= 0:
        return []
    spacing = int(in_range[np.argmax(acf[in_range] >= HARMONIC_RATIO * strongest)])
    periodicity = float(np.clip(acf[spacing], 0.0, 1.0))
    spacing_s = min(spacing / frame_rate_hz, 60.0 / MIN_HEART_RATE_BPM)

    inner = peaks[(peaks > 0.2 * spacing) & (peaks < 0.8 * spacing)]
    if len(inner):
        inner_s = float(inner[np.argmax(acf[inner])]) / frame_rate_hz
        whole_beat = CycleEstimate(spacing_s, min(inner_s, spacing_s - inner_s), periodicity)
    else:
        whole_beat = CycleEstimate(spacing_s, typical_systole_s(spacing_s), periodicity)
    if spacing_s >= SINGLE_SOUND_MAX_SPACING_S:
        if not fractional:
            return [whole_beat]
        return [whole_beat, *_fractional_cycles(acf, peaks, spacing, frame_rate_hz)]
    evenly_spaced = CycleEstimate(2.0 * spacing_s, spacing_s, periodicity)
    single_sound = not len(inner) or acf[inner].max() < 0.5 * acf[spacing]
    return [evenly_spaced, whole_beat] if single_sound else [whole_beat, evenly_spaced]


def _fractional_cycles(
    acf: FloatArray, peaks: npt.NDArray[np.intp], spacing: int, frame_rate_hz: float
) -> list[CycleEstimate]:
    """Half and two thirds of the chosen cycle, when the autocorrelation peaks there too.

    A fast heart whose beats alternate in loudness (breathing, a moving stethoscope) repeats
    best every two beats; one whose S1 and S2 are nearly evenly spaced repeats every 1.5 beats
    (three sounds). The harmonic rule then picks 2T or 1.5T; offering T as well lets the
    segmentation decide which explains the sounds better.
    """
    out = []
    for fraction in (0.5, 2.0 / 3.0):
        lag = spacing * fraction
        near = peaks[np.abs(peaks - lag) <= FRACTION_TOLERANCE * lag]
        if not len(near) or lag < 60.0 / MAX_HEART_RATE_BPM * frame_rate_hz:
            continue
        best = int(near[np.argmax(acf[near])])
        if acf[best] >= FRACTION_MIN_STRENGTH * acf[spacing]:
            period_s = best / frame_rate_hz
            out.append(CycleEstimate(period_s, typical_systole_s(period_s), float(acf[best])))
    return out


def typical_systole_s(period_s: float) -> float:
    """S1-to-S2 interval expected for a cycle length (Weissler's QS2-rate relation, simplified)."""
    return float(np.clip(0.12 + 0.22 * period_s, 0.1, 0.45 * period_s))
