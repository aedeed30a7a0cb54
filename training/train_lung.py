"""Fit the lung detector thresholds shipped in `functions/stethoscope/lung/lung_model.json`.

    python training/train_lung.py --data ../shared/data

A small grid search, with the detectors the analysis runs: the wheeze tonality threshold and
minimum duration, the crackle strength threshold, the crackles a breathing cycle needs, and the
recording-level presence thresholds. The objective is the mean of the Fraiwan wheeze and crackle
balanced accuracies (per recording) and the ICBHI cycle score. The grid is coarse on purpose:
there are only ~60 annotated recordings. The figures printed are in-sample; the cross-check line
tunes on Fraiwan alone and scores ICBHI with those thresholds.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "functions"))
sys.path.insert(0, str(REPO))

from stethoscope.audio import read_recording, resample  # noqa: E402
from stethoscope.lung.analysis import (  # noqa: E402  # noqa: E402
    ANALYSIS_RATE_HZ,
    MODEL_PATH,
    LungModel,
    cycle_findings,
    heart_sound_times,
    without_heart_sound_crackles,
    without_heart_sound_wheezes,
)
from stethoscope.lung.crackle import CrackleEvents, detect_crackles  # noqa: E402
from stethoscope.lung.wheeze import (  # noqa: E402
    WheezeEvents,
    detect_wheezes,
    spectrogram,
    tonal_peaks,
)
from training.lung_data import CycleScore, LungReference, load_lung_references  # noqa: E402
from training.metrics import balanced_accuracy  # noqa: E402

TONAL_DB = (6.0, 8.0, 10.0, 12.0)
MIN_WHEEZE_S = (0.1, 0.15, 0.25, 0.4)
CRACKLE_THRESHOLD = (6.0, 8.0, 10.0, 12.0, 14.0)
CRACKLES_PER_CYCLE = (1, 2, 3)


@dataclass
class Measured:
    ref: LungReference
    duration_s: float
    wheezes: dict[tuple[float, float], WheezeEvents]
    crackles: CrackleEvents  # at the lowest threshold; stronger ones are a subset


def measure(ref: LungReference) -> Measured:
    recording = read_recording(ref.path)
    x, rate = resample(recording.samples, recording.sample_rate_hz, ANALYSIS_RATE_HZ)
    x64 = x.astype(np.float64)
    spec = spectrogram(x64, rate)
    heart = heart_sound_times(x64, rate)
    wheezes = {
        (db, dur): without_heart_sound_wheezes(
            detect_wheezes(spec, tonal_peaks(spec, db), min_duration_s=dur), heart
        )
        for db, dur in itertools.product(TONAL_DB, MIN_WHEEZE_S)
    }
    crackles = without_heart_sound_crackles(
        detect_crackles(x64, rate, threshold=min(CRACKLE_THRESHOLD)), heart
    )
    return Measured(ref, len(x64) / rate, wheezes, crackles)


def crackle_times(m: Measured, threshold: float) -> np.ndarray:
    return m.crackles.time_s[m.crackles.strength >= threshold]


def best_threshold(values: list[float], truth: list[bool]) -> tuple[float, float]:
    """The cut (value >= cut means present) with the best balanced accuracy."""
    candidates = sorted(set(values))
    cuts = [c + 1e-9 for c in candidates] + [min(candidates) - 1.0]
    scored = [(balanced_accuracy(truth, [v >= c for v in values]), c) for c in cuts]
    ba, cut = max(scored)
    return cut, ba


def icbhi_score(
    items: list[Measured], db: float, dur: float, k: float, per_cycle: int
) -> CycleScore:
    score = CycleScore()
    model = LungModel(db, dur, k, 0.0, 0.0, per_cycle)
    for m in items:
        w = m.wheezes[(db, dur)]
        times = crackle_times(m, k)
        for cycle in m.ref.cycles:
            said = cycle_findings(cycle.start_s, cycle.end_s, times, w.start_s, w.end_s, model)
            score.add((cycle.crackles, cycle.wheezes), said)
    return score


def search(
    fraiwan: list[Measured], icbhi: list[Measured], use_icbhi: bool
) -> tuple[float, LungModel, dict[str, float]]:
    best: tuple[float, LungModel, dict[str, float]] | None = None
    w_truth = [m.ref.wheeze for m in fraiwan]
    c_truth = [m.ref.crackle for m in fraiwan]
    for db, dur, k, per_cycle in itertools.product(
        TONAL_DB, MIN_WHEEZE_S, CRACKLE_THRESHOLD, CRACKLES_PER_CYCLE
    ):
        w_values = [m.wheezes[(db, dur)].total_s() / m.duration_s for m in fraiwan]
        c_values = [len(crackle_times(m, k)) / m.duration_s * 60 for m in fraiwan]
        w_cut, w_ba = best_threshold(w_values, w_truth)
        c_cut, c_ba = best_threshold(c_values, c_truth)
        cycles = icbhi_score(icbhi, db, dur, k, per_cycle)
        objective = (w_ba + c_ba + (cycles.score if use_icbhi else 0.0)) / (3 if use_icbhi else 2)
        model = LungModel(db, dur, k, round(w_cut, 4), round(c_cut, 2), per_cycle)
        figures = {
            "wheeze_ba": w_ba,
            "crackle_ba": c_ba,
            "icbhi_score": cycles.score,
            "icbhi_se": cycles.sensitivity,
            "icbhi_sp": cycles.specificity,
        }
        if best is None or objective > best[0]:
            best = (objective, model, figures)
    assert best is not None
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared/data")
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    args = parser.parse_args()
    measured = [measure(ref) for ref in load_lung_references(args.data)]
    fraiwan = [m for m in measured if m.ref.dataset == "fraiwan"]
    icbhi = [m for m in measured if m.ref.dataset == "icbhi"]

    _, fraiwan_only, cross = search(fraiwan, icbhi, use_icbhi=False)
    print(
        f"cross-check, tuned on Fraiwan only: ICBHI score {cross['icbhi_score']:.3f} "
        f"(Se {cross['icbhi_se']:.3f}, Sp {cross['icbhi_sp']:.3f})"
    )
    objective, model, figures = search(fraiwan, icbhi, use_icbhi=True)
    print("chosen:", asdict(model))
    print("in-sample: " + ", ".join(f"{k} {v:.3f}" for k, v in figures.items()))
    payload = dict(
        asdict(model),
        training={
            "script": "training/train_lung.py",
            "fitted_at": datetime.now(UTC).strftime("%Y-%m-%d"),
            "objective": round(objective, 4),
            "recordings": {"fraiwan": len(fraiwan), "icbhi": len(icbhi)},
            "fraiwan_only_thresholds": asdict(fraiwan_only),
        },
    )
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
