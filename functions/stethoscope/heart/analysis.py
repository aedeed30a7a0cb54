"""Heart-sound analysis: envelope -> cycle -> S1/S2 decoding -> beats, rate, rhythm, murmur."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from stethoscope.arrays import FloatArray
from stethoscope.heart.cycle import (
    MAX_HEART_RATE_BPM,
    MIN_HEART_RATE_BPM,
    CycleEstimate,
    estimate_cycles,
)
from stethoscope.heart.evidence import (
    EVIDENCE_NAMES,
    RATE_EVIDENCE_NAMES,
    RateHypothesis,
    harmonicity,
    relative_acf,
    spectrum_features,
    voicing,
)
from stethoscope.heart.interval_trust import interval_features, reported_rate_bpm
from stethoscope.heart.model import HeartModel, load_model
from stethoscope.heart.murmur import (
    Intervals,
    MurmurMeasurement,
    classify_murmur,
    murmur_features,
)
from stethoscope.heart.rhythm import assess_rhythm
from stethoscope.heart.segmentation import (
    S1,
    S2,
    DecoderSettings,
    IntervalModel,
    SoundLabels,
    decode_sounds,
)
from stethoscope.heart.sounds import Candidates, SoundEnvelope, find_candidates, sound_envelope
from stethoscope.order_statistics import median, percentile
from stethoscope.result import Beat, HeartResult, RateFlag

ANALYSIS_RATE_HZ = 2000.0
#: A sound ends where its envelope has fallen to a third of its peak (ln 3 below it).
BOUNDARY_DROP = float(np.log(3.0))
BOUNDARY_MIN_S = 0.015
BOUNDARY_MAX_S = 0.09
NEPER_TO_DB = 20.0 / np.log(10.0)
#: Successive S1-to-S1 intervals of a steady run differ by at most this share. Chosen among
#: 0.1/0.15/0.2/0.3 on all 618 CirCor 2022 recordings (within-5-bpm share 0.79/0.82/0.84/0.82 with
#: the v1.1 segmentation), not fold by fold; docs/analysis.md lists it under known weaknesses.
STEADY_RUN_TOLERANCE = 0.2
#: A run needs three intervals (four beats) to be trusted over the median of all (design choice).
MIN_STEADY_INTERVALS = 3
#: Flag thresholds (reasons shown to the user; they do not change the figures): rate estimates
#: more than 15 % apart, a runner-up hypothesis within 0.15 path-score units per sound (on the
#: 618 CirCor 2022 recordings it flags 6 of the 21 rates off by 1.4x or more and 9 right ones),
#: shown only for rates whose confidence is below one half,
#: intervals spread over 15 % of the median (the rhythm threshold's scale, rhythm.py).
RATE_DISAGREEMENT = float(np.log(1.15))
HYPOTHESIS_CLOSE = 0.15
FLAG_BELOW_CONFIDENCE = 0.5
IRREGULAR_SPREAD = 0.15
#: Evidence value for "no runner-up hypothesis": above every margin seen on CirCor (design choice).
HYPOTHESIS_MARGIN_CAP = 2.0
#: Two complete beats fit in 1.5 s from 80 bpm; the learned gate and the "few_beats" rule judge
#: the rest (short teaching clips of 1.2-2 s, e.g. Yaseen's, are common uploads).
HEART_MIN_USABLE_DURATION_S = 1.5
#: An unusable recording keeps its heart rate only at this calibrated confidence (P(within 5 bpm));
#: a product choice: out of fold, rates given at >= 0.9 are within 5 bpm 95 % of the time.
CONFIDENT_RATE = 0.9


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
    """The heart result plus the intermediate signals a report draws and the training reads."""

    heart: HeartResult
    envelope: SoundEnvelope
    candidates: Candidates
    cycle: CycleEstimate | None
    beats: BeatTimes
    snr_db: float | None
    coverage: float
    evidence: FloatArray  # `RATE_EVIDENCE_NAMES` order (the gate reads the first `EVIDENCE_NAMES`)
    murmur_measurement: MurmurMeasurement | None
    interpretable_probability: float  # P(a heart recording the analysis can interpret)
    interpretable: bool  # the probability reaches the model's threshold


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
    hypotheses: list[RateHypothesis]  # every cycle hypothesis decoded, best first


def segment_heart(
    x: FloatArray,
    fs_hz: float,
    settings: DecoderSettings | None = None,
    *,
    fractional_cycles: bool = False,
) -> Segmentation:
    """Find S1 and S2 in a heart recording at (about) `ANALYSIS_RATE_HZ`.

    The defaults reproduce version 1.1 (`DecoderSettings()`, no fractional cycle hypotheses),
    which the lung analysis uses to find heart sounds under breath sounds and was tuned with; the
    heart analysis passes its model's settings and `fractional_cycles=True`.
    """
    envelope = sound_envelope(x, fs_hz)
    candidates = find_candidates(envelope, x, fs_hz)
    cycles = estimate_cycles(
        envelope.relative, envelope.frame_rate_hz, fractional=fractional_cycles
    )
    return decode_segmentation(envelope, candidates, cycles, settings or DecoderSettings())


def decode_segmentation(
    envelope: SoundEnvelope,
    candidates: Candidates,
    cycles: list[CycleEstimate],
    settings: DecoderSettings,
) -> Segmentation:
    """The decoding step of `segment_heart` (separate so training can try decoder settings
    without recomputing the envelope)."""
    cycle, labels, hypotheses = _decode(candidates, cycles, settings)
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
        hypotheses,
    )


def analyze_heart(x: FloatArray, fs_hz: float, model: HeartModel | None = None) -> HeartAnalysis:
    """Analyse a heart recording at (about) `ANALYSIS_RATE_HZ`.

    `model` defaults to the shipped `heart_model.json`; the evaluation passes fold models.
    """
    model = model or load_model()
    duration_s = len(x) / fs_hz
    seg = segment_heart(x, fs_hz, model.decoder, fractional_cycles=True)
    envelope, candidates, cycle, labels, beats = (
        seg.envelope,
        seg.candidates,
        seg.cycle,
        seg.labels,
        seg.beats,
    )
    rr = _rr_intervals(candidates, labels)
    heart_rate = _heart_rate(beats, rr, cycle)  # the evidence is measured with this estimate
    reported_rate = _trusted_rate(model, envelope, beats, duration_s, heart_rate)
    rhythm, rhythm_confidence = assess_rhythm(rr)
    coverage = float(min(1.0, rr.sum() / duration_s)) if len(rr) else 0.0
    snr_db = _snr_db(envelope, beats)
    measurement = murmur_features(x, fs_hz, envelope, seg.systoles, seg.diastoles)
    evidence = _evidence(x, fs_hz, seg, rr, heart_rate, snr_db, coverage, duration_s)
    p_interpretable = model.interpretable.probability(evidence[: len(EVIDENCE_NAMES)])
    interpretable = p_interpretable >= model.interpretable.threshold
    named = dict(zip(RATE_EVIDENCE_NAMES, evidence.tolist(), strict=True))
    rate_confidence, cycle_doubtful = heart_rate_confidence(model, evidence)
    if not reported_rate:
        rate_confidence = 0.0
    murmur = classify_murmur(measurement, model, interpretable)
    complete = np.isfinite(beats.next_s1_onset_s)
    heart = HeartResult(
        heart_rate_bpm=None if reported_rate is None else round(reported_rate, 1),
        heart_rate_confidence=round(rate_confidence, 3),
        heart_rate_flags=_rate_flags(
            named, rr, reported_rate, rate_confidence, interpretable, cycle_doubtful
        ),
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
        heart,
        envelope,
        candidates,
        cycle,
        beats,
        snr_db,
        coverage,
        evidence,
        measurement,
        p_interpretable,
        interpretable,
    )


def heart_rate_confidence(model: HeartModel, evidence: FloatArray) -> tuple[float, bool]:
    """P(rate within 5 bpm) from the learned model, capped at `rate_cycle_range.cap` when the
    cycle cues fall outside the range of correctly rated training recordings; and whether they
    did (`evidence` in `RATE_EVIDENCE_NAMES` order)."""
    named = dict(zip(RATE_EVIDENCE_NAMES, evidence.tolist(), strict=True))
    p = model.rate_correct.probability(
        np.array([named[n] for n in model.rate_correct.feature_names])
    )
    limits = model.rate_cycle_range
    if limits is None:
        return p, False
    doubtful = limits.outside(named)
    return (min(p, limits.cap) if doubtful else p), doubtful


def withhold_unusable(heart: HeartResult, usable: bool) -> HeartResult:
    """What an unusable recording may still report: no murmur decision, and a heart rate only
    when its calibrated confidence is at least `CONFIDENT_RATE`."""
    if usable:
        return heart
    withheld = ("present", "timing", "systolic_timing", "holosystolic_score")
    murmur = heart.murmur.model_copy(update=dict.fromkeys(withheld))
    update: dict[str, object] = {"murmur": murmur}
    if heart.heart_rate_confidence < CONFIDENT_RATE:
        update["heart_rate_bpm"] = None
    return heart.model_copy(update=update)


def _decode(
    candidates: Candidates, cycles: list[CycleEstimate], settings: DecoderSettings
) -> tuple[CycleEstimate | None, SoundLabels, list[RateHypothesis]]:
    """Decode under each cycle hypothesis, keep the best path, then decode once more with the
    intervals that path actually shows. Also returns every hypothesis's rate and score."""
    empty = SoundLabels(np.zeros(0, np.intp), np.zeros(0, np.intp), 0.0)
    if not cycles or len(candidates) < 2:
        return (cycles[0] if cycles else None), empty, []
    decoded = [
        (decode_sounds(candidates, IntervalModel.from_cycle(c), settings), c) for c in cycles
    ]
    decoded.sort(key=lambda pair: -pair[0].score)
    hypotheses = [
        RateHypothesis(_path_rate_bpm(candidates, lab, c), lab.score) for lab, c in decoded
    ]
    labels, cycle = decoded[0]
    systole, diastole = _direct_intervals(candidates, labels)
    if len(systole) >= 3 and len(diastole) >= 3:
        refined = IntervalModel(float(median(systole)), float(median(diastole)))
        labels = decode_sounds(candidates, refined, settings)
    return cycle, labels, hypotheses


def _path_rate_bpm(candidates: Candidates, labels: SoundLabels, cycle: CycleEstimate) -> float:
    rr = _rr_intervals(candidates, labels)
    return 60.0 / float(median(rr)) if len(rr) else cycle.heart_rate_bpm


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


def _heart_rate(beats: BeatTimes, rr: FloatArray, cycle: CycleEstimate | None) -> float | None:
    """Rate of the longest steady run of beats (mean interval), else the median of all S1-to-S1
    intervals, else the autocorrelation cycle.

    A steady run is a chain of successive S1 onsets whose intervals each differ by at most
    `STEADY_RUN_TOLERANCE` from the previous one: the stretch where the decoding followed the
    heart without a gap or a spurious sound (children's rates drift over a 20-30 s recording,
    and a few skipped or extra sounds pull a whole-recording median).
    """
    if cycle is None:
        return None
    steady = _longest_steady_run(beats.s1_onset_s)
    if len(steady) >= MIN_STEADY_INTERVALS:
        # the mean of a steady run (its span / its beats) averages out the 5 ms frame grid
        return 60.0 / float(np.mean(steady))
    if len(rr) >= 2:
        return 60.0 / float(median(rr))
    return cycle.heart_rate_bpm


def _trusted_rate(
    model: HeartModel,
    envelope: SoundEnvelope,
    beats: BeatTimes,
    duration_s: float,
    steady_rate_bpm: float | None,
) -> float | None:
    """The rate read from the intervals an expert would have annotated (`interval_trust`), else
    the steady-run rate (`interval_trust.reported_rate_bpm`)."""
    if model.interval_trust is None or steady_rate_bpm is None:  # nothing to measure for
        return steady_rate_bpm
    features = interval_features(
        envelope, beats.s1_onset_s, beats.s1_peak_s, beats.s2_peak_s, duration_s
    )
    return reported_rate_bpm(
        model.interval_trust, np.diff(beats.s1_onset_s), features, steady_rate_bpm
    )


def _longest_steady_run(s1_onset_s: FloatArray) -> FloatArray:
    """The intervals of the longest chain of S1 onsets with steady successive intervals."""
    d = np.diff(s1_onset_s)
    plausible = (d >= 60.0 / MAX_HEART_RATE_BPM) & (d <= 60.0 / MIN_HEART_RATE_BPM)
    if len(d) < 2:
        return d[plausible]
    steady = plausible[1:] & plausible[:-1] & (np.abs(np.diff(d)) <= STEADY_RUN_TOLERANCE * d[:-1])
    # runs of True in `steady`: the run from i to j covers intervals i .. j + 1
    edges = np.flatnonzero(np.diff(np.concatenate([[0], steady.astype(np.int8), [0]])))
    if len(edges) == 0:
        first = int(np.argmax(plausible))
        return d[first : first + 1] if plausible.any() else d[:0]
    starts, ends = edges[::2], edges[1::2]
    best = int(np.argmax(ends - starts))
    run: FloatArray = d[starts[best] : ends[best] + 1]
    return run


def _rate_flags(
    named: dict[str, float],
    rr: FloatArray,
    rate_bpm: float | None,
    confidence: float,
    interpretable: bool,
    cycle_doubtful: bool,
) -> list[RateFlag]:
    """Why a heart rate may be wrong, in words a report can show: for a rate whose confidence is
    below `FLAG_BELOW_CONFIDENCE` (a confident rate was checked against the same cues already).
    `cycle_doubtful`: the envelope repeats at a fraction or multiple of the decoded cycle unlike
    any correctly rated training recording (`HeartModel.rate_cycle_range`)."""
    flags: list[RateFlag] = []
    if rate_bpm is None:
        return ["no_rate"]
    if (
        cycle_doubtful
        or named["rate_disagreement"] > RATE_DISAGREEMENT
        or (
            named["hypothesis_rate_ratio"] > RATE_DISAGREEMENT
            and named["hypothesis_margin"] < HYPOTHESIS_CLOSE
        )
    ):
        flags.append("hypotheses_disagree")
    if len(rr) < MIN_STEADY_INTERVALS:
        flags.append("few_beats")
    if named["rr_spread"] > IRREGULAR_SPREAD:
        flags.append("irregular_intervals")
    if not interpretable:
        flags.append("uninterpretable")
    return flags


def _evidence(
    x: FloatArray,
    fs_hz: float,
    seg: Segmentation,
    rr: FloatArray,
    rate_bpm: float | None,
    snr_db: float | None,
    coverage: float,
    duration_s: float,
) -> FloatArray:
    """The `RATE_EVIDENCE_NAMES` vector of one recording."""
    candidates, labels, cycle = seg.candidates, seg.labels, seg.cycle
    low_share, flatness = spectrum_features(x, fs_hz)
    rel = seg.envelope.relative
    peakiness = float(percentile(rel, 95) - median(rel)) if len(rel) else 0.0
    rr_median = median(rr) if len(rr) else None  # read three times below
    values = dict.fromkeys(RATE_EVIDENCE_NAMES, 0.0)
    values.update(
        periodicity=0.0 if cycle is None else cycle.periodicity,
        snr_db=0.0 if snr_db is None else float(np.clip(snr_db, -10.0, 40.0)),
        coverage=coverage,
        explained_share=_explained_share(labels, candidates),
        rr_spread=1.0 if rr_median is None else float(median(np.abs(rr - rr_median)) / rr_median),
        low_band_share=low_share,
        spectral_flatness=flatness,
        peakiness=peakiness,
        log_duration_s=float(np.log(duration_s)),
        log_beats=float(np.log1p(len(seg.beats.s1_onset_s))),
        hypothesis_margin=HYPOTHESIS_MARGIN_CAP,
        harmonicity=harmonicity(x, fs_hz),
        voicing=voicing(x, fs_hz),
    )
    systole = seg.beats.s2_onset_s - seg.beats.s1_onset_s
    if rr_median is not None and len(systole):
        values["systole_share"] = float(median(systole) / rr_median)
    if rate_bpm is not None and cycle is not None:
        values["rate_disagreement"] = min(1.0, abs(float(np.log(rate_bpm / cycle.heart_rate_bpm))))
        values["rate_bpm_per_100"] = rate_bpm / 100.0
        # one autocorrelation for all four lags (each is read off it on its own)
        half, third, three_halves, double = relative_acf(
            rel, seg.envelope.frame_rate_hz, 60.0 / rate_bpm, (0.5, 1.0 / 3.0, 1.5, 2.0)
        )
        values["acf_half"], values["acf_third"] = half, third
        values["acf_three_halves"], values["acf_double"] = three_halves, double
    hyp = seg.hypotheses
    if len(hyp) >= 2:
        per_sound = (hyp[0].score - hyp[1].score) / max(1, len(candidates))
        values["hypothesis_margin"] = float(min(HYPOTHESIS_MARGIN_CAP, per_sound))
        values["hypothesis_rate_ratio"] = abs(float(np.log(hyp[1].rate_bpm / hyp[0].rate_bpm)))
    if len(labels.index):
        values["sound_width_s"] = float(median(candidates.width_s[labels.index]))
        like = candidates.s1_likeness[labels.index]
        is_s1 = labels.label == S1
        if is_s1.any() and (~is_s1).any():
            values["s1_s2_likeness_gap"] = float(like[is_s1].mean() - like[~is_s1].mean())
    return np.array([values[name] for name in RATE_EVIDENCE_NAMES])


def _explained_share(labels: SoundLabels, candidates: Candidates) -> float:
    strong = candidates.height >= 1.0
    if len(labels.index) == 0 or not strong.any():
        return 0.0
    explained = np.zeros(len(candidates), dtype=bool)
    explained[labels.index] = True
    return float(explained[strong].mean())


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
    share = _explained_share(labels, candidates)
    return float(np.clip(0.5 * coverage + 0.5 * share, 0.0, 1.0))


def _snr_db(envelope: SoundEnvelope, beats: BeatTimes) -> float | None:
    """Sound peaks against mid-diastole background, in dB."""
    complete = np.isfinite(beats.next_s1_onset_s)
    if not complete.any():
        return None
    at = envelope.log_amplitude_at
    sounds = np.concatenate([at(beats.s1_peak_s), at(beats.s2_peak_s)])
    mid_diastole = 0.5 * (beats.s2_offset_s[complete] + beats.next_s1_onset_s[complete])
    return float(NEPER_TO_DB * (median(sounds) - median(at(mid_diastole))))


def _rounded_median(values: FloatArray) -> float | None:
    values = values[np.isfinite(values)]
    return round(float(median(values)), 4) if len(values) else None
