"""Auscultation sites and exam protocols: the one enumeration the analysis core, the backend and
the edge uploader share (the backend validates uploads and exams with it; the uploader prompts
with its placement instructions).

Heart: the four classic valve areas. Lung: anterior, posterior and lateral chest, left and right,
upper, middle and lower fields, and the trachea. Protocols are the site sequences of a standard
exam; an exam may also list its own sites.
"""

from __future__ import annotations

from typing import Literal, get_args

Kind = Literal["heart", "lung"]
HeartSite = Literal["aortic", "pulmonic", "tricuspid", "mitral"]
Site = Literal[
    "aortic", "pulmonic", "tricuspid", "mitral", "trachea",
    "anterior-left-upper", "anterior-left-middle", "anterior-left-lower",
    "anterior-right-upper", "anterior-right-middle", "anterior-right-lower",
    "posterior-left-upper", "posterior-left-middle", "posterior-left-lower",
    "posterior-right-upper", "posterior-right-middle", "posterior-right-lower",
    "lateral-left-upper", "lateral-left-middle", "lateral-left-lower",
    "lateral-right-upper", "lateral-right-middle", "lateral-right-lower",
]  # fmt: skip
HEART_SITES: tuple[str, ...] = get_args(HeartSite)
LUNG_SITES: tuple[str, ...] = tuple(s for s in get_args(Site) if s not in HEART_SITES)
ProtocolName = Literal["heart-4", "lung-6", "lung-12"]
_LEVELS = ("upper", "middle", "lower")

#: Standard exams: the sites in the order they are recorded.
PROTOCOLS: dict[ProtocolName, tuple[Kind, tuple[str, ...]]] = {
    "heart-4": ("heart", ("aortic", "pulmonic", "tricuspid", "mitral")),
    "lung-6": (
        "lung",
        tuple(f"posterior-{lr}-{lvl}" for lvl in _LEVELS for lr in ("left", "right")),
    ),
    "lung-12": (
        "lung",
        tuple(
            f"{face}-{lr}-{lvl}"
            for face in ("anterior", "posterior")
            for lvl in _LEVELS
            for lr in ("left", "right")
        ),
    ),
}

_HEART_PLACES = {
    "aortic": "2nd intercostal space, right sternal border",
    "pulmonic": "2nd intercostal space, left sternal border",
    "tricuspid": "4th-5th intercostal space, left lower sternal border",
    "mitral": "5th intercostal space, left midclavicular line (apex)",
}
_LUNG_LEVELS = {
    "anterior": {"upper": "below the clavicle", "middle": "4th intercostal space",
                 "lower": "6th intercostal space, midclavicular line"},
    "posterior": {"upper": "between spine and upper scapula", "middle": "below the scapula tip",
                  "lower": "above the diaphragm, paravertebral"},
    "lateral": {"upper": "axilla", "middle": "mid-axillary line, 6th rib",
                "lower": "mid-axillary line, 8th rib"},
}  # fmt: skip


def site_kind(site: str) -> Kind | None:
    """Which kind of recording a site is for (None for an unknown site)."""
    if site in HEART_SITES:
        return "heart"
    return "lung" if site in LUNG_SITES else None


def site_matches_kind(site: str, kind: str) -> bool:
    """Heart recordings come from the four valve areas, lung ones from the chest or trachea."""
    return site_kind(site) == kind


def placement(site: str) -> str:
    """Where to put the chest piece, in words for the person recording."""
    if site in _HEART_PLACES:
        return f"{site}: {_HEART_PLACES[site]}"
    if site == "trachea":
        return "trachea: over the trachea, above the sternal notch"
    face, side, level = site.split("-")
    return f"{site}: {face} chest, {side} side, {_LUNG_LEVELS[face][level]}"
