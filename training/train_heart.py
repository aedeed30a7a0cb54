"""Fit the heart model shipped in `functions/stethoscope/heart/heart_model.json`.

    python training/train_heart.py --data ../shared/data        (~3 min on one core)

Reads the development recordings (never copied into the repo), runs the deployed heart analysis
on each to measure its features (the features do not depend on the fitted model), and fits five
small models with scikit-learn, evaluated in numpy at inference:

* murmur presence — CirCor 2022 per-site labels (`murmur_at_this_location` Present vs Absent;
  Unknown sites are left out) and Yaseen 2018 (N absent; MR, MS, MVP present — CirCor has almost
  no diastolic murmur, Yaseen's MS teaches it); the decision threshold maximises the training
  folds' balanced accuracy;
* murmur timing (systolic vs diastolic) — Yaseen 2018 MR and MVP (systolic) vs MS (diastolic);
* holosystolic vs early-systolic (a systolic murmur's shape, `murmur.SYSTOLIC_SHAPE_NAMES`) —
  CirCor 2022 sites with a murmur whose patient's systolic timing is Holosystolic or
  Early-systolic (the few Mid-systolic ones are left out); threshold as for presence;
* interpretable heart recording (a one-hidden-layer perceptron) — positives: CirCor 2022,
  PASCAL A normal and Yaseen recordings, 1.5-3 s clips of CirCor, and the project's synthetic
  hearts at 30-250 bpm (`stethoscope.simulate`);
  negatives: SPRSound 2022 lung recordings analysed as heart and a seeded synthetic corpus
  (`heart_corpus.py`: white/pink/brown noise, noise amplitude-modulated at heart and breathing
  rates, rubbing, speech-like); threshold: the lowest that lets at most `NEGATIVE_PASS_RATE` of
  the training negatives through;
* interval trust (a logistic regression, `heart/interval_trust.py`) — whether each decoded
  S1-to-S1 interval of a CirCor 2022 recording lies inside a stretch its annotators segmented;
  the reported rate is read from the intervals it trusts;
* heart rate right (within 5 bpm of the CirCor annotation; a perceptron) — the calibrated
  heart-rate confidence, learned on the rates the fold's interval trust gives (on its own
  training recordings, so those rates are in-sample for the trust model: a 12-weight regression
  on ~10,000 intervals).

Every figure it prints is out of fold: CirCor patients (children linked by `Additional ID` kept
together) are split into `N_FOLDS` stratified groups; each fold's models are fitted on the other
folds only and stored in the model file (with the files each fold holds out), so
`bench/eval_heart.py` can run the real analysis on each patient with the models that never saw
it. The final model is fitted on all of them; a
third variant (`circor_only`), fitted without PASCAL and Yaseen, gives the bench its
train-on-CirCor, test-on-other-devices figures.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, StratifiedGroupKFold
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "functions"))
sys.path.insert(0, str(REPO))

from stethoscope.audio import read_recording, resample  # noqa: E402
from stethoscope.heart.analysis import (  # noqa: E402
    ANALYSIS_RATE_HZ,
    analyze_heart,
    decode_segmentation,
    heart_rate_confidence,
)
from stethoscope.heart.cycle import estimate_cycles  # noqa: E402
from stethoscope.heart.evidence import (  # noqa: E402
    EVIDENCE_NAMES,
    RATE_CONFIDENCE_NAMES,
    RATE_EVIDENCE_NAMES,
)
from stethoscope.heart.interval_trust import (  # noqa: E402
    INTERVAL_FEATURE_NAMES,
    interval_features,
    reported_rate_bpm,
)
from stethoscope.heart.model import MODEL_PATH, HeartModel, LogisticModel  # noqa: E402
from stethoscope.heart.murmur import FEATURE_NAMES, SYSTOLIC_SHAPE_NAMES  # noqa: E402
from stethoscope.heart.segmentation import DecoderSettings  # noqa: E402
from stethoscope.heart.sounds import find_candidates, sound_envelope  # noqa: E402
from stethoscope.hum import remove_mains_hum  # noqa: E402
from stethoscope.simulate import simulate_heart  # noqa: E402
from training.heart_corpus import NON_HEART_KINDS, non_heart  # noqa: E402

SEED = 20261202
N_FOLDS = 5
#: L2 regularisation (sklearn C) of every regression; not tuned (the models are small and the
#: out-of-fold figures barely move between 0.1 and 1).
REGULARISATION_C = 0.3
#: 0.0 (no training negative through) was tried: it lets 0.3 % of the synthetic negatives through
#: out of fold all the same, and rejects 4 % of CirCor, 45 % of PASCAL and 13 % of Yaseen.
NEGATIVE_PASS_RATE = 0.005
SYNTHETIC_PER_KIND = 120
SYNTHETIC_HEARTS = 150
#: Non-heart kinds added after the folds were first dealt: drawn after every other example and
#: dealt into folds on their own, so every other example keeps its fold and draws.
LATER_KINDS = ("clicks",)
#: More takes of some kinds, drawn after those and dealt the same way (every earlier example keeps
#: its fold). Speech (analysis 1.3.4): with the `voicing` evidence 4 of 90 fresh speech-like takes
#: (high voices, f0 200-250 Hz) still passed the gate, 10 of 90 without it.
EXTRA_TAKES = {"speech": 120}
#: The quality gate's perceptron: one hidden layer of 32 ReLU units, L2 alpha 0.01, inputs clipped
#: to ±4 standard deviations. Chosen, with `NEGATIVE_PASS_RATE`, among (16-64 units, clip 2.5-8,
#: pass rate 0-1 %, 1-5 networks averaged) by inner grouped folds and fresh synthetic noise seeds
#: (5e6, 7e6, 9e6); the bench uses seeds never looked at during that choice.
GATE = (32, 0.01, 4.0)  # hidden units, L2 alpha, input clip
#: The rate confidence: 8 hidden units, alpha 1, inputs clipped at ±8. Chosen among logistic
#: regression and perceptrons of 8/16 units (alpha 1 or 3) by the CirCor out-of-fold Brier score
#: and how confident its rate errors of 1.4x or more were (the perceptron catches the
#: non-monotonic cues: autocorrelation at fractions of the cycle, systole share).
RATE_CONFIDENCE = (8, 1.0, 8.0)
#: The rate-confidence cap (`HeartModel.rate_cycle_range`): a recording whose envelope
#: autocorrelation at 1/3, 1/2, 3/2 or 2 decoded cycles (relative to one cycle) lies outside the
#: central 99 % (tail 0.005 each side) of the training folds' CirCor recordings whose decoded
#: cycle was right (the steady-run rate, `analysis._heart_rate`, within 5 bpm) gets a rate
#: confidence of at most 0.4 (flag `hypotheses_disagree`). The ranges are fitted fold by fold;
#: the cue set (among 1/3, 1/2, 2/3, 3/2, 2 cycles, the systole's excess over the rate's typical
#: systole, the hypothesis margin), the tail (0.005 / 0.0075 / 0.01 / 0.015) and the cap were
#: chosen with all 618 CirCor 2022 recordings in view (out-of-fold confident >= 1.5x errors,
#: within-5-bpm share and Brier score of the confidence), not fold by fold; docs/analysis.md
#: lists it under known weaknesses.
CYCLE_CUES = ("acf_third", "acf_half", "acf_three_halves", "acf_double")
CYCLE_TAIL = 0.005
CYCLE_CAP = 0.4
SPRSOUND_FILES = 240
OTHER_HEART_SETS = ("pascal", "yaseen")
SYSTOLIC = {"MR", "MVP"}
#: The decoder weights tried (segmentation.DecoderSettings); each fold keeps the one with the best
#: pooled S1/S2 F1 (SCORING.md rules) on its training folds' CirCor 2022 recordings.
DECODER_GRID = [
    DecoderSettings(restart_penalty=r, height_offset=h, likeness_weight=w)
    for r in (3.0, 5.0)
    for h in (0.45, 0.6)
    for w in (0.5, 1.0)
]
SEG_TOLERANCE_S = 0.06
#: Annotated segments less than this apart are one stretch; a decoded beat within this slack of
#: a stretch lies in it (the annotation's segment edges vs our onsets; design choice).
STRETCH_GAP_S = 0.05
STRETCH_SLACK_S = 0.1
DIASTOLIC = {"MS"}
#: CirCor systolic timings the holosystolic model tells apart (Mid-systolic: 8 sites, too few).
HOLOSYSTOLIC_TIMINGS = {"Holosystolic", "Early-systolic"}


@dataclass
class Example:
    file: str  # relative to the data folder
    source: str  # circor2022, pascal, yaseen, sprsound, synthetic
    group: str  # patient group (folds never split one)
    heart: bool  # an interpretable heart recording
    murmur: bool | None = None  # CirCor murmur at this location (None: Unknown / unlabelled)
    patient_murmur: str | None = None
    hr_bpm: float | None = None
    yaseen_class: str | None = None
    synthetic: tuple[str, float, int] | None = None  # kind, seconds, seed
    later: bool = False  # drawn after the first dealing (`LATER_KINDS`, `EXTRA_TAKES`)
    crop: tuple[float, float] | None = None  # analyse only (start share, seconds) of the file
    systolic_timing: str | None = None  # CirCor: the patient's systolic murmur timing


def circor_groups(rows: list[dict[str, str]]) -> dict[str, str]:
    """Patient -> group id, joining children linked by `Additional ID` (union-find)."""
    parent: dict[str, str] = {}

    def find(a: str) -> str:
        while parent.setdefault(a, a) != a:
            a = parent[a]
        return a

    for row in rows:
        find(row["patient"])
        if row["additional_id"]:
            parent[find(row["additional_id"])] = find(row["patient"])
    return {row["patient"]: find(row["patient"]) for row in rows}


def examples(data: Path) -> list[Example]:
    out: list[Example] = []
    rows = list(csv.DictReader((data / "heart/circor2022/labels.csv").open()))
    groups = circor_groups(rows)
    for row in rows:
        hr = row["hr_bpm_median_derived"]
        out.append(
            Example(
                f"heart/circor2022/{row['file']}",
                "circor2022",
                "c" + groups[row["patient"]],
                True,
                {"Present": True, "Absent": False}.get(row["murmur_at_this_location"]),
                row["murmur"],
                float(hr) if hr else None,
                systolic_timing=row["systolic_timing"] or None,
            )
        )
    for p in sorted((data / "heart/pascal_a_normal").glob("*.wav")):
        out.append(Example(str(p.relative_to(data)), "pascal", "p" + p.stem, True))
    for row in csv.DictReader((data / "heart/yaseen2018/labels.csv").open()):
        out.append(
            Example(
                f"heart/yaseen2018/{row['file']}",
                "yaseen",
                "y" + row["file"],
                True,
                row["class"] != "N",
                yaseen_class=row["class"],
            )
        )
    spr = list(csv.DictReader((data / "lung/sprsound2022/labels.csv").open()))
    pick = np.random.default_rng(SEED).permutation(len(spr))[:SPRSOUND_FILES]
    for i in sorted(pick):
        row = spr[i]
        if float(row["duration_s"]) >= 2.0:
            out.append(
                Example(f"lung/sprsound2022/{row['file']}", "sprsound", "s" + row["patient"], False)
            )
    # Short clips (1.5-3 s, like teaching recordings and quick takes) of the real recordings, so
    # the gate does not learn "short means not a heart".
    rng = np.random.default_rng(SEED + 1)
    for ex in [e for e in out if e.source in ("circor2022", "sprsound")]:
        crop = (float(rng.uniform(0.0, 0.8)), float(rng.uniform(1.5, 3.0)))
        out.append(Example(f"{ex.file}#clip", ex.source + "_clip", ex.group, ex.heart, crop=crop))
    rng = np.random.default_rng(SEED)
    first_kinds = [(k, kind) for k, kind in enumerate(NON_HEART_KINDS) if kind not in LATER_KINDS]
    for k, kind in first_kinds:
        for j in range(SYNTHETIC_PER_KIND):
            seconds = float(rng.choice([2.5, 5.0, 10.0, 20.0, 30.0]))
            seed = SEED + 1000 * k + j
            out.append(
                Example(
                    f"synthetic/{kind}/{j}",
                    "synthetic",
                    f"n{kind}{j}",
                    False,
                    synthetic=(kind, seconds, seed),
                )
            )
    # Short takes (1.5-3 s) of every non-heart kind too: the positives include short clips, and
    # a short take of rubbing or modulated noise offers only two or three "beats" to judge.
    clip_rng = np.random.default_rng(SEED + 2)
    for k, kind in first_kinds:
        for j in range(SYNTHETIC_PER_KIND):
            seconds = float(clip_rng.uniform(1.5, 3.0))
            out.append(
                Example(f"synthetic/{kind}/{j}#clip", "synthetic_clip", f"n{kind}{j}", False,
                        synthetic=(kind, seconds, SEED + 250_000 + 1000 * k + j))
            )  # fmt: skip
    # The project's own synthetic hearts over the whole accepted range (30-250 bpm): CirCor has
    # few hearts above 200 bpm or below 50, and the gate must not learn that they are noise.
    for j in range(SYNTHETIC_HEARTS):
        seconds = float(rng.choice([3.0, 10.0, 20.0]))
        out.append(
            Example(f"synthetic/heart/{j}", "synthetic_heart", f"h{j}", True,
                    synthetic=("heart", seconds, SEED + 500_000 + j))
        )  # fmt: skip
    later_rng = np.random.default_rng(SEED + 3)
    for k, kind in enumerate(NON_HEART_KINDS):
        if kind in LATER_KINDS:
            for j in range(SYNTHETIC_PER_KIND):
                out += later_take_and_clip(kind, str(j), SEED + 1000 * k + j, later_rng)
    extra_rng = np.random.default_rng(SEED + 4)
    for kind, count in EXTRA_TAKES.items():
        k = NON_HEART_KINDS.index(kind)
        for j in range(count):
            out += later_take_and_clip(kind, f"extra{j}", SEED + 600_000 + 1000 * k + j, extra_rng)
    return out


def later_take_and_clip(kind: str, tag: str, seed: int, rng: np.random.Generator) -> list[Example]:
    """A take of `kind` (2.5-30 s) and a 1.5-3 s clip (seed + 250,000), one group, dealt into folds
    after the first dealing (`Example.later`)."""
    name, group = f"synthetic/{kind}/{tag}", f"n{kind}{tag}"
    seconds = float(rng.choice([2.5, 5.0, 10.0, 20.0, 30.0]))
    take = Example(name, "synthetic", group, False, synthetic=(kind, seconds, seed), later=True)
    clip_s = float(rng.uniform(1.5, 3.0))
    clip = Example(f"{name}#clip", "synthetic_clip", group, False,
                   synthetic=(kind, clip_s, seed + 250_000), later=True)  # fmt: skip
    return [take, clip]


def synthetic_heart(seconds: float, fs_hz: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    murmur = rng.choice(np.array(["none", "systolic", "diastolic"]))
    sim = simulate_heart(
        seconds,
        float(rng.uniform(30.0, 250.0)),
        fs_hz,
        murmur=None if murmur == "none" else murmur,
        murmur_level_db=float(rng.uniform(-20.0, -6.0)),
        snr_db=float(rng.uniform(5.0, 30.0)),
        rr_jitter=float(rng.uniform(0.0, 0.1)),
        seed=seed,
    )
    return sim.samples


def neutral_model(decoder: DecoderSettings) -> HeartModel:
    """A model that decides nothing but how to decode: the features are measured before any
    model is applied."""

    def zero(names: tuple[str, ...]) -> dict[str, Any]:
        n = len(names)
        return {
            "feature_names": names,
            "mean": [0.0] * n,
            "scale": [1.0] * n,
            "weights": [0.0] * n,
            "bias": 0.0,
            "threshold": 0.5,
        }

    return HeartModel.from_dict(
        {
            "murmur_presence": zero(FEATURE_NAMES),
            "murmur_systolic": zero(FEATURE_NAMES),
            "interpretable": zero(EVIDENCE_NAMES),
            "rate_correct": zero(RATE_CONFIDENCE_NAMES),
            "decoder": vars(decoder),
        }
    )


def measure(data: Path, ex: Example, model: HeartModel) -> dict[str, Any]:
    if ex.synthetic is not None:
        kind, seconds, seed = ex.synthetic
        make = synthetic_heart if kind == "heart" else partial(non_heart, kind)
        x, rate = make(seconds, ANALYSIS_RATE_HZ, seed), ANALYSIS_RATE_HZ
    else:
        rec = read_recording(data / ex.file.split("#")[0])
        x, rate = resample(rec.samples, rec.sample_rate_hz, ANALYSIS_RATE_HZ)
        if ex.crop is not None:
            first = round(ex.crop[0] * max(0.0, len(x) / rate - ex.crop[1]) * rate)
            x = x[first : first + round(ex.crop[1] * rate)]
    # as `analyze_decoded` does before every analysis (a few synthetic wheezes on a mains
    # harmonic are notched; no real recording has hum)
    x, _ = remove_mains_hum(np.asarray(x, dtype=np.float64), rate)
    a = analyze_heart(x, rate, model)
    m = a.murmur_measurement
    out = {
        "evidence": a.evidence.tolist(),
        "murmur": None if m is None else m.features.tolist(),
        "systolic_shape": None if m is None else m.systolic_shape.tolist(),
        "rate": a.heart.heart_rate_bpm,
    }
    if ex.hr_bpm is not None:  # the rated CirCor recordings: their intervals, trusted or not
        b = a.beats
        out["intervals"] = np.diff(b.s1_onset_s).tolist()
        out["trust_x"] = interval_features(
            a.envelope, b.s1_onset_s, b.s1_peak_s, b.s2_peak_s, len(x) / rate
        ).tolist()
        stretches = annotated_stretches(data / ex.file.replace(".flac", ".tsv"))
        out["trust_y"] = annotated_intervals(stretches, b.s1_onset_s)
    return out


def annotated_stretches(tsv: Path) -> list[tuple[float, float]]:
    """The stretches of a CirCor 2022 recording its annotators segmented: runs of S1, systole,
    S2, diastole segments (states 1-4) without a gap."""
    stretches: list[list[float]] = []
    for start, end, state in np.loadtxt(tsv, ndmin=2):
        if int(state) not in (1, 2, 3, 4):
            continue
        if stretches and start - stretches[-1][1] < STRETCH_GAP_S:
            stretches[-1][1] = end
        else:
            stretches.append([start, end])
    return [(a, b) for a, b in stretches]


def annotated_intervals(stretches: list[tuple[float, float]], s1_onset_s: np.ndarray) -> list[bool]:
    """Per interval between successive decoded beats: both beats inside one annotated stretch
    (within `STRETCH_SLACK_S`) — the interval trust's label."""
    return [
        any(lo - STRETCH_SLACK_S <= a and b <= hi + STRETCH_SLACK_S for lo, hi in stretches)
        for a, b in itertools.pairwise(s1_onset_s.tolist())
    ]


def trust_model(table: list[dict[str, Any]], idx: np.ndarray) -> dict[str, Any]:
    """The interval-trust regression fitted on the rated recordings among `idx`."""
    rows = [table[i] for i in idx if table[i].get("trust_x")]
    x = np.array([v for r in rows for v in r["trust_x"]])
    y = np.array([v for r in rows for v in r["trust_y"]])
    return export(INTERVAL_FEATURE_NAMES, fit_logistic(x, y), 0.5)


def with_trusted_rates(table: list[dict[str, Any]], trust: dict[str, Any]) -> list[dict[str, Any]]:
    """The table with each rated recording's rate (and `rate_ok`) as the analysis reports it
    with this interval trust (`interval_trust.reported_rate_bpm`, rounded as the result is)."""
    model = LogisticModel.from_dict(trust)
    out = []
    for r in table:
        if r["hr"] is None or r["rate"] is None:
            out.append(r)
            continue
        features = np.array(r["trust_x"], dtype=float).reshape(-1, len(INTERVAL_FEATURE_NAMES))
        rate = round(reported_rate_bpm(model, np.array(r["intervals"]), features, r["rate"]), 1)
        out.append(dict(r, rate=rate, rate_ok=abs(rate - r["hr"]) <= 5))
    return out


def seg_counts(truth: list[tuple[float, float, int]], seg: Any) -> np.ndarray:
    """tp, fp, fn of S1 and S2 centres inside the annotated span, ±60 ms, greedy one-to-one in
    reference order (../shared/data/SCORING.md)."""
    annotated = [(a, b) for a, b, state in truth if state in (1, 2, 3, 4)]
    if not annotated:
        return np.zeros(3)
    lo, hi = min(a for a, _ in annotated), max(b for _, b in annotated)
    out = np.zeros(3)
    beats = seg.beats
    for state, on, off in ((1, beats.s1_onset_s, beats.s1_offset_s),
                           (3, beats.s2_onset_s, beats.s2_offset_s)):  # fmt: skip
        ref = sorted((a + b) / 2 for a, b, st in truth if st == state)
        det = [d for d in ((on + off) / 2).tolist() if lo <= d <= hi]
        used = [False] * len(det)
        tp = 0
        for r in ref:
            best, bi = SEG_TOLERANCE_S + 1e-9, -1
            for i, d in enumerate(det):
                if not used[i] and abs(d - r) <= best:
                    best, bi = abs(d - r), i
            if bi >= 0:
                used[bi] = True
                tp += 1
        out += (tp, len(det) - tp, len(ref) - tp)
    return out


def tune_decoder(data: Path, items: list[Example], fold_of: np.ndarray
                 ) -> tuple[list[DecoderSettings], DecoderSettings, dict[str, Any]]:  # fmt: skip
    """Per fold, the `DECODER_GRID` entry with the best S1/S2 F1 on the other folds' CirCor 2022
    recordings; the out-of-fold F1 of those choices; the choice on all recordings."""
    counts, folds = [], []
    for ex, k in zip(items, fold_of, strict=True):
        if ex.source != "circor2022":
            continue
        rec = read_recording(data / ex.file)
        x, rate = resample(rec.samples, rec.sample_rate_hz, ANALYSIS_RATE_HZ)
        x = np.asarray(x, dtype=np.float64)
        envelope = sound_envelope(x, rate)
        candidates = find_candidates(envelope, x, rate)
        cycles = estimate_cycles(envelope.relative, envelope.frame_rate_hz)
        truth = [tuple(r) for r in np.loadtxt(data / ex.file.replace(".flac", ".tsv"), ndmin=2)]
        truth = [(a, b, int(st)) for a, b, st in truth]
        counts.append([seg_counts(truth, decode_segmentation(envelope, candidates, cycles, s))
                       for s in DECODER_GRID])  # fmt: skip
        folds.append(k)
    c = np.array(counts)  # (recordings, settings, 3)
    fold = np.array(folds)

    def f1(t: np.ndarray) -> np.ndarray:
        tp, fp, fn = t[..., 0], t[..., 1], t[..., 2]
        return 2 * tp / np.maximum(2 * tp + fp + fn, 1)

    chosen, oof = [], np.zeros(3)
    for k in range(N_FOLDS):
        best = int(np.argmax(f1(c[fold != k].sum(axis=0))))
        chosen.append(DECODER_GRID[best])
        oof += c[fold == k, best].sum(axis=0)
    final = int(np.argmax(f1(c.sum(axis=0))))
    figures = {
        "circor2022_seg_f1_out_of_fold": round(float(f1(oof)), 4),
        "circor2022_seg_f1_each_setting_all": [round(float(v), 4) for v in f1(c.sum(axis=0))],
    }
    return chosen, DECODER_GRID[final], figures


def fit_logistic(x: np.ndarray, y: np.ndarray) -> tuple[StandardScaler, LogisticRegression]:
    scaler = StandardScaler().fit(x)
    reg = LogisticRegression(C=REGULARISATION_C, max_iter=2000).fit(scaler.transform(x), y)
    return scaler, reg


def export(
    names: tuple[str, ...], fitted: tuple[StandardScaler, LogisticRegression], threshold: float
) -> dict[str, Any]:
    scaler, reg = fitted
    return {
        "feature_names": list(names),
        "mean": scaler.mean_.round(6).tolist(),
        "scale": np.where(scaler.scale_ > 0, scaler.scale_, 1.0).round(6).tolist(),
        "weights": reg.coef_[0].round(6).tolist(),
        "bias": round(float(reg.intercept_[0]), 6),
        "threshold": round(float(threshold), 4),
    }


def fit_perceptron(
    x: np.ndarray, y: np.ndarray, spec: tuple[int, float, float]
) -> tuple[StandardScaler, MLPClassifier]:
    hidden, alpha, clip = spec
    scaler = StandardScaler().fit(x)
    mlp = MLPClassifier((hidden,), alpha=alpha, max_iter=3000, random_state=SEED)
    mlp.input_clip = clip  # remembered for `predict` and the export
    return scaler, mlp.fit(np.clip(scaler.transform(x), -clip, clip), y)


def export_perceptron(
    fitted: tuple[StandardScaler, MLPClassifier], threshold: float, names: tuple[str, ...]
) -> dict[str, Any]:
    scaler, mlp = fitted
    return {
        "feature_names": list(names),
        "mean": scaler.mean_.round(6).tolist(),
        "scale": np.where(scaler.scale_ > 0, scaler.scale_, 1.0).round(6).tolist(),
        "hidden_weights": mlp.coefs_[0].round(6).tolist(),
        "hidden_bias": mlp.intercepts_[0].round(6).tolist(),
        "weights": mlp.coefs_[1][:, 0].round(6).tolist(),
        "bias": round(float(mlp.intercepts_[1][0]), 6),
        "threshold": round(float(threshold), 4),
        "input_clip": mlp.input_clip,
    }


def gate_threshold(ev: np.ndarray, heart: np.ndarray, groups: np.ndarray) -> float:
    """The gate's threshold from an inner grouped 3-fold split of the training examples (a fitted
    perceptron separates its own training examples perfectly, so their scores say nothing)."""
    p = np.zeros(len(ev))
    for tr, te in GroupKFold(3).split(ev, heart, groups):
        p[te] = predict(fit_perceptron(ev[tr], heart[tr], GATE), ev[te])
    return negative_pass_threshold(p, heart)


def predict(fitted: tuple[StandardScaler, Any], x: np.ndarray) -> np.ndarray:
    scaler, reg = fitted
    clip = getattr(reg, "input_clip", 8.0)
    z = np.clip(scaler.transform(x), -clip, clip)
    p: np.ndarray = reg.predict_proba(z)[:, 1]
    return p


def best_balanced_threshold(p: np.ndarray, y: np.ndarray) -> float:
    """The threshold (midway between neighbouring scores) maximising balanced accuracy."""
    s = np.unique(p)
    cuts = (s[1:] + s[:-1]) / 2 if len(s) > 1 else s
    ba = [(np.mean(p[y] >= c) + np.mean(p[~y] < c)) / 2 for c in cuts]
    return float(cuts[int(np.argmax(ba))])


def negative_pass_threshold(p: np.ndarray, heart: np.ndarray) -> float:
    """Lowest threshold letting at most `NEGATIVE_PASS_RATE` of the non-heart examples through,
    and never below 0.5."""
    neg = np.sort(p[~heart])
    allowed = int(np.floor(NEGATIVE_PASS_RATE * len(neg)))
    cut = neg[len(neg) - allowed - 1] if len(neg) else 0.5
    return float(max(0.5, cut + 1e-4))


def fit_all(table: list[dict[str, Any]], idx: np.ndarray) -> dict[str, Any]:
    """The models fitted per fold (exported) on the examples `idx`."""
    rows = [table[i] for i in idx]
    ev = np.array([r["evidence"][: len(EVIDENCE_NAMES)] for r in rows])
    heart = np.array([r["heart"] for r in rows])
    groups = np.array([r["group"] for r in rows])
    interp = export_perceptron(
        fit_perceptron(ev, heart, GATE), gate_threshold(ev, heart, groups), EVIDENCE_NAMES
    )

    m_rows = [r for r in rows if r["murmur_label"] is not None and r["murmur"] is not None]
    mx = np.array([r["murmur"] for r in m_rows])
    my = np.array([r["murmur_label"] for r in m_rows])
    fitted = fit_logistic(mx, my)
    presence = export(FEATURE_NAMES, fitted, best_balanced_threshold(predict(fitted, mx), my))

    r_rows = [r for r in rows if r["rate_ok"] is not None]
    columns = [RATE_EVIDENCE_NAMES.index(n) for n in RATE_CONFIDENCE_NAMES]
    rx = np.array([r["evidence"] for r in r_rows])[:, columns]
    ry = np.array([r["rate_ok"] for r in r_rows])
    rate = export_perceptron(fit_perceptron(rx, ry, RATE_CONFIDENCE), 0.5, RATE_CONFIDENCE_NAMES)
    return {
        "murmur_presence": presence,
        "murmur_holosystolic": holosystolic_model(rows),
        "interpretable": interp,
        "rate_correct": rate,
        # where the decoded cycle's cues lie when the cycle is right: judged by the rate read
        # from the decoded cycle itself (the steady run), not by which intervals were trusted
        "rate_cycle_range": cycle_range([r for r in r_rows if r["steady_ok"]]),
    }


def cycle_range(right: list[dict[str, Any]]) -> dict[str, Any]:
    """The central share of the cycle cues over the correctly rated recordings given."""
    columns = [RATE_EVIDENCE_NAMES.index(n) for n in CYCLE_CUES]
    cues = np.array([r["evidence"] for r in right])[:, columns]
    low, high = np.nanquantile(cues, [CYCLE_TAIL, 1.0 - CYCLE_TAIL], axis=0)
    return {
        "feature_names": list(CYCLE_CUES),
        "low": low.round(6).tolist(),
        "high": high.round(6).tolist(),
        "cap": CYCLE_CAP,
        "tail": CYCLE_TAIL,
    }


def holosystolic_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sites with a murmur whose systolic timing is one the model tells apart, shape measured."""
    return [
        r
        for r in rows
        if r["murmur_label"]
        and r.get("systolic_timing") in HOLOSYSTOLIC_TIMINGS
        and r["systolic_shape"] is not None
        and np.all(np.isfinite(r["systolic_shape"]))
    ]


def holosystolic_model(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """P(holosystolic | systolic murmur) from the systolic shape (`SYSTOLIC_SHAPE_NAMES`)."""
    chosen = holosystolic_rows(rows)
    x = np.array([r["systolic_shape"] for r in chosen])
    y = np.array([r["systolic_timing"] == "Holosystolic" for r in chosen])
    fitted = fit_logistic(x, y)
    return export(SYSTOLIC_SHAPE_NAMES, fitted, best_balanced_threshold(predict(fitted, x), y))


def timing_model(table: list[dict[str, Any]]) -> dict[str, Any]:
    rows = [r for r in table if r["yaseen_class"] in SYSTOLIC | DIASTOLIC and r["murmur"]]
    x = np.array([r["murmur"] for r in rows])
    y = np.array([r["yaseen_class"] in SYSTOLIC for r in rows])
    return export(FEATURE_NAMES, fit_logistic(x, y), 0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared/data")
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    parser.add_argument("--cache", type=Path, help="reuse/write measured features (JSON)")
    args = parser.parse_args()
    started = time.time()

    items = examples(args.data)
    # Folds: CirCor groups stratified by patient murmur; other sources spread by group.
    # `LATER_KINDS` are dealt round-robin by group afterwards, leaving the rest as it was.
    first = np.flatnonzero([not ex.later for ex in items])
    strata = np.array([items[i].patient_murmur or items[i].source for i in first])
    groups = np.array([items[i].group for i in first])
    splitter = StratifiedGroupKFold(N_FOLDS, shuffle=True, random_state=SEED)
    fold_of = np.zeros(len(items), dtype=int)
    for k, (_, test) in enumerate(splitter.split(np.zeros(len(first)), strata, groups)):
        fold_of[first[test]] = k
    later_groups = sorted({ex.group for ex in items if ex.later})
    for i, ex in enumerate(items):
        if ex.later:
            fold_of[i] = later_groups.index(ex.group) % N_FOLDS
    fold_decoders, decoder, seg_figures = tune_decoder(args.data, items, fold_of)
    print(f"decoder: {decoder} (folds: {fold_decoders}); {seg_figures}")

    cache: dict[str, Any] = {}
    if args.cache and args.cache.exists():
        cache = json.loads(args.cache.read_text())
    model = neutral_model(decoder)
    table = []
    for ex in items:
        if ex.file not in cache:
            cache[ex.file] = measure(args.data, ex, model)
        m = cache[ex.file]
        rate_ok = None
        if ex.hr_bpm is not None:
            rate_ok = m["rate"] is not None and abs(m["rate"] - ex.hr_bpm) <= 5
        table.append(
            dict(m, file=ex.file, source=ex.source, group=ex.group, heart=ex.heart,
                 murmur_label=ex.murmur, patient_murmur=ex.patient_murmur, hr=ex.hr_bpm,
                 rate_ok=rate_ok if m["rate"] is not None else None,
                 steady_ok=rate_ok if m["rate"] is not None else None,
                 yaseen_class=ex.yaseen_class, systolic_timing=ex.systolic_timing)
        )  # fmt: skip
    if args.cache:
        args.cache.write_text(json.dumps(cache))
    print(f"measured {len(table)} recordings in {time.time() - started:.0f} s")

    folds = []
    for k in range(N_FOLDS):
        trust = trust_model(table, np.flatnonzero(fold_of != k))
        rated = with_trusted_rates(table, trust)
        fitted = dict(fit_all(rated, np.flatnonzero(fold_of != k)), interval_trust=trust)
        test_files = sorted(table[i]["file"] for i in np.flatnonzero(fold_of == k))
        real = [f for f in test_files if "synthetic" not in f and "#" not in f]
        folds.append(dict(fitted, test_files=real, decoder=vars(fold_decoders[k])))
        for i in np.flatnonzero(fold_of == k):
            table[i] = rated[i]
            oof_predict(table[i], fitted)
    figures = {**seg_figures, **oof_figures(table)}
    for key, value in figures.items():
        print(f"  {key:40s} {value}")

    trust = trust_model(table, np.arange(len(table)))
    rated = with_trusted_rates(table, trust)
    final = dict(fit_all(rated, np.arange(len(table))), interval_trust=trust)
    timing = timing_model(table)
    # Fitted without any PASCAL or Yaseen recording: the train-on-CirCor, test-elsewhere figures
    # (the interval trust learns from CirCor 2022 alone either way).
    circor_only = dict(
        fit_all(
            rated, np.array([i for i, r in enumerate(table) if r["source"] not in OTHER_HEART_SETS])
        ),
        interval_trust=trust,
    )
    for fitted in [*folds, circor_only]:
        fitted["murmur_systolic"] = timing
    circor_only["decoder"] = vars(decoder)
    payload = dict(
        final,
        decoder=vars(decoder),
        murmur_systolic=timing,
        folds=folds,
        circor_only=circor_only,
        provenance={
            "script": "training/train_heart.py",
            "fitted_at": datetime.now(UTC).strftime("%Y-%m-%d"),
            "data": {
                s: int(sum(r["source"] == s for r in table))
                for s in sorted(set(strata))
                if not s[0].isupper()
            },
            "circor2022_patients": len({r["group"] for r in table if r["source"] == "circor2022"}),
            "folds": f"{N_FOLDS}-fold StratifiedGroupKFold by patient (Additional ID linked), "
            f"stratified by patient murmur, seed {SEED}",
            "seed": SEED,
            "regularisation_c": REGULARISATION_C,
            "scikit_learn": sklearn.__version__,
            "out_of_fold": figures,
        },
    )
    args.out.write_text(json.dumps(payload, indent=1) + "\n")
    print(
        f"wrote {args.out} ({args.out.stat().st_size / 1e3:.0f} kB) in "
        f"{time.time() - started:.0f} s"
    )


def oof_predict(row: dict[str, Any], fitted: dict[str, Any]) -> None:
    model = HeartModel.from_dict(dict(fitted, murmur_systolic=fitted["murmur_presence"]))
    ev = np.array(row["evidence"])
    row["p_interpretable"] = model.interpretable.probability(ev[: len(EVIDENCE_NAMES)])
    row["interpretable"] = row["p_interpretable"] >= model.interpretable.threshold
    row["p_rate"] = heart_rate_confidence(model, ev)[0]
    row["p_murmur"] = None
    row["murmur_call"] = None
    row["holosystolic_call"] = None
    if holosystolic_rows([row]) and model.murmur_holosystolic is not None:
        p = model.murmur_holosystolic.probability(np.array(row["systolic_shape"]))
        row["holosystolic_call"] = p >= model.murmur_holosystolic.threshold
    if row["murmur"] is not None:
        row["p_murmur"] = model.murmur_presence.probability(np.array(row["murmur"]))
        if row["interpretable"]:
            row["murmur_call"] = row["p_murmur"] >= model.murmur_presence.threshold


def oof_figures(table: list[dict[str, Any]]) -> dict[str, Any]:
    """Quick out-of-fold figures from the measured features (the bench runs the full analysis)."""
    circor = [r for r in table if r["source"] == "circor2022"]
    labelled = [r for r in circor if r["murmur_label"] is not None]
    pos = [r["murmur_call"] is True for r in labelled if r["murmur_label"]]
    neg = [r["murmur_call"] is False for r in labelled if not r["murmur_label"]]
    out: dict[str, Any] = {
        "circor2022_murmur_bal_acc_rec": round((np.mean(pos) + np.mean(neg)) / 2, 4),
        "circor2022_murmur_se_rec": round(float(np.mean(pos)), 4),
        "circor2022_murmur_sp_rec": round(float(np.mean(neg)), 4),
        "circor2022_interpretable_share": share([r["interpretable"] for r in circor]),
    }
    for source in (
        "pascal",
        "yaseen",
        "sprsound",
        "synthetic",
        "circor2022_clip",
        "sprsound_clip",
        "synthetic_heart",
        "synthetic_clip",
    ):
        rows = [r for r in table if r["source"] == source]
        out[f"{source}_interpretable_share"] = share([r["interpretable"] for r in rows])
    rated = [r for r in circor if r["rate_ok"] is not None]
    out["circor2022_hr_within5"] = round(float(np.mean([r["rate_ok"] for r in circor])), 4)
    p = np.array([r["p_rate"] for r in rated])
    ok = np.array([r["rate_ok"] for r in rated])
    out["hr_confidence_reliability"] = reliability(p, ok)
    shaped = [r for r in circor if r["holosystolic_call"] is not None]
    holo = [r["holosystolic_call"] for r in shaped if r["systolic_timing"] == "Holosystolic"]
    early = [not r["holosystolic_call"] for r in shaped if r["systolic_timing"] != "Holosystolic"]
    out["circor2022_holosystolic_bal_acc_rec"] = round((np.mean(holo) + np.mean(early)) / 2, 4)
    out["circor2022_holosystolic_recordings"] = f"{len(holo)} holosystolic, {len(early)} early"
    pm = np.array([r["p_murmur"] for r in labelled if r["p_murmur"] is not None])
    ym = np.array([r["murmur_label"] for r in labelled if r["p_murmur"] is not None])
    out["murmur_score_reliability"] = reliability(pm, ym)
    return out


def share(flags: list[bool]) -> float:
    return round(float(np.mean(flags)), 4)


def reliability(p: np.ndarray, y: np.ndarray) -> list[list[float]]:
    """[bin low, bin high, n, mean predicted, observed share] per probability decile band."""
    edges = np.array([0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0001])
    rows = []
    for lo, hi in itertools.pairwise(edges):
        m = (p >= lo) & (p < hi)
        if m.any():
            rows.append(
                [
                    float(lo),
                    round(float(min(hi, 1.0)), 2),
                    int(m.sum()),
                    round(float(p[m].mean()), 3),
                    round(float(y[m].mean()), 3),
                ]
            )
    return rows


if __name__ == "__main__":
    main()
