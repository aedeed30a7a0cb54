"""The lung exam: one verdict per adventitious sound from the recordings of several chest sites.

A clinician listening at six or twelve sites says "wheezes over both bases", "crackles at the
right base": a sound is **present** when it is found at one interpretable site or more (the sites
listed, the strongest first); **absent** when none is found and at least
`MIN_INTERPRETABLE_SITES` sites (or every site recorded, if fewer were) could be interpreted;
otherwise **unknown**. A site is interpretable when its quality is usable and the analysis made a
decision for that sound. The same rule as the heart exam (stethoscope.exam), per sound.
"""

from __future__ import annotations

from collections.abc import Mapping
from statistics import median
from typing import Literal

from pydantic import Field

from stethoscope.result import AnalysisResult, ResultModel

#: Sites that must be interpretable before a sound is called absent (as for the heart exam).
MIN_INTERPRETABLE_SITES = 2
#: Site breathing rates count towards the exam rate at this confidence or more.
CONFIDENT_RATE = 0.5

Verdict = Literal["present", "absent", "unknown"]
LungExamReason = Literal[
    "wheeze_found",
    "crackle_found",
    "too_few_interpretable_sites",
    "uninterpretable_site",
    "no_lung_recording",
    "no_confident_rate",
]


class LungExamAssessment(ResultModel):
    """The patient-level verdict of one lung exam, with its reasons."""

    wheeze: Verdict
    wheeze_sites: list[str] = Field(description="sites with wheezes, strongest first")
    crackle: Verdict
    crackle_sites: list[str] = Field(description="sites with crackles, strongest first")
    interpretable_sites: list[str]
    uninterpretable_sites: list[str]
    respiratory_rate_bpm: float | None = Field(description="median of the confident site rates")
    reasons: list[LungExamReason]


def assess_lung_exam(results: Mapping[str, AnalysisResult]) -> LungExamAssessment:
    """Combine per-site lung results (keys: site names) into one exam verdict."""
    lungs = {site: r for site, r in results.items() if r.kind == "lung" and r.lung is not None}
    reasons: list[LungExamReason] = [] if lungs else ["no_lung_recording"]
    usable = [site for site, r in lungs.items() if r.quality.usable]
    uninterpretable = [site for site in lungs if site not in usable]
    if uninterpretable:
        reasons.append("uninterpretable_site")

    def verdict(sound: Literal["wheeze", "crackle"]) -> tuple[Verdict, list[str]]:
        decided = [s for s in usable if getattr(lungs[s].lung, f"{sound}_present") is not None]
        found = sorted(
            (s for s in decided if getattr(lungs[s].lung, f"{sound}_present")),
            key=lambda s: getattr(lungs[s].lung, f"{sound}_score"),
            reverse=True,
        )
        if found:
            reasons.append("wheeze_found" if sound == "wheeze" else "crackle_found")
            return "present", found
        if lungs and len(decided) >= min(MIN_INTERPRETABLE_SITES, len(lungs)):
            return "absent", []
        if lungs and "too_few_interpretable_sites" not in reasons:
            reasons.append("too_few_interpretable_sites")
        return "unknown", []

    wheeze, wheeze_sites = verdict("wheeze")
    crackle, crackle_sites = verdict("crackle")
    rates = [
        lung.respiratory_rate_bpm
        for site in usable
        if (lung := lungs[site].lung) is not None
        and lung.respiratory_rate_bpm is not None
        and lung.respiratory_rate_confidence >= CONFIDENT_RATE
    ]
    if lungs and not rates:
        reasons.append("no_confident_rate")
    return LungExamAssessment(
        wheeze=wheeze,
        wheeze_sites=wheeze_sites,
        crackle=crackle,
        crackle_sites=crackle_sites,
        interpretable_sites=usable,
        uninterpretable_sites=uninterpretable,
        respiratory_rate_bpm=round(median(rates), 1) if rates else None,
        reasons=reasons,
    )
