"""Heart-sound analysis: envelope -> cycle -> S1/S2 decoding -> beats, rate, rhythm, murmur."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from stethoscope.arrays import FloatArray
from stethoscope.heart.cycle import CycleEstimate, estimate_cycles
from stethoscope.heart.murmur import Intervals, classify_murmur, murmur_features
from stethoscope.heart.rhythm import assess_rhythm
from stethoscope.heart.segmentation import S1, S2, IntervalModel, SoundLabels, decode_sounds
from stethoscope.heart.sounds import Candidates, SoundEnvelope, find_candidates, sound_envelope
from stethoscope.result import Beat, HeartResult

ANALYSIS_RATE_HZ = 2000.0
#: A sound ends where its envelope has fallen to a third of its peak (ln 3 below it).
BOUNDARY_DROP = float(np.log(3.0))
BOUNDARY_MIN_S = 0.015
BOUNDARY_MAX_S = 0.09
NEPER_TO_DB = 20.0 / np.log(10.0)


@dataclass(frozen=True)
class BeatTimes:
    """Sound boundaries of complete beats (seconds), with the next S1 onset when known."""

    s1_onset_s: FloatArray
    s1_offset_s: FloatArray
    s2_onset_s: FloatArray
    s2_offset_s: FloatArray
    next_s1_onset_s: FloatArray  # NaN for a beat with no following S1
    s1_peak_s: FloatArray
    s2_peak_s: FloatArray


@dataclass(frozen=True)
class HeartAnalysis:
    """The heart result plus the intermediate signals a report draws."""

    heart: HeartResult
    envelope: SoundEnvelope
    candidates: Candidates
    cycle: CycleEstimate | None
    beats: BeatTimes
    snr_db: float | None
    coverage: float


@dataclass(frozen=True)
class Segmentation:
    """Where the S1 and S2 sounds are, and what they were found from."""

    envelope: SoundEnvelope
    candidates: Candidates
    cycle: CycleEstimate | None
    labels: SoundLabels
    beats: BeatTimes
    systoles: Intervals
    diastoles: Intervals


def segment_heart(x: FloatArray, fs_hz: float) -> Segmentation:
    """Find S1 and S2 in a heart recording at (about) `ANALYSIS_RATE_HZ`."""
    envelope = sound_envelope(x, fs_hz)
    candidates = find_candidates(envelope, x, fs_hz)
    cycle, labels = _decode(candidates, estimate_cycles(envelope.relative, envelope.frame_rate_hz))
    onset, offset = _sound_bounds(
        envelope.relative, candidates.frames[labels.index], envelope.frame_rate_hz
    )
    peak = candidates.times_s[labels.index]
    return Segmentation(
        envelope,
        candidates,
        cycle,
        labels,
        _beat_times(labels, onset, offset, peak),
        _intervals(labels, onset, offset, peak, S1, S2),
        _intervals(labels, onset, offset, peak, S2, S1),
    )


def analyze_heart(x: FloatArray, fs_hz: float) -> HeartAnalysis:
    """Analyse a heart recording at (about) `ANALYSIS_RATE_HZ`."""
    duration_s = len(x) / fs_hz
    seg = segment_heart(x, fs_hz)
    envelope, candidates, cycle, labels, beats = (
        seg.envelope,
        seg.candidates,
        seg.cycle,
        seg.labels,
        seg.beats,
    )
    rr = _rr_intervals(candidates, labels)
    heart_rate, rate_confidence = _heart_rate(rr, cycle, duration_s)
    rhythm, rhythm_confidence = assess_rhythm(rr)
    features = murmur_features(x, fs_hz, envelope, seg.systoles, seg.diastoles)
    murmur = classify_murmur(features)
    coverage = float(min(1.0, rr.sum() / duration_s)) if len(rr) else 0.0
    complete = np.isfinite(beats.next_s1_onset_s)
    heart = HeartResult(
        heart_rate_bpm=None if heart_rate is None else round(heart_rate, 1),
        heart_rate_confidence=round(rate_confidence, 3),
        segmentation_confidence=round(_segmentation_confidence(labels, candidates, coverage), 3),
        beats=[
            Beat(
                s1_onset_s=round(float(a), 4),
                s1_offset_s=round(float(b), 4),
                s2_onset_s=round(float(c), 4),
                s2_offset_s=round(float(d), 4),
            )
            for a, b, c, d in zip(
                beats.s1_onset_s,
                beats.s1_offset_s,
                beats.s2_onset_s,
                beats.s2_offset_s,
                strict=True,
            )
        ],
        rr_intervals_s=[round(float(v), 4) for v in rr],
        rhythm=rhythm,
        rhythm_confidence=round(rhythm_confidence, 3),
        systole_s=_rounded_median(beats.s2_onset_s - beats.s1_onset_s),
        diastole_s=_rounded_median((beats.next_s1_onset_s - beats.s2_onset_s)[complete]),
        murmur=murmur,
    )
    return HeartAnalysis(
        heart, envelope, candidates, cycle, beats, _snr_db(envelope, beats), coverage
    )


def _decode(
    candidates: Candidates, cycles: list[CycleEstimate]
) -> tuple[CycleEstimate | None, SoundLabels]:
    """Decode under each cycle hypothesis, keep the best path, then decode once more with the
    intervals that path actually shows."""
    empty = SoundLabels(np.zeros(0, np.intp), np.zeros(0, np.intp), 0.0)
    if not cycles or len(candidates) < 2:
        return (cycles[0] if cycles else None), empty
    decoded = [(decode_sounds(candidates, IntervalModel.from_cycle(c)), c) for c in cycles]
    labels, cycle = max(decoded, key=lambda pair: pair[0].score)
    systole, diastole = _direct_intervals(candidates, labels)
    if len(systole) >= 3 and len(diastole) >= 3:
        refined = IntervalModel(float(np.median(systole)), float(np.median(diastole)))
        labels = decode_sounds(candidates, refined)
    return cycle, labels


def _direct_intervals(candidates: Candidates, labels: SoundLabels) -> tuple[FloatArray, FloatArray]:
    """S1->S2 and S2->S1 intervals between neighbours on the decoded path."""
    t = candidates.times_s[labels.index]
    gaps = np.diff(t)
    systole = gaps[(labels.label[:-1] == S1) & (labels.label[1:] == S2)]
    diastole = gaps[(labels.label[:-1] == S2) & (labels.label[1:] == S1)]
    return systole, diastole


def _rr_intervals(candidates: Candidates, labels: SoundLabels) -> FloatArray:
    """S1-to-S1 intervals of consecutive complete beats (S1, S2, S1 in a row on the path)."""
    lab = labels.label
    if len(lab) < 3:
        return np.zeros(0)
    t = candidates.times_s[labels.index]
    run = (lab[:-2] == S1) & (lab[1:-1] == S2) & (lab[2:] == S1)
    rr: FloatArray = (t[2:] - t[:-2])[run]
    return rr


def _heart_rate(
    rr: FloatArray, cycle: CycleEstimate | None, duration_s: float
) -> tuple[float | None, float]:
    """Rate from the segmented beats, cross-checked against the autocorrelation cycle."""
    if cycle is None:
        return None, 0.0
    if len(rr) < 2:
        return cycle.heart_rate_bpm, 0.25 * min(1.0, cycle.periodicity / 0.3)
    rate = 60.0 / float(np.median(rr))
    agreement = float(np.exp(-((((rate / cycle.heart_rate_bpm) - 1.0) / 0.1) ** 2)))
    coverage = min(1.0, float(rr.sum()) / duration_s)
    spread = float(np.median(np.abs(rr - np.median(rr))) / np.median(rr))
    steadiness = 1.0 - min(1.0, spread / 0.2)
    confidence = np.sqrt(coverage) * (0.5 + 0.5 * agreement) * (0.6 + 0.4 * steadiness)
    confidence *= 0.6 + 0.4 * min(1.0, cycle.periodicity / 0.3)
    return rate, float(np.clip(confidence, 0.0, 1.0))


def _beat_times(
    labels: SoundLabels, onset: FloatArray, offset: FloatArray, peak: FloatArray
) -> BeatTimes:
    """Onsets/offsets of every S1 that is directly followed by an S2 on the decoded path."""
    lab = labels.label
    starts = (
        np.flatnonzero((lab[:-1] == S1) & (lab[1:] == S2)) if len(lab) > 1 else np.zeros(0, np.intp)
    )
    s2 = starts + 1
    has_next = s2 + 1 < len(lab)
    next_is_s1 = np.zeros(len(starts), dtype=bool)
    next_is_s1[has_next] = lab[s2[has_next] + 1] == S1
    next_onset = np.full(len(starts), np.nan)
    next_onset[next_is_s1] = onset[s2[next_is_s1] + 1]
    s1_offset = np.minimum(offset[starts], 0.5 * (peak[starts] + peak[s2]))
    s2_onset = np.maximum(onset[s2], s1_offset)
    return BeatTimes(
        s1_onset_s=onset[starts],
        s1_offset_s=s1_offset,
        s2_onset_s=s2_onset,
        s2_offset_s=offset[s2],
        next_s1_onset_s=next_onset,
        s1_peak_s=peak[starts],
        s2_peak_s=peak[s2],
    )


def _intervals(
    labels: SoundLabels,
    onset: FloatArray,
    offset: FloatArray,
    peak: FloatArray,
    first: int,
    second: int,
) -> Intervals:
    """The stretches between neighbouring path sounds labelled `first` then `second`."""
    lab = labels.label
    i = (
        np.flatnonzero((lab[:-1] == first) & (lab[1:] == second))
        if len(lab) > 1
        else np.zeros(0, np.intp)
    )
    start = np.minimum(offset[i], 0.5 * (peak[i] + peak[i + 1]))
    end = np.maximum(onset[i + 1], start)
    return Intervals(start, end, peak[i], peak[i + 1])


def _sound_bounds(
    relative: FloatArray, frames: npt.NDArray[np.intp], frame_rate_hz: float
) -> tuple[FloatArray, FloatArray]:
    """Where each sound's envelope falls `BOUNDARY_DROP` below its peak, on either side."""
    reach = round(BOUNDARY_MAX_S * frame_rate_hz)
    floor = round(BOUNDARY_MIN_S * frame_rate_hz)
    steps = np.arange(1, reach + 1)
    threshold = relative[frames] - BOUNDARY_DROP

    def distance(direction: int) -> npt.NDArray[np.intp]:
        idx = np.clip(frames[:, None] + direction * steps[None, :], 0, len(relative) - 1)
        below = relative[idx] < threshold[:, None]
        first = np.where(below.any(axis=1), np.argmax(below, axis=1) + 1, reach)
        return np.maximum(first, floor)

    times = frames / frame_rate_hz
    onset: FloatArray = np.maximum(times - distance(-1) / frame_rate_hz, 0.0)
    offset: FloatArray = np.minimum(
        times + distance(+1) / frame_rate_hz, len(relative) / frame_rate_hz
    )
    return onset, offset


def _segmentation_confidence(labels: SoundLabels, candidates: Candidates, coverage: float) -> float:
    """High when the path explains the strong peaks and follows most of the recording."""
    if len(labels.index) == 0:
        return 0.0
    strong = candidates.height >= 1.0
    explained = np.zeros(len(candidates), dtype=bool)
    explained[labels.index] = True
    share = float(explained[strong].mean()) if strong.any() else 0.0
    return float(np.clip(0.5 * coverage + 0.5 * share, 0.0, 1.0))


def _snr_db(envelope: SoundEnvelope, beats: BeatTimes) -> float | None:
    """Sound peaks against mid-diastole background, in dB."""
    complete = np.isfinite(beats.next_s1_onset_s)
    if not complete.any():
        return None
    at = envelope.log_amplitude_at
    sounds = np.concatenate([at(beats.s1_peak_s), at(beats.s2_peak_s)])
    mid_diastole = 0.5 * (beats.s2_offset_s[complete] + beats.next_s1_onset_s[complete])
    return float(NEPER_TO_DB * (np.median(sounds) - np.median(at(mid_diastole))))


def _rounded_median(values: FloatArray) -> float | None:
    values = values[np.isfinite(values)]
    return round(float(np.median(values)), 4) if len(values) else None
