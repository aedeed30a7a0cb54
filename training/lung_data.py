"""The annotated lung recordings in `../shared/data/lung` and the ICBHI-style scoring.

Shared by `training/train_lung.py` and `bench/eval_lung.py`, so tuning and evaluation read the
labels and score cycles the same way.
"""

from __future__ import annotations

import json
import statistics
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
    """Every annotated lung recording under `data/lung` whose folder is present."""
    lung = data / "lung"
    return [*_icbhi(lung), *_icbhi_clip(lung), *_fraiwan(lung), *_kahya(lung)]


def _icbhi(lung: Path) -> list[LungReference]:
    """ICBHI recordings with their cycles: from `<name>.gt.json`, or else the database's own
    `<name>.txt` (one cycle per line: start, end, crackles, wheezes)."""
    refs = []
    for wav in sorted((lung / "icbhi2017").glob("*.wav")):
        gt_path, txt_path = wav.with_suffix(".gt.json"), wav.with_suffix(".txt")
        if gt_path.exists():
            rows = [
                (c["start_s"], c["end_s"], c["crackles"], c["wheezes"])
                for c in json.loads(gt_path.read_text())["cycles"]
            ]
        elif txt_path.exists():
            rows = [
                tuple(map(float, line.split()[:4])) for line in txt_path.read_text().splitlines()
            ]
        else:
            continue
        cycles = [LungCycle(float(a), float(b), bool(c), bool(w)) for a, b, c, w in rows if b > a]
        if not cycles:
            continue
        span_s = cycles[-1].end_s - cycles[0].start_s
        median_s = statistics.median(c.end_s - c.start_s for c in cycles)
        refs.append(
            LungReference(
                "icbhi",
                wav,
                wheeze=any(c.wheezes for c in cycles),
                crackle=any(c.crackles for c in cycles),
                cycles=cycles,
                respiratory_rate_bpm=len(cycles) * 60.0 / span_s,
                median_cycle_rate_bpm=60.0 / median_s,
            )
        )
    return refs


def _icbhi_clip(lung: Path) -> list[LungReference]:
    """One cycle of another device (AKG C417L), filtered by a third party."""
    clip = lung / "icbhi2017_cycle" / "gt.json"
    if not clip.exists():
        return []
    gt = json.loads(clip.read_text())
    cycle = LungCycle(0.0, gt["duration_s"], bool(gt["crackles"]), bool(gt["wheezes"]))
    return [
        LungReference(
            "icbhi_cycle",
            clip.parent / gt["recording"],
            wheeze=cycle.wheezes,
            crackle=cycle.crackles,
            cycles=[cycle],
        )
    ]


def _fraiwan(lung: Path) -> list[LungReference]:
    """Fraiwan et al. 2021, labelled in the file name: `<id>_<diagnosis>,<sound type>,<chest
    location>,<age>,<sex>.wav`, the sound type holding W (wheeze) and C / Crep (crackles)."""
    refs = []
    for wav in sorted((lung / "fraiwan2021").glob("*.wav")):
        fields = wav.stem.split(",")
        if len(fields) < 2:
            continue
        sound = fields[1].split()
        refs.append(
            LungReference(
                "fraiwan",
                wav,
                wheeze="W" in sound,
                crackle=any(token in ("C", "Crep") for token in sound),
            )
        )
    return refs


def _kahya(lung: Path) -> list[LungReference]:
    refs = []
    for stem, label in KAHYA_LABELS.items():
        path = lung / "kahya_multimedia" / f"{stem}.wav"
        if path.exists():
            refs.append(LungReference("kahya", path, "W" in label, "C" in label))
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
