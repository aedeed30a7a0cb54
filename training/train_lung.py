"""Fit the lung detectors shipped in `functions/stethoscope/lung/lung_detectors.json`.

    python training/train_lung.py --data ../shared/data [--cache DIR]

Training data: SPRSound 2022 (1,949 recordings of 251 children: event labels for the wheeze and
crackle window heads, record labels for their thresholds, "Poor Quality" for the quality head),
a synthetic noise corpus, device artefacts (hum, tones, sweeps, clicks: `training/noise_corpus.py`)
and one CirCor 2022 heart recording per child (a heart recording analysed as lung), all unusable
by definition. ICBHI 2017 and Fraiwan 2021 (adults, other devices) train the quality head only,
as usable takes; the wheeze and crackle heads never see them, so their figures are also "trained
on SPRSound, tested elsewhere".

Discipline: SPRSound patients (the file-name prefix) are dealt into `FOLDS` folds with a fixed
seed; corpus takes, CirCor children and ICBHI/Fraiwan patients go to folds too. For each fold, the
heads are fitted and every threshold chosen on the other folds only — the window-head thresholds
on probabilities from `INNER_FOLDS` inner patient folds — and the fold's recordings are
predicted: those are the out-of-fold figures, scored with `../shared/eval/score_dev.py`'s own
functions (SCORING.md). The shipped model is then fitted the same way on everything; the fold
models are stored with it so `bench/eval_lung.py` can rerun the out-of-fold check through the
real analysis. Heads: small MLPs (one hidden layer, 3 seeds averaged) with balanced class
weights, sizes fixed, not tuned; a logistic regression for fine/coarse crackles. Deterministic
(fixed seeds, one thread): from nothing, 8.4 CPU minutes (on a loaded machine) and 1.7 GB
here; the result is byte-identical to the committed model.

Features are cached per recording under `--cache` (default: the system temp dir), keyed by the
source of the feature code, so a rerun takes a minute and a change to the features recomputes.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "functions"))
sys.path.insert(0, str(REPO))

from stethoscope.audio import read_recording, resample  # noqa: E402
from stethoscope.errors import AnalysisInputError  # noqa: E402
from stethoscope.hum import remove_mains_hum  # noqa: E402
from stethoscope.lung import features as features_module  # noqa: E402
from stethoscope.lung.analysis import ANALYSIS_RATE_HZ  # noqa: E402
from stethoscope.lung.detectors import (  # noqa: E402
    MODEL_PATH,
    LogisticHead,
    LungDetectors,
    detect,
    record_inputs,
    record_score,
    within,
)
from stethoscope.lung.features import (  # noqa: E402
    RECORD_FEATURES,
    WINDOW_FEATURES,
    LungFeatures,
    lung_features,
)
from training.lung_data import (  # noqa: E402
    LungReference,
    SprRecording,
    load_circor_heart,
    load_lung_references,
    load_sprsound,
    patient_of,
)
from training.noise_corpus import artefact_corpus, noise_corpus  # noqa: E402

FOLDS = 5
INNER_FOLDS = 4
SEED = 13
#: SPRSound takes shorter than this stay out of training: under the usable minimum (2 s) the
#: duration rule turns a take down whatever the heads say, and the one such take (0.3 s) was
#: refused outright until the analysis floor went from 1 s to 0.25 s (session 8); leaving it
#: out keeps the fitted model as it was.
MIN_TRAINING_DURATION_S = 1.0
NOISE_SEEDS = range(0, 40)  # 240 noise takes, 160 artefacts; the tests draw from seeds >= 1000
#: More noise takes (240), added in session 6: over seeds 1000-1059, 5 of 360 noise takes passed
#: the gate (low-passed noise modulated at a breathing rate is close to breath sounds); with these
#: 0 of 360 — and out of fold, full retrain, Poor Quality BA 0.778 -> 0.786, record crackle
#: 0.749 -> 0.744, event score 0.718 -> 0.715: a safety choice made with the folds in view.
#: Dealt into folds after every other set, so every other take keeps its fold.
MORE_NOISE_SEEDS = range(40, 80)
C = 1.0
#: Window heads: one hidden layer of this many rectified units, L2 `MLP_ALPHA`, `MLP_EPOCHS`
#: passes of Adam (sizes fixed, not tuned; the MLP itself replaced a logistic regression after
#: both were compared out of fold — SPRSound event score 0.654 -> 0.677 — a look at the folds).
HIDDEN_UNITS = 32
#: Each MLP head is the mean of this many, trained from seeds SEED, SEED + 1, ...: one alone
#: moved the out-of-fold figures by about ±0.01 with a change at the 6th digit of its inputs.
ENSEMBLE = 3
MLP_ALPHA = 1e-3
MLP_EPOCHS = 30
#: Quality head: 16 units, stronger L2 (2,400 takes, not 66,000 windows); its cut turns down at
#: most `MAX_GOOD_REJECTED` of the usable training takes (a product choice: one good take in
#: twenty re-recorded at most — a rejected take loses every lung finding).
QUALITY_UNITS = 16
QUALITY_ALPHA = 1e-2
QUALITY_EPOCHS = 300
MAX_GOOD_REJECTED = 0.05
#: The quality head's familiar range: per summary value, the lowest and highest of the usable
#: training takes (SPRSound, ICBHI, Fraiwan), each widened by this share of the spread between
#: them. Outside it the head is not asked (probability 0). Chosen among 0.1, 0.25, 0.5 and 1 with
#: the folds in view (usable SPRSound takes outside their fold's range: 37, 21, 9, 0 of 1,772;
#: device artefacts caught: 160, 151, 138, 131 of 160) — the widest, so that no take like the
#: real ones is turned down by it; the learned head judges the rest.
FAMILIAR_MARGIN = 1.0
UNBOUNDED = 1e30  # (JSON has no infinity)
#: Sets dealt into folds. ICBHI and Fraiwan train the quality head only (as usable takes of other
#: devices); their wheeze and crackle figures are out of fold all the same. (Artefacts come last
#: so that adding them left every other set's folds as they were.)
TRAINING_SOURCES = ("spr", "noise", "circor", "icbhi", "fraiwan", "artefact")
#: Weight of an ICBHI or Fraiwan take in the quality head: 53 of them against 1,772 usable
#: SPRSound takes would otherwise teach it that only SPRSound's device sounds usable. Chosen among
#: 1, 20 and 50 by out-of-fold results (ICBHI 3/7 usable at 1, 5/7 at 20) — a choice made with
#: the folds in view, stated here.
OTHER_DEVICE_WEIGHT = 20.0
#: Weight of a usable SPRSound take with wheezes or crackles in the quality head. At weight 1 the
#: gate turned down 6.1 % of the usable takes with crackles against 3.6 % of the others (out of
#: fold), and a turned-down take loses its findings. Chosen among 1, 3 and 5 by out-of-fold
#: results of the quality head alone (record crackle BA 0.740 / 0.747 / 0.746, Poor Quality BA
#: 0.775 / 0.778 / 0.775) — a choice made with the folds in view, stated here.
FINDINGS_TAKE_WEIGHT = 3.0
#: Record-level crackle head: inverse L2 strength of its logistic regression on `record_inputs`
#: (237 inputs, ~1,400 training recordings). The head itself, its inputs and this value were
#: chosen with all folds in view, stated here: first on the previous fold models' out-of-fold
#: window probabilities (top-3 mean 0.734; head at C 0.003 / 0.005 / 0.01 / 0.02 / 0.1: 0.753 /
#: 0.761 / 0.754 / 0.754 / 0.759; without the record summary and window statistics 0.742), then
#: by two full out-of-fold runs of this script (record crackle BA 0.738 at 0.01, 0.725 at
#: 0.005). Wheeze keeps the top-3 / mean choice.
RECORD_C = 0.01
#: The issue's floor on event sensitivity: a threshold pair below it is not chosen if any other
#: pair reaches it on the training folds.
MIN_EVENT_SE = 0.5
GRID = np.round(np.arange(0.05, 0.991, 0.01), 3)


@dataclass
class Item:
    """One recording for training or testing, with its features."""

    name: str  # path relative to the data folder, or a corpus name
    group: str  # patient (or take) id: folds never split a group
    source: str  # spr | noise | artefact | circor | icbhi | fraiwan | kahya | icbhi_cycle
    features: LungFeatures
    duration_s: float
    spr: SprRecording | None = None
    ref: LungReference | None = None
    usable: bool = True
    fold: int = -1
    extra: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- features
def _code_hash() -> str:
    parts = [
        Path(features_module.__file__).read_bytes(),
        (REPO / "functions/stethoscope/lung/wheeze.py").read_bytes(),
        (REPO / "functions/stethoscope/envelope.py").read_bytes(),
        (REPO / "functions/stethoscope/audio.py").read_bytes(),
        (REPO / "functions/stethoscope/hum.py").read_bytes(),
    ]
    return hashlib.sha1(b"".join(parts)).hexdigest()[:12]


def _analysis_signal(path: Path) -> tuple[np.ndarray, float]:
    recording = read_recording(path)
    x, rate = resample(recording.samples, recording.sample_rate_hz, ANALYSIS_RATE_HZ)
    return _conditioned(x, rate)


def _conditioned(x: np.ndarray, rate: float) -> tuple[np.ndarray, float]:
    """As `analyze_decoded` conditions every signal: mains hum notched out (the artefact
    corpus's hums and a few of its tones; no real recording has hum)."""
    return remove_mains_hum(np.asarray(x, dtype=np.float64), rate)[0], rate


def _features_cached(key: str, make: Any, cache: Path) -> tuple[LungFeatures, float]:
    path = cache / (hashlib.sha1(key.encode()).hexdigest() + ".npz")
    if path.exists():
        z = np.load(path)
        feats = LungFeatures(
            None,  # type: ignore[arg-type]  # the spectrogram is not cached
            z["frames"],
            z["peak_hz_low"],
            z["peak_hz_high"],
            z["loudest_s"],
            z["windows"],
            z["window_start_s"],
            z["window_end_s"],
            z["record"],
        )
        return feats, float(z["duration_s"])
    x, rate = make()
    feats = lung_features(x, rate)
    np.savez(
        path,
        frames=feats.frames,
        peak_hz_low=feats.peak_hz_low,
        peak_hz_high=feats.peak_hz_high,
        loudest_s=feats.loudest_s,
        windows=feats.windows,
        window_start_s=feats.window_start_s,
        window_end_s=feats.window_end_s,
        record=feats.record,
        duration_s=len(x) / rate,
    )
    return feats, len(x) / rate


def collect(data: Path, cache: Path) -> list[Item]:
    """Every recording with features: training sets first, then the external test sets."""
    cache.mkdir(parents=True, exist_ok=True)
    tag = _code_hash()
    items: list[Item] = []
    for rec in load_sprsound(data):
        try:
            f, d = _features_cached(
                f"{tag}:{rec.path}", lambda r=rec: _analysis_signal(r.path), cache
            )
        except AnalysisInputError:
            continue  # nothing the analysis would refuse
        if d < MIN_TRAINING_DURATION_S:
            continue  # the 0.3 s take: unusable by the duration rule, whatever the heads say
        name = f"lung/sprsound2022/{rec.path.name}"
        items.append(Item(name, rec.patient, "spr", f, d, spr=rec, usable=not rec.poor_quality))
    for seeds, later in ((NOISE_SEEDS, False), (MORE_NOISE_SEEDS, True)):
        for take in noise_corpus(seeds):
            f, d = _features_cached(
                f"{tag}:noise:{take.name}",
                lambda t=take: _conditioned(t.samples, t.sample_rate_hz),
                cache,
            )
            name, group = f"noise/{take.name}", f"noise-{take.name}"
            items.append(Item(name, group, "noise", f, d, usable=False, extra={"later": later}))
    for take in artefact_corpus(NOISE_SEEDS):
        f, d = _features_cached(
            f"{tag}:artefact:{take.name}",
            lambda t=take: _conditioned(t.samples, t.sample_rate_hz),
            cache,
        )
        items.append(
            Item(f"artefact/{take.name}", f"artefact-{take.name}", "artefact", f, d, usable=False)
        )
    for patient, path in load_circor_heart(data):
        f, d = _features_cached(f"{tag}:{path}", lambda p=path: _analysis_signal(p), cache)
        items.append(
            Item(f"heart/circor2022/{path.name}", f"circor-{patient}", "circor", f, d, usable=False)
        )
    for ref in load_lung_references(data):
        f, d = _features_cached(f"{tag}:{ref.path}", lambda r=ref: _analysis_signal(r.path), cache)
        rel = ref.path.relative_to(data).as_posix()
        items.append(Item(rel, patient_of(ref), ref.dataset, f, d, ref=ref))
    return items


def assign_folds(items: list[Item]) -> None:
    """Training groups dealt into folds in a seeded random order."""
    rng = np.random.default_rng(SEED)
    for source in TRAINING_SOURCES:
        groups = sorted({i.group for i in items if i.source == source and not i.extra.get("later")})
        order = rng.permutation(len(groups))
        fold_of = {groups[g]: k % FOLDS for k, g in enumerate(order)}
        for i in items:
            if i.source == source and not i.extra.get("later"):
                i.fold = fold_of[i.group]
    later = sorted({i.group for i in items if i.extra.get("later")})  # round-robin, afterwards
    for i in items:
        if i.extra.get("later"):
            i.fold = later.index(i.group) % FOLDS


# --------------------------------------------------------------------------- labels
def window_labels(item: Item) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per window: inside an annotated event (its centre), and the event's crackle and wheeze."""
    f = item.features
    centre = 0.5 * (f.window_start_s + f.window_end_s)
    inside = np.zeros(len(centre), dtype=bool)
    crackle = np.zeros(len(centre), dtype=bool)
    wheeze = np.zeros(len(centre), dtype=bool)
    coarse = np.full(len(centre), -1)
    item.extra["coarse"] = coarse
    assert item.spr is not None
    for e in item.spr.events:
        m = (centre >= e.start_s) & (centre < e.end_s)
        inside |= m
        crackle[m] = e.crackles
        wheeze[m] = e.wheezes
        if e.kind in ("Fine Crackle", "Coarse Crackle"):
            coarse[m] = int(e.kind == "Coarse Crackle")
    return inside, crackle, wheeze


def _fit(
    x: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None, c: float = C
) -> dict[str, Any]:
    """Standardise and fit a logistic regression (inverse L2 strength `c`); classes balanced,
    times `weight` per row."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    balance = np.where(y, len(y) / (2.0 * max(y.sum(), 1)), len(y) / (2.0 * max((~y).sum(), 1)))
    lr = LogisticRegression(C=c, max_iter=3000)
    lr.fit((x - mean) / scale, y, sample_weight=balance * (1.0 if weight is None else weight))
    return {
        "mean": mean.round(6).tolist(),
        "scale": scale.round(6).tolist(),
        "coef": lr.coef_[0].round(6).tolist(),
        "intercept": round(float(lr.intercept_[0]), 6),
    }


def _fit_window_head(x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """The window heads: an MLP with `HIDDEN_UNITS` rectified units."""
    return _fit_mlp(x, y, HIDDEN_UNITS, MLP_ALPHA, MLP_EPOCHS)


def _fit_mlp(
    x: np.ndarray,
    y: np.ndarray,
    units: int,
    alpha: float,
    epochs: int,
    row_weight: np.ndarray | None = None,
) -> dict[str, Any]:
    """Standardise and fit a one-hidden-layer MLP; classes balanced, times `row_weight` per
    row."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    balance = np.where(y, len(y) / (2.0 * max(y.sum(), 1)), len(y) / (2.0 * max((~y).sum(), 1)))
    if row_weight is not None:
        balance = balance * row_weight
    members = []
    for member in range(ENSEMBLE):
        mlp = MLPClassifier(
            (units,),
            alpha=alpha,
            max_iter=epochs,
            random_state=SEED + member,
            batch_size=min(256, len(y)),
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            mlp.fit((x - mean) / scale, y, sample_weight=balance)
        members.append(
            {
                "hidden_coef": mlp.coefs_[0].round(6).tolist(),
                "hidden_intercept": mlp.intercepts_[0].round(6).tolist(),
                "coef": mlp.coefs_[1][:, 0].round(6).tolist(),
                "intercept": round(float(mlp.intercepts_[1][0]), 6),
            }
        )
    return {"mean": mean.round(6).tolist(), "scale": scale.round(6).tolist(), "members": members}


def _quality_weight(items: list[Item]) -> np.ndarray:
    """Row weights of the quality head: takes of other devices `OTHER_DEVICE_WEIGHT`, usable
    SPRSound takes with wheezes or crackles `FINDINGS_TAKE_WEIGHT`, the rest 1."""
    other = np.array([i.source in ("icbhi", "fraiwan") for i in items])
    findings = np.array(
        [i.spr is not None and i.usable and (i.spr.crackle or i.spr.wheeze) for i in items]
    )
    weight: np.ndarray = np.where(other, OTHER_DEVICE_WEIGHT, 1.0) * np.where(
        findings, FINDINGS_TAKE_WEIGHT, 1.0
    )
    return weight


def _familiar_range(items: list[Item]) -> dict[str, list[float]]:
    """`familiar_low` and `familiar_high`: the usable real takes' range of every summary value,
    widened by `FAMILIAR_MARGIN` of its spread on each side. A value that never varies among them
    (the median click counts, always 0) is left unbounded: no spread to widen by."""
    real = np.array(
        [i.features.record for i in items if i.usable and i.source in ("spr", "icbhi", "fraiwan")]
    )
    low, high = real.min(axis=0), real.max(axis=0)
    spread = high - low
    free = spread < 1e-9
    low = np.where(free, -UNBOUNDED, np.floor((low - FAMILIAR_MARGIN * spread) * 1e6) / 1e6)
    high = np.where(free, UNBOUNDED, np.ceil((high + FAMILIAR_MARGIN * spread) * 1e6) / 1e6)
    return {"familiar_low": low.tolist(), "familiar_high": high.tolist()}


def _balanced(truth: np.ndarray, said: np.ndarray) -> float:
    return 0.5 * (float(np.mean(said[truth])) + float(np.mean(~said[~truth])))


def _quality_threshold(p_usable: np.ndarray, usable: np.ndarray) -> float:
    """The cut with the best balanced accuracy among those that turn down at most
    `MAX_GOOD_REJECTED` of the usable training takes: a rejected good take loses every lung
    finding, so the gate errs towards keeping takes."""
    allowed = [t for t in GRID if np.mean(p_usable[usable] < t) <= MAX_GOOD_REJECTED]
    cuts = np.array(allowed) if allowed else GRID[:1]
    values = [_balanced(usable, p_usable >= t) for t in cuts]
    return float(cuts[int(np.argmax(values))])


def _best_record_threshold(scores: np.ndarray, truth: np.ndarray) -> float:
    values = [_balanced(truth, scores >= t) for t in GRID]
    return float(GRID[int(np.argmax(values))])


@dataclass
class EventTable:
    """Per annotated SPRSound event: its record, its classes, the most probable window that
    would put a crackle (centre inside) or a wheeze (≥ 50 ms overlap) on it, and the most
    probable window of its whole record (`detectors.event_cut`: a record with the sound reports
    that window when no window reaches the event threshold)."""

    record: np.ndarray
    crackle: np.ndarray
    wheeze: np.ndarray
    max_crackle: np.ndarray
    max_wheeze: np.ndarray
    record_max_crackle: np.ndarray
    record_max_wheeze: np.ndarray


def event_table(items: list[Item], p_c: list[np.ndarray], p_w: list[np.ndarray]) -> EventTable:
    rows: list[tuple[int, bool, bool, float, float, float, float]] = []
    for r, (item, pc, pw) in enumerate(zip(items, p_c, p_w, strict=True)):
        assert item.spr is not None
        f = item.features
        centre = 0.5 * (f.window_start_s + f.window_end_s)
        top_c = float(pc.max()) if len(pc) else -1.0
        top_w = float(pw.max()) if len(pw) else -1.0
        for e in item.spr.events:
            inside = (centre >= e.start_s) & (centre < e.end_s)
            overlap = np.minimum(f.window_end_s, e.end_s) - np.maximum(f.window_start_s, e.start_s)
            touching = overlap >= 0.05
            rows.append(
                (
                    r,
                    e.crackles,
                    e.wheezes,
                    float(pc[inside].max()) if inside.any() else -1.0,
                    float(pw[touching].max()) if touching.any() else -1.0,
                    top_c,
                    top_w,
                )
            )
    if not rows:
        empty = np.zeros(0)
        return EventTable(empty.astype(int), empty > 0, empty > 0, empty, empty, empty, empty)
    cols = list(zip(*rows, strict=True))
    return EventTable(
        np.array(cols[0]),
        np.array(cols[1], dtype=bool),
        np.array(cols[2], dtype=bool),
        *(np.array(c) for c in cols[3:]),
    )


def _reported(best_in_event: np.ndarray, record_best: np.ndarray) -> np.ndarray:
    """(grid, events): whether a record with the sound reports a window on each event at each
    event threshold of `GRID` — one at or above the threshold, or the record's most probable
    window when none reaches it (`detectors.event_cut`)."""
    cut = np.minimum(GRID[:, None], record_best[None, :])
    return (best_in_event[None, :] >= cut) & (best_in_event[None, :] >= 0.0)


def _best_event_thresholds(
    table: EventTable, gate_c: np.ndarray, gate_w: np.ndarray
) -> tuple[float, float, float, float]:
    """(crackle, wheeze) event thresholds with the best (Se + Sp) / 2 over the events, preferring
    pairs with Se ≥ `MIN_EVENT_SE`; returns them with that Se and Sp."""
    gc, gw = gate_c[table.record], gate_w[table.record]
    pred_c = gc[None, :] & _reported(table.max_crackle, table.record_max_crackle)  # (grid, events)
    pred_w = gw[None, :] & _reported(table.max_wheeze, table.record_max_wheeze)
    abnormal = table.crackle | table.wheeze
    best = (-1.0, 0.5, 0.5, 0.0, 0.0)
    for i in range(len(GRID)):
        ok_c = pred_c[i] == table.crackle
        ok_w = pred_w == table.wheeze[None, :]
        ok = ok_c[None, :] & ok_w
        se = ok[:, abnormal].mean(axis=1)
        sp = ok[:, ~abnormal].mean(axis=1)
        score = 0.5 * (se + sp) - np.where(se >= MIN_EVENT_SE, 0.0, 1.0)
        j = int(np.argmax(score))
        if score[j] > best[0]:
            best = (float(score[j]), float(GRID[i]), float(GRID[j]), float(se[j]), float(sp[j]))
    return best[1], best[2], best[3], best[4]


def _choose_aggregate(
    head: dict[str, Any], probabilities: list[np.ndarray], truth: np.ndarray
) -> np.ndarray:
    """The record aggregate and threshold with the best balanced accuracy on the training
    recordings; sets them in `head` and returns the chosen record scores."""
    best: tuple[float, str, float, np.ndarray] | None = None
    for aggregate in ("top", "mean"):
        scores = np.array([record_score(p, aggregate) for p in probabilities])  # type: ignore[arg-type]
        cut = _best_record_threshold(scores, truth)
        ba = _balanced(truth, scores >= cut)
        if best is None or ba > best[0]:
            best = (ba, aggregate, cut, scores)
    assert best is not None
    head["record_aggregate"], head["record_threshold"] = best[1], best[2]
    return best[3]


def _window_heads(good: list[Item]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Crackle, wheeze and coarse-crackle heads fitted on the annotated windows of `good`
    (SPRSound). (Adding ICBHI cycles and Fraiwan recordings, a quarter of the weight, was tried:
    out of fold it lowered ICBHI specificity to 0.59 and the SPRSound event score by 0.01.)"""
    xs, yc, yw, coarse_x, coarse_y = [], [], [], [], []
    for item in good:
        inside, crackle, wheeze = window_labels(item)
        xs.append(item.features.windows[inside])
        yc.append(crackle[inside])
        yw.append(wheeze[inside])
        k = item.extra["coarse"] >= 0
        coarse_x.append(item.features.windows[k])
        coarse_y.append(item.extra["coarse"][k])
    x = np.concatenate(xs)
    return (
        _fit_window_head(x, np.concatenate(yc)),
        _fit_window_head(x, np.concatenate(yw)),
        _fit(np.concatenate(coarse_x), np.concatenate(coarse_y) == 1),
    )


def _inner_out_of_fold(
    good: list[Item],
) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Window probabilities of every training recording from heads fitted without its patient
    (`INNER_FOLDS` folds inside the training patients): the thresholds are chosen on these, not
    on the heads' own, over-confident, training predictions. Also returns each recording's
    inner fold."""
    patients = sorted({i.group for i in good})
    order = np.random.default_rng(SEED + 1).permutation(len(patients))
    inner = {patients[g]: k % INNER_FOLDS for k, g in enumerate(order)}
    p_c: list[np.ndarray] = [np.zeros(0)] * len(good)
    p_w: list[np.ndarray] = [np.zeros(0)] * len(good)
    for k in range(INNER_FOLDS):
        c_head, w_head, _ = _window_heads([i for i in good if inner[i.group] != k])
        crackle = LogisticHead.from_json(c_head)
        wheeze = LogisticHead.from_json(w_head)
        for n, item in enumerate(good):
            if inner[item.group] == k:
                p_c[n] = crackle.probability(item.features.windows)
                p_w[n] = wheeze.probability(item.features.windows)
    return p_c, p_w, np.array([inner[i.group] for i in good])


def _crackle_record_head(
    good: list[Item],
    p_c: list[np.ndarray],
    p_w: list[np.ndarray],
    truth: np.ndarray,
    inner: np.ndarray,
) -> tuple[dict[str, Any], np.ndarray]:
    """The record-level crackle head: a logistic regression (`RECORD_C`) on `record_inputs`
    built from the inner out-of-fold window probabilities; returns it and scores of every
    training recording from record heads fitted without its inner fold (its threshold is
    chosen on those)."""
    x = np.array([record_inputs(i.features, c, w) for i, c, w in zip(good, p_c, p_w, strict=True)])
    scores = np.zeros(len(good))
    for k in range(INNER_FOLDS):
        held = inner == k
        head = LogisticHead.from_json(_fit(x[~held], truth[~held], c=RECORD_C))
        scores[held] = head.probability(x[held])
    return _fit(x, truth, c=RECORD_C), scores


def fit_model(train: list[Item]) -> tuple[dict[str, Any], dict[str, float]]:
    """Heads and thresholds from the training items only; returns the model JSON part and the
    training-fold figures the thresholds were chosen on (inner out-of-fold for the events)."""
    spr = [i for i in train if i.source == "spr"]
    good = [i for i in spr if not i.spr.poor_quality]  # type: ignore[union-attr]
    crackle_head, wheeze_head, coarse_head = _window_heads(good)
    # Device artefacts outside the familiar range never reach the head; it learns those inside
    # (training it on all of them stretched its scaling: docs/analysis.md).
    familiar = _familiar_range(train)
    low, high = np.array(familiar["familiar_low"]), np.array(familiar["familiar_high"])
    quality_items = [
        i for i in train if i.source != "artefact" or within(i.features.record, low, high)
    ]
    q_x = np.array([i.features.record for i in quality_items])
    q_y = np.array([i.usable for i in quality_items])
    quality_head = _fit_mlp(
        q_x, q_y, QUALITY_UNITS, QUALITY_ALPHA, QUALITY_EPOCHS, _quality_weight(quality_items)
    )

    partial = {
        "window_features": list(WINDOW_FEATURES),
        "record_features": list(RECORD_FEATURES),
        "crackle": {**crackle_head, "record_threshold": 0.5, "event_threshold": 0.5},
        "wheeze": {**wheeze_head, "record_threshold": 0.5, "event_threshold": 0.5},
        "coarse": coarse_head,
        "quality": {**quality_head, "threshold": 0.5, **familiar},
    }
    model = LungDetectors.from_json(partial)
    p_usable = model.quality.probability(q_x)
    partial["quality"]["threshold"] = _quality_threshold(p_usable, q_y)
    p_c, p_w, inner = _inner_out_of_fold(good)
    truth_c = np.array([i.spr.crackle for i in good])  # type: ignore[union-attr]
    truth_w = np.array([i.spr.wheeze for i in good])  # type: ignore[union-attr]
    record_head, s_c = _crackle_record_head(good, p_c, p_w, truth_c, inner)
    partial["crackle"]["record_aggregate"] = "head"
    partial["crackle"]["record_head"] = record_head
    partial["crackle"]["record_threshold"] = _best_record_threshold(s_c, truth_c)
    s_w = _choose_aggregate(partial["wheeze"], p_w, truth_w)
    gate_c = s_c >= partial["crackle"]["record_threshold"]
    gate_w = s_w >= partial["wheeze"]["record_threshold"]
    table = event_table(good, p_c, p_w)
    t_c, t_w, se, sp = _best_event_thresholds(table, gate_c, gate_w)
    partial["crackle"]["event_threshold"] = t_c
    partial["wheeze"]["event_threshold"] = t_w
    in_sample = {
        "spr_event_se": se,
        "spr_event_sp": sp,
        "spr_crackle_bal_acc": _balanced(truth_c, gate_c),
        "spr_wheeze_bal_acc": _balanced(truth_w, gate_w),
        "quality_bal_acc": _balanced(q_y, p_usable >= partial["quality"]["threshold"]),
    }
    return partial, in_sample


# --------------------------------------------------------------------------- scoring
def prediction(item: Item, model: LungDetectors) -> dict[str, Any]:
    """The scorer's prediction line for one recording (SCORING.md fields), from the detectors."""
    found = detect(item.features, model)
    return {
        "file": item.name,
        "kind": "lung",
        "error": None,
        "audio_s": item.duration_s,
        "cpu_s": None,
        "usable": found.usable,
        "wheeze_present": found.wheeze_present,
        "crackle_present": found.crackle_present,
        "wheezes": [[w.start_s, w.end_s] for w in found.wheezes],
        "crackles": [c.time_s for c in found.crackles],
    }


def load_scorer(data: Path) -> ModuleType:
    """`score_dev.py`, next to the data folder (../shared/eval): the rules of the check."""
    path = data.resolve().parent / "eval" / "score_dev.py"
    spec = importlib.util.spec_from_file_location("score_dev", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def score(scorer: ModuleType, data: Path, preds: list[dict[str, Any]]) -> dict[str, Any]:
    by_file = {p["file"]: p for p in preds}
    gts = scorer.load_dev(data)
    res: dict[str, Any] = {}
    res.update(scorer.score_old(gts, by_file))
    res.update(scorer.score_sprsound(gts, by_file))
    return res


def _round(d: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in d.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared/data")
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    parser.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "stethoscope-lung-features"
    )
    args = parser.parse_args()
    started = time.time()
    items = collect(args.data, args.cache)
    assign_folds(items)
    print(f"features of {len(items)} recordings in {time.time() - started:.0f} s")
    scorer = load_scorer(args.data)
    training = [i for i in items if i.fold >= 0]

    folds = []
    oof: list[dict[str, Any]] = []
    oof_items: list[Item] = []
    for k in range(FOLDS):
        part, _ = fit_model([i for i in training if i.fold != k])
        detectors = LungDetectors.from_json(part)
        held = [i for i in training if i.fold == k]
        oof += [prediction(i, detectors) for i in held]
        oof_items += held
        held_groups = sorted({i.group for i in held if i.source in ("spr", "icbhi", "fraiwan")})
        held_circor = sorted({i.group for i in held if i.source == "circor"})
        folds.append({"held_out_patients": held_groups, "held_out_circor": held_circor, **part})
        print(f"fold {k}: {len(held)} held-out recordings")
    oof_figures = score(scorer, args.data, [p for p in oof if p["file"].startswith("lung/")])
    for source in ("noise", "artefact", "circor"):
        said = [
            bool(p["usable"]) for p, i in zip(oof, oof_items, strict=True) if i.source == source
        ]
        oof_figures[f"{source}_usable"] = f"{sum(said)}/{len(said)}"

    final, in_sample = fit_model(training)
    keep = ("spr_", "icbhi_", "wheeze_", "crackle_", "noise_", "artefact_", "circor_")
    payload = {
        **final,
        "training": {
            "script": "training/train_lung.py",
            "data": {
                "sprsound2022": sum(i.source == "spr" for i in training),
                "sprsound2022_patients": len({i.group for i in training if i.source == "spr"}),
                "noise_corpus": sum(i.source == "noise" for i in training),
                "device_artefacts": sum(i.source == "artefact" for i in training),
                "circor2022_heart": sum(i.source == "circor" for i in training),
                "icbhi2017_quality_only": sum(i.source == "icbhi" for i in training),
                "fraiwan2021_quality_only": sum(i.source == "fraiwan" for i in training),
            },
            "folds": f"{FOLDS} folds by patient (SPRSound file-name prefix), seed {SEED}",
            "classifier": (
                f"window heads mean of {ENSEMBLE} MLPs, {HIDDEN_UNITS} ReLU units (alpha"
                f" {MLP_ALPHA}, {MLP_EPOCHS} epochs); quality: {ENSEMBLE} MLPs, {QUALITY_UNITS}"
                f" units (alpha {QUALITY_ALPHA}; other devices x{OTHER_DEVICE_WEIGHT:g}, usable"
                f" takes with findings x{FINDINGS_TAKE_WEIGHT:g}); coarse:"
                f" logistic regression C={C}; balanced classes; thresholds on inner"
                f" {INNER_FOLDS}-fold patient out-of-fold probabilities; quality cut rejects"
                f" <= {MAX_GOOD_REJECTED:.0%} of usable training takes; asked only within the"
                f" usable real takes' range widened by {FAMILIAR_MARGIN:g}x its spread"
            ),
            "fitted_at": datetime.now(UTC).strftime("%Y-%m-%d"),
            "out_of_fold": _round({k: v for k, v in oof_figures.items() if k.startswith(keep)}),
            "threshold_choice_figures": _round(in_sample),
        },
        "folds": folds,
    }
    args.out.write_text(json.dumps(payload, separators=(",", ":")) + "\n")
    print("out of fold (patients of SPRSound, ICBHI, Fraiwan; corpus takes):")
    for k, v in payload["training"]["out_of_fold"].items():
        print(f"  {k:28s} {v}")
    print(f"wrote {args.out} in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
