"""Accuracy of the heart analysis on the annotated development recordings.

    python bench/eval_heart.py --data ../shared/data

Prints per data set: heart rate within 5 bpm (%) and MAE against the annotated rate, S1 and S2
detection F1 (predicted sound centre within ±60 ms of the annotated centre, one-to-one matching,
only where the recording is annotated), murmur balanced accuracy, and the real-time factor; then
the pooled figures. Every heart recording is analysed, so a crash on any file shows here too.

Annotated regions: CirCor — the TSV's segments with a state other than 0 ("unannotated");
PASCAL — stretches between consecutive annotated sounds closer than 0.8 of the median cycle (its
annotators skipped beats, so predictions in those gaps are neither hits nor false alarms).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "functions"))
sys.path.insert(0, str(REPO))

from stethoscope import AnalysisInputError, analyze_file  # noqa: E402
from stethoscope.result import AnalysisResult  # noqa: E402
from training.metrics import balanced_accuracy  # noqa: E402

TOLERANCE_S = 0.06
Regions = list[tuple[float, float]]


@dataclass
class Reference:
    dataset: str
    path: Path
    s1_s: np.ndarray | None = None
    s2_s: np.ndarray | None = None
    regions: Regions = field(default_factory=list)
    heart_rate_bpm: float | None = None
    murmur: bool | None = None  # None: not labelled


@dataclass
class Tally:
    hits: int = 0
    predicted: int = 0
    annotated: int = 0

    def add(self, hits: int, predicted: int, annotated: int) -> None:
        self.hits += hits
        self.predicted += predicted
        self.annotated += annotated

    @property
    def f1(self) -> float:
        total = self.predicted + self.annotated
        return 2 * self.hits / total if total else float("nan")


def load_references(data: Path) -> list[Reference]:
    heart = data / "heart"
    refs: list[Reference] = []
    for gt_path in sorted((heart / "circor/gt").glob("*.json")):
        gt = json.loads(gt_path.read_text())
        tsv = np.loadtxt(heart / "circor" / f"{gt_path.stem}.tsv", ndmin=2)
        murmur = {"Present": True, "Absent": False}.get(gt["murmur_at_this_location_derived"])
        refs.append(
            Reference(
                "circor",
                heart / "circor" / f"{gt_path.stem}.wav",
                (np.array(gt["s1_onsets_s"]) + np.array(gt["s1_offsets_s"])) / 2,
                (np.array(gt["s2_onsets_s"]) + np.array(gt["s2_offsets_s"])) / 2,
                [(a, b) for a, b, state in tsv if state != 0],
                gt["derived_heart_rate_bpm_median"],
                murmur,
            )
        )
    for gt_path in sorted((heart / "pascal_a_normal/gt").glob("*.json")):
        gt = json.loads(gt_path.read_text())
        s1, s2 = np.array(gt["s1_location_s"]), np.array(gt["s2_location_s"])
        cycle = 60.0 / gt["derived_heart_rate_bpm_median"]
        refs.append(
            Reference(
                "pascal",
                heart / "pascal_a_normal" / gt["recording"],
                s1,
                s2,
                _pascal_regions(np.sort(np.concatenate([s1, s2])), cycle),
                gt["derived_heart_rate_bpm_median"],
                False,  # data set A "normal": no murmur
            )
        )
    for row in _rows(heart / "physionet2016/labels.csv"):
        murmur = False if row["label"] == "normal" else None
        refs.append(
            Reference("physionet", heart / "physionet2016" / f"{row['record']}.wav", murmur=murmur)
        )
    for row in _rows(heart / "yaseen2018/labels.csv"):
        refs.append(
            Reference("yaseen", heart / "yaseen2018" / row["file"], murmur=row["class"] != "N")
        )
    return refs


def _rows(labels: Path) -> list[dict[str, str]]:
    """The rows of a labels file; none when that data set is not present."""
    if not labels.exists():
        return []
    with labels.open() as f:
        return list(csv.DictReader(f))


def _pascal_regions(sounds: np.ndarray, cycle_s: float) -> Regions:
    regions = [(t - 0.1, t + 0.1) for t in sounds]
    regions += [(a, b) for a, b in itertools.pairwise(sounds) if b - a <= 0.8 * cycle_s]
    return regions


def inside(times: np.ndarray, regions: Regions) -> np.ndarray:
    mask = np.zeros(len(times), dtype=bool)
    for a, b in regions:
        mask |= (times >= a) & (times <= b)
    return mask


def matched(predicted: np.ndarray, annotated: np.ndarray) -> int:
    """One-to-one matches within the tolerance (optimal assignment)."""
    if len(predicted) == 0 or len(annotated) == 0:
        return 0
    distance = np.abs(predicted[:, None] - annotated[None, :])
    cost = np.where(distance <= TOLERANCE_S, distance, 1e6)
    rows, cols = linear_sum_assignment(cost)
    return int(np.sum(cost[rows, cols] <= TOLERANCE_S))


def centres(result: AnalysisResult) -> tuple[np.ndarray, np.ndarray]:
    assert result.heart is not None
    beats = result.heart.beats
    s1 = np.array([(b.s1_onset_s + b.s1_offset_s) / 2 for b in beats])
    s2 = np.array([(b.s2_onset_s + b.s2_offset_s) / 2 for b in beats])
    return s1, s2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared/data")
    parser.add_argument("--verbose", action="store_true", help="one line per annotated recording")
    args = parser.parse_args()

    s1_tally: dict[str, Tally] = defaultdict(Tally)
    s2_tally: dict[str, Tally] = defaultdict(Tally)
    rate_errors: dict[str, list[float]] = defaultdict(list)
    murmur_truth: dict[str, list[bool]] = defaultdict(list)
    murmur_said: dict[str, list[bool | None]] = defaultdict(list)
    audio_s: dict[str, float] = defaultdict(float)
    cpu_s: dict[str, float] = defaultdict(float)
    failures: list[str] = []
    for ref in load_references(args.data):
        start = time.process_time()
        try:
            result = analyze_file(ref.path, kind="heart")
        except AnalysisInputError as exc:
            failures.append(f"{ref.path.name}: {exc}")
            continue
        cpu_s[ref.dataset] += time.process_time() - start
        audio_s[ref.dataset] += result.duration_s
        heart = result.heart
        assert heart is not None
        if ref.murmur is not None:
            murmur_truth[ref.dataset].append(ref.murmur)
            murmur_said[ref.dataset].append(heart.murmur.present)
        if ref.heart_rate_bpm is not None:
            rate = heart.heart_rate_bpm
            rate_errors[ref.dataset].append(
                abs(rate - ref.heart_rate_bpm) if rate else float("inf")
            )
        if ref.s1_s is None or ref.s2_s is None:
            continue
        s1, s2 = centres(result)
        s1, s2 = s1[inside(s1, ref.regions)], s2[inside(s2, ref.regions)]
        h1, h2 = matched(s1, ref.s1_s), matched(s2, ref.s2_s)
        s1_tally[ref.dataset].add(h1, len(s1), len(ref.s1_s))
        s2_tally[ref.dataset].add(h2, len(s2), len(ref.s2_s))
        if args.verbose:
            f1 = 2 * (h1 + h2) / (len(s1) + len(s2) + len(ref.s1_s) + len(ref.s2_s))
            print(
                f"  {ref.dataset:8s} {ref.path.name:22s} rate {heart.heart_rate_bpm} "
                f"(annotated {ref.heart_rate_bpm:.1f})  S1/S2 F1 {f1:.3f}  "
                f"quality {result.quality.score:.2f} {result.quality.reasons}"
            )

    print(
        f"{'data set':10s} {'HR ±5bpm':>9s} {'HR MAE':>7s} {'S1 F1':>6s} {'S2 F1':>6s} "
        f"{'F1':>6s} {'murmur BA':>9s} {'n':>4s} {'x real time':>11s}"
    )
    pooled, pooled_rates = Tally(), []
    for dataset in sorted(audio_s):
        errors = np.array(rate_errors.get(dataset, []))
        both = Tally()
        for tally in (s1_tally, s2_tally):
            if dataset in tally:
                both.add(tally[dataset].hits, tally[dataset].predicted, tally[dataset].annotated)
        pooled.add(both.hits, both.predicted, both.annotated)
        pooled_rates.extend(errors.tolist())
        ba = (
            balanced_accuracy(murmur_truth[dataset], murmur_said[dataset])
            if dataset in murmur_truth
            else float("nan")
        )
        n = len(murmur_truth.get(dataset, [])) or len(errors)
        speed = audio_s[dataset] / max(cpu_s[dataset], 1e-9)
        print(
            f"{dataset:10s} {_pct(errors):>9s} {_mae(errors):>7s} "
            f"{_f(s1_tally[dataset].f1 if dataset in s1_tally else np.nan):>6s} "
            f"{_f(s2_tally[dataset].f1 if dataset in s2_tally else np.nan):>6s} "
            f"{_f(both.f1):>6s} {_f(ba):>9s} {n:>4d} {speed:>11.0f}"
        )
    all_truth = [t for d in murmur_truth for t in murmur_truth[d]]
    all_said = [s for d in murmur_said for s in murmur_said[d]]
    rates = np.array(pooled_rates)
    print(
        f"{'pooled':10s} {_pct(rates):>9s} {_mae(rates):>7s} {'':>6s} {'':>6s} {_f(pooled.f1):>6s} "
        f"{_f(balanced_accuracy(all_truth, all_said)):>9s} {'':>4s} "
        f"{sum(audio_s.values()) / max(sum(cpu_s.values()), 1e-9):>11.0f}"
    )
    print(
        "note: the murmur model was fitted on Yaseen and the normal recordings above (in-sample);"
        " training/train_murmur.py prints the cross-validated figures."
    )
    print(f"failures: {len(failures)}")
    for line in failures:
        print("  " + line)


def _pct(errors: np.ndarray) -> str:
    return f"{100 * np.mean(errors <= 5):.0f}%" if len(errors) else "-"


def _mae(errors: np.ndarray) -> str:
    finite = errors[np.isfinite(errors)]
    return f"{np.mean(finite):.1f}" if len(finite) else "-"


def _f(value: float) -> str:
    return "-" if np.isnan(value) else f"{value:.3f}"


if __name__ == "__main__":
    main()
