"""The annotated lung recordings in `../shared/data/lung` and the ICBHI-style scoring.

Shared by `training/train_lung.py` and `bench/eval_lung.py`, so tuning and evaluation read the
labels and score cycles the same way.
"""

from __future__ import annotations

import csv
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


SPR_CRACKLE = frozenset({"Fine Crackle", "Coarse Crackle", "Wheeze+Crackle"})
SPR_WHEEZE = frozenset({"Wheeze", "Rhonchi", "Stridor", "Wheeze+Crackle"})


@dataclass(frozen=True)
class SprEvent:
    start_s: float
    end_s: float
    kind: str  # Normal, Wheeze, Rhonchi, Stridor, Fine Crackle, Coarse Crackle, Wheeze+Crackle

    @property
    def crackles(self) -> bool:
        return self.kind in SPR_CRACKLE

    @property
    def wheezes(self) -> bool:
        return self.kind in SPR_WHEEZE


@dataclass(frozen=True)
class SprRecording:
    """One SPRSound 2022 recording with its labels (SCORING.md: CAS = wheeze, DAS = crackle)."""

    path: Path
    patient: str
    record: str  # Normal, CAS, DAS, CAS & DAS, Poor Quality
    events: list[SprEvent]

    @property
    def poor_quality(self) -> bool:
        return self.record == "Poor Quality"

    @property
    def wheeze(self) -> bool:
        return self.record in ("CAS", "CAS & DAS")

    @property
    def crackle(self) -> bool:
        return self.record in ("DAS", "CAS & DAS")


def load_sprsound(data: Path) -> list[SprRecording]:
    """SPRSound 2022 from `data/lung/sprsound2022/labels.csv`; the patient is the file-name
    prefix. Empty when the folder is absent."""
    folder = data / "lung" / "sprsound2022"
    labels = folder / "labels.csv"
    if not labels.exists():
        return []
    out = []
    with labels.open(newline="") as f:
        for row in csv.DictReader(f):
            raw = json.loads((folder / row["json"]).read_text())
            record = raw.get("record_annotation", raw.get("recording_annotation"))
            events = [
                SprEvent(int(e["start"]) / 1000.0, int(e["end"]) / 1000.0, e["type"])
                for e in raw.get("event_annotation", [])
            ]
            patient = row["file"].split("_")[0]
            out.append(SprRecording(folder / row["file"], patient, record, events))
    return out


def load_circor_heart(data: Path, per_patient: int = 1) -> list[tuple[str, Path]]:
    """(patient, path) of CirCor 2022 heart recordings (`per_patient` of each child): real heart
    recordings that someone might upload as lung sounds."""
    folder = data / "heart" / "circor2022"
    labels = folder / "labels.csv"
    if not labels.exists():
        return []
    seen: dict[str, int] = {}
    out = []
    with labels.open(newline="") as f:
        for row in csv.DictReader(f):
            if seen.get(row["patient"], 0) < per_patient:
                seen[row["patient"]] = seen.get(row["patient"], 0) + 1
                out.append((row["patient"], folder / row["file"]))
    return out


def patient_of(ref: LungReference) -> str:
    """The patient a recording belongs to, as the folds group them. ICBHI: the file-name prefix;
    Fraiwan: the EP number (EP76 and EP77 are one recording under two labels, so one group);
    others stand alone."""
    stem = ref.path.stem
    if ref.dataset == "icbhi":
        return "icbhi-" + stem.split("_")[0]
    if ref.dataset == "fraiwan":
        ep = stem.split("_")[0]
        return "fraiwan-" + ("EP76" if ep == "EP77" else ep)
    return f"{ref.dataset}-{stem}"
