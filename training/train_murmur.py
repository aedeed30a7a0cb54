"""Fit the murmur model shipped in `functions/stethoscope/heart/murmur_model.json`.

Reads the development recordings (never copied into the repo), measures the murmur features with
the same code the analysis runs, fits two L2 logistic regressions with scikit-learn, prints
cross-validated figures, and writes only the fitted parameters.

    python training/train_murmur.py --data ../shared/data

Training labels:
* murmur present: Yaseen 2018 MR, MS, MVP;  absent: Yaseen N,
* absent as well: real-world normal recordings — PASCAL A "normal", PhysioNet 2016 "normal", CirCor
  sites whose patient has murmur "Absent". They teach the model that background noise, which fills
  systole and diastole alike, is not a murmur.
* timing: MR and MVP are systolic, MS is diastolic.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "functions"))

from stethoscope.audio import read_recording, resample  # noqa: E402
from stethoscope.heart.analysis import ANALYSIS_RATE_HZ, segment_heart  # noqa: E402
from stethoscope.heart.murmur import FEATURE_NAMES, MODEL_PATH, murmur_features  # noqa: E402

REGULARISATION_C = 1.0
SYSTOLIC = {"MR", "MVP", "AS"}
DIASTOLIC = {"MS"}


@dataclass(frozen=True)
class Example:
    path: Path
    group: str  # data set
    label: str  # N (absent) or the murmur class


def examples(data: Path) -> list[Example]:
    heart = data / "heart"
    items = [
        Example(heart / "yaseen2018" / row["file"], "yaseen", row["class"])
        for row in csv.DictReader((heart / "yaseen2018/labels.csv").open())
    ]
    items += [Example(p, "pascal", "N") for p in sorted((heart / "pascal_a_normal").glob("*.wav"))]
    items += [
        Example(heart / "physionet2016" / f"{row['record']}.wav", "physionet", "N")
        for row in csv.DictReader((heart / "physionet2016/labels.csv").open())
        if row["label"] == "normal"
    ]
    for gt in sorted((heart / "circor/gt").glob("*.json")):
        if json.loads(gt.read_text())["murmur_at_this_location_derived"] == "Absent":
            items.append(Example(heart / "circor" / f"{gt.stem}.wav", "circor", "N"))
    return items


def features_of(path: Path) -> np.ndarray | None:
    recording = read_recording(path)
    x, rate = resample(recording.samples, recording.sample_rate_hz, ANALYSIS_RATE_HZ)
    x64 = x.astype(np.float64)
    seg = segment_heart(x64, rate)
    measured = murmur_features(x64, rate, seg.envelope, seg.systoles, seg.diastoles)
    return None if measured is None else measured[0]


def export(model: object) -> dict[str, object]:
    scaler, regression = model.steps[0][1], model.steps[1][1]  # type: ignore[attr-defined]
    return {
        "mean": scaler.mean_.round(6).tolist(),
        "scale": scaler.scale_.round(6).tolist(),
        "weights": regression.coef_[0].round(6).tolist(),
        "bias": round(float(regression.intercept_[0]), 6),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared/data")
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    args = parser.parse_args()

    rows, feats = [], []
    for example in examples(args.data):
        f = features_of(example.path)
        if f is None:
            print(f"  no complete cycle, skipped: {example.path.name}")
            continue
        rows.append(example)
        feats.append(f)
    x = np.asarray(feats)
    present = np.array([e.label != "N" for e in rows], dtype=int)
    groups = np.array([e.group for e in rows])
    labels = np.array([e.label for e in rows])

    def pipeline() -> object:
        return make_pipeline(
            StandardScaler(), LogisticRegression(C=REGULARISATION_C, class_weight="balanced")
        )

    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    predicted = cross_val_predict(pipeline(), x, present, cv=folds)
    yaseen = groups == "yaseen"
    print(
        f"examples: {len(rows)} ({int(present.sum())} murmur, {int((present == 0).sum())} absent)"
    )
    print(
        "presence, 5-fold CV balanced accuracy, all: "
        f"{balanced_accuracy_score(present, predicted):.3f}"
    )
    print(
        "  Yaseen N vs MR/MS/MVP: "
        f"{balanced_accuracy_score(present[yaseen], predicted[yaseen]):.3f}"
    )
    print(f"  real-world normal recordings called absent: {np.mean(predicted[~yaseen] == 0):.3f}")
    for cls in ("N", "MR", "MS", "MVP"):
        m = yaseen & (labels == cls)
        print(
            f"  Yaseen {cls}: {np.mean(predicted[m] == present[m]):.3f} correct (n={int(m.sum())})"
        )

    presence = pipeline().fit(x, present)  # type: ignore[attr-defined]
    timed = np.isin(labels, sorted(SYSTOLIC | DIASTOLIC))
    systolic = np.isin(labels[timed], sorted(SYSTOLIC)).astype(int)
    timing_cv = cross_val_predict(pipeline(), x[timed], systolic, cv=folds)
    print(
        f"timing (systolic vs diastolic), 5-fold CV balanced accuracy: "
        f"{balanced_accuracy_score(systolic, timing_cv):.3f}"
    )
    timing = pipeline().fit(x[timed], systolic)  # type: ignore[attr-defined]

    payload = {
        "feature_names": list(FEATURE_NAMES),
        "presence": export(presence),
        "systolic_timing": export(timing),
        "training": {
            "script": "training/train_murmur.py",
            "fitted_at": datetime.now(UTC).strftime("%Y-%m-%d"),
            "scikit_learn": sklearn.__version__,
            "C": REGULARISATION_C,
            "examples": {g: int((groups == g).sum()) for g in sorted(set(groups))},
        },
    }
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
