"""The annotated lung recordings in `../shared/data/lung` and the ICBHI-style scoring.

Shared by `training/train_lung.py` and `bench/eval_lung.py`, so tuning and evaluation read the
labels and score cycles the same way.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

KAHYA_LABELS = {"healthy": "", "crackles": "C", "wheezes": "W", "rhonchus": "W"}


@dataclass(frozen=True)
class LungCycle:
    start_s: float
    end_s: float
    crackles: bool
    wheezes: bool


@dataclass(frozen=True)
class LungReference:
    dataset: str  # icbhi | icbhi_cycle | fraiwan | kahya
    path: Path
    wheeze: bool
    crackle: bool
    cycles: list[LungCycle] = field(default_factory=list)  # ICBHI only
    respiratory_rate_bpm: float | None = None  # ICBHI: cycles x 60 / annotated span
    #: ICBHI: 60 / median annotated cycle; unlike the span-based rate, partial cycles at the
    #: recording's ends do not count as whole breaths in it
    median_cycle_rate_bpm: float | None = None


def load_lung_references(data: Path) -> list[LungReference]:
    lung = data / "lung"
    refs: list[LungReference] = []
    for gt_path in sorted((lung / "icbhi2017").glob("*.gt.json")):
        gt = json.loads(gt_path.read_text())
        cycles = [
            LungCycle(c["start_s"], c["end_s"], bool(c["crackles"]), bool(c["wheezes"]))
            for c in gt["cycles"]
        ]
        refs.append(
            LungReference(
                "icbhi",
                lung / "icbhi2017" / gt["file"],
                wheeze=any(c.wheezes for c in cycles),
                crackle=any(c.crackles for c in cycles),
                cycles=cycles,
                respiratory_rate_bpm=gt["derived_rr_bpm"],
                median_cycle_rate_bpm=gt["derived_rr_bpm_from_median_cycle"],
            )
        )
    clip = lung / "icbhi2017_cycle" / "gt.json"
    if clip.exists():  # one cycle of another device (AKG C417L), filtered by a third party
        gt = json.loads(clip.read_text())
        cycle = LungCycle(0.0, gt["duration_s"], bool(gt["crackles"]), bool(gt["wheezes"]))
        refs.append(
            LungReference(
                "icbhi_cycle",
                clip.parent / gt["recording"],
                wheeze=cycle.wheezes,
                crackle=cycle.crackles,
                cycles=[cycle],
            )
        )
    for row in csv.DictReader((lung / "fraiwan2021/labels.csv").open()):
        sound = row["sound_type"]
        refs.append(
            LungReference(
                "fraiwan",
                lung / "fraiwan2021" / row["file"],
                wheeze="W" in sound,
                crackle="C" in sound,
            )
        )
    for stem, label in KAHYA_LABELS.items():
        refs.append(
            LungReference(
                "kahya", lung / "kahya_multimedia" / f"{stem}.wav", "W" in label, "C" in label
            )
        )
    return refs


@dataclass
class CycleScore:
    """ICBHI 2017 challenge score: Se over abnormal cycles, Sp over normal ones."""

    abnormal: int = 0
    abnormal_correct: int = 0
    normal: int = 0
    normal_correct: int = 0

    def add(self, truth: tuple[bool, bool], said: tuple[bool, bool]) -> None:
        if truth == (False, False):
            self.normal += 1
            self.normal_correct += said == truth
        else:
            self.abnormal += 1
            self.abnormal_correct += said == truth

    def merge(self, other: CycleScore) -> None:
        self.abnormal += other.abnormal
        self.abnormal_correct += other.abnormal_correct
        self.normal += other.normal
        self.normal_correct += other.normal_correct

    @property
    def sensitivity(self) -> float:
        return self.abnormal_correct / self.abnormal if self.abnormal else float("nan")

    @property
    def specificity(self) -> float:
        return self.normal_correct / self.normal if self.normal else float("nan")

    @property
    def score(self) -> float:
        return (self.sensitivity + self.specificity) / 2
