"""The four-point heart exam: one verdict from the recordings of several auscultation sites.

A clinician listens at the aortic, pulmonic, tricuspid and mitral areas (AV, PV, TV, MV) and
decides per patient: a murmur is present if it is heard at any site. That is also how CirCor 2022
labels a patient (Oliveira et al. 2022, IEEE JBHI 26(6)), and this is its rule, applied to the
per-recording results: a site counts only when its recording could be interpreted (quality usable
and a murmur decision made); **present** when a murmur is found at one interpretable site or
more (its timing, and a systolic murmur's shape, are read at the most audible site); **absent**
when none is found and at least `MIN_INTERPRETABLE_SITES` sites (or every site recorded, if fewer
were) could be interpreted; otherwise **unknown** — a wrong "absent" from one noisy site is worse
than asking for another recording.
"""

from __future__ import annotations

from collections.abc import Mapping
from statistics import median
from typing import Literal

from pydantic import Field

from stethoscope.result import AnalysisResult, ResultModel

#: Sites that must be interpretable before "no murmur" is said (CirCor exams record 2-4 sites;
#: two is the fewest that still covers the base and the apex of the heart).
MIN_INTERPRETABLE_SITES = 2
#: Heart rates count towards the exam rate at this calibrated confidence (P(within 5 bpm)).
CONFIDENT_RATE = 0.5
#: Site rates further apart than this share of their median are reported as disagreeing.
RATE_SPREAD = 0.1

ExamReason = Literal[
    "murmur_found",  # a murmur at one interpretable site or more
    "no_murmur_at_interpretable_sites",
    "too_few_interpretable_sites",  # not enough sites could be interpreted to rule a murmur out
    "uninterpretable_site",  # at least one site could not be interpreted (re-record it)
    "no_heart_recording",  # no heart result was given
    "no_confident_rate",  # no site has a confident heart rate
    "site_rates_disagree",  # confident site rates differ by more than `RATE_SPREAD`
]


class ExamAssessment(ResultModel):
    """The patient-level verdict of one exam (several sites), with its reasons."""

    murmur: Literal["present", "absent", "unknown"]
    murmur_sites: list[str] = Field(description="sites where a murmur was found, loudest first")
    most_audible_site: str | None = Field(description="site with the highest murmur score")
    murmur_timing: Literal["systolic", "diastolic", "continuous"] | None = Field(
        default=None, description="the murmur's timing at the most audible site"
    )
    systolic_timing: Literal["holosystolic", "early-systolic"] | None = Field(
        default=None, description="a systolic murmur's shape at the most audible site"
    )
    interpretable_sites: list[str]
    uninterpretable_sites: list[str]
    heart_rate_bpm: float | None = Field(description="median of the sites' confident rates")
    rhythm: Literal["regular", "irregular"] | None
    reasons: list[ExamReason]


def assess_exam(results: Mapping[str, AnalysisResult]) -> ExamAssessment:
    """Combine per-site heart results (keys: site names such as AV, PV, TV, MV) into one exam."""
    hearts = {site: r for site, r in results.items() if r.kind == "heart" and r.heart is not None}
    reasons: list[ExamReason] = []
    if not hearts:
        reasons.append("no_heart_recording")
    interpretable = [
        site
        for site, r in hearts.items()
        if r.quality.usable and r.heart is not None and r.heart.murmur.present is not None
    ]
    uninterpretable = [site for site in hearts if site not in interpretable]
    if uninterpretable:
        reasons.append("uninterpretable_site")

    def score(site: str) -> float:
        heart = hearts[site].heart
        return 0.0 if heart is None else heart.murmur.score

    with_murmur = sorted(
        (s for s in interpretable if (h := hearts[s].heart) is not None and h.murmur.present),
        key=score,
        reverse=True,
    )
    murmur: Literal["present", "absent", "unknown"]
    if with_murmur:
        murmur = "present"
        reasons.append("murmur_found")
    elif hearts and len(interpretable) >= min(MIN_INTERPRETABLE_SITES, len(hearts)):
        murmur = "absent"
        reasons.append("no_murmur_at_interpretable_sites")
    else:
        murmur = "unknown"
        if hearts:
            reasons.append("too_few_interpretable_sites")

    rates = [
        h.heart_rate_bpm
        for r in hearts.values()
        if (h := r.heart) is not None
        and h.heart_rate_bpm is not None
        and h.heart_rate_confidence >= CONFIDENT_RATE
    ]
    rate = round(median(rates), 1) if rates else None
    if hearts and rate is None:
        reasons.append("no_confident_rate")
    if rates and (max(rates) - min(rates)) > RATE_SPREAD * median(rates):
        reasons.append("site_rates_disagree")

    rhythms = [
        h.rhythm
        for site in interpretable
        if (h := hearts[site].heart) is not None and h.rhythm is not None
    ]
    rhythm: Literal["regular", "irregular"] | None = None
    if rhythms:
        rhythm = "irregular" if rhythms.count("irregular") > len(rhythms) / 2 else "regular"
    loudest = hearts[with_murmur[0]].heart if with_murmur else None
    return ExamAssessment(
        murmur=murmur,
        murmur_sites=with_murmur,
        most_audible_site=with_murmur[0] if with_murmur else None,
        murmur_timing=None if loudest is None else loudest.murmur.timing,
        systolic_timing=None if loudest is None else loudest.murmur.systolic_timing,
        interpretable_sites=interpretable,
        uninterpretable_sites=uninterpretable,
        heart_rate_bpm=rate,
        rhythm=rhythm,
        reasons=reasons,
    )
