"""Accuracy of the lung analysis on the annotated development recordings.

    python bench/eval_lung.py --data ../shared/data

Prints: respiratory rate within 3/min (%) and MAE against ICBHI (reference = annotated cycles x 60
/ annotated span; also against 60 / median annotated cycle, which does not count the partial
cycles at the ends as breaths); the ICBHI-style cycle score (each annotated cycle classed normal /
crackle / wheeze / both from the events the analysis reports inside it; Se = correct abnormal
cycles / abnormal cycles, Sp = correct normal cycles / normal cycles, score = (Se + Sp) / 2), and
the class of the single ICBHI cycle clip; per-recording wheeze and crackle balanced accuracy on
Fraiwan (labels from the file names), ICBHI and the Kahya teaching clips; the real-time factor;
the cross-validated figures training/train_lung.py stored with the thresholds; any file the
analysis failed on.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "functions"))
sys.path.insert(0, str(REPO))

from stethoscope import AnalysisInputError, analyze_file  # noqa: E402
from stethoscope.lung.analysis import MODEL_PATH, classify_cycle  # noqa: E402
from training.lung_data import CycleScore, load_lung_references  # noqa: E402
from training.metrics import balanced_accuracy  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared/data")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()

    rate_errors: list[float] = []
    median_cycle_errors: list[float] = []
    cycles: dict[str, CycleScore] = defaultdict(CycleScore)
    wheeze: dict[str, tuple[list[bool], list[bool]]] = defaultdict(lambda: ([], []))
    crackle: dict[str, tuple[list[bool], list[bool]]] = defaultdict(lambda: ([], []))
    audio_s = cpu_s = 0.0
    failures: list[str] = []
    for ref in load_lung_references(args.data):
        start = time.process_time()
        try:
            result = analyze_file(ref.path, kind="lung")
        except AnalysisInputError as exc:
            failures.append(f"{ref.path.name}: {exc}")
            continue
        cpu_s += time.process_time() - start
        audio_s += result.duration_s
        lung = result.lung
        assert lung is not None
        for cycle in ref.cycles:
            cycles[ref.dataset].add(
                (cycle.crackles, cycle.wheezes), classify_cycle(cycle.start_s, cycle.end_s, lung)
            )
        if ref.dataset == "icbhi_cycle":
            continue  # one cycle: scored above only
        wheeze[ref.dataset][0].append(ref.wheeze)
        wheeze[ref.dataset][1].append(bool(lung.wheeze_present))
        crackle[ref.dataset][0].append(ref.crackle)
        crackle[ref.dataset][1].append(bool(lung.crackle_present))
        if ref.respiratory_rate_bpm is not None:
            rate = lung.respiratory_rate_bpm
            rate_errors.append(abs(rate - ref.respiratory_rate_bpm) if rate else float("inf"))
            if ref.median_cycle_rate_bpm is not None:
                median_cycle_errors.append(
                    abs(rate - ref.median_cycle_rate_bpm) if rate else float("inf")
                )
        if args.verbose:
            print(
                f"  {ref.dataset:8s} {ref.path.name[:34]:34s} rate {lung.respiratory_rate_bpm} "
                f"(ref {ref.respiratory_rate_bpm})  wheeze {lung.wheeze_present}/{ref.wheeze}  "
                f"crackle {lung.crackle_present}/{ref.crackle}  quality {result.quality.score}"
            )

    for label, values in (
        ("ICBHI respiratory rate", rate_errors),
        ("  against 60 / median annotated cycle instead", median_cycle_errors),
    ):
        if values:
            errors = np.array(values)
            finite = errors[np.isfinite(errors)]
            mae = f"{np.mean(finite):.1f}" if len(finite) else "-"
            print(
                f"{label}: within 3/min {100 * np.mean(errors <= 3):.0f}% "
                f"(n={len(errors)}), MAE {mae}/min"
            )
    if icbhi := cycles.get("icbhi"):
        print(
            f"ICBHI cycle score {icbhi.score:.3f} (Se {icbhi.sensitivity:.3f} over "
            f"{icbhi.abnormal} abnormal cycles, Sp {icbhi.specificity:.3f} over {icbhi.normal} "
            "normal cycles)"
        )
    if clip := cycles.get("icbhi_cycle"):
        print(
            f"  single ICBHI cycle from another device (AKG C417L, crackles and wheezes): "
            f"{clip.abnormal_correct}/{clip.abnormal} classed right"
        )
    for dataset in sorted(wheeze):
        print(
            f"{dataset:8s} wheeze balanced accuracy {balanced_accuracy(*wheeze[dataset]):.3f}, "
            f"crackle balanced accuracy {balanced_accuracy(*crackle[dataset]):.3f} "
            f"(n={len(wheeze[dataset][0])})"
        )
    print(f"real-time factor: {audio_s / max(cpu_s, 1e-9):.0f}x ({audio_s:.0f} s of audio)")
    print(
        "note: the thresholds were tuned on ../shared/data (training/train_lung.py); on those"
        " recordings the figures above are in-sample. Cross-validated there:"
    )
    held_out = json.loads(MODEL_PATH.read_text())["training"]["cross_validated"]
    print("  " + ", ".join(f"{k} {v:.3f}" for k, v in held_out.items()))
    print(f"failures: {len(failures)}")
    for line in failures:
        print("  " + line)


if __name__ == "__main__":
    main()
