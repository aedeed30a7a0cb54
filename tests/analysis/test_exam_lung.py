"""The lung exam verdict: present at any interpretable site (strongest first), absent only when
enough sites could be interpreted, unknown otherwise; the confident sites' median rate."""

from __future__ import annotations

from functools import cache

from stethoscope import analyze
from stethoscope.exam_lung import assess_lung_exam
from stethoscope.result import AnalysisResult
from stethoscope.simulate import simulate_lung


@cache
def _real() -> AnalysisResult:
    return analyze(simulate_lung(20.0, 18.0, 4000.0, seed=1).samples, 4000.0, "lung")


def site(
    *,
    usable: bool = True,
    wheeze: bool | None = False,
    wheeze_score: float = 0.1,
    crackle: bool | None = False,
    rate: float | None = 18.0,
    confidence: float = 0.9,
) -> AnalysisResult:
    """A real lung result with the fields the exam reads set as the test needs."""
    real = _real()
    assert real.lung is not None
    lung = real.lung.model_copy(
        update={
            "wheeze_present": wheeze,
            "wheeze_score": wheeze_score,
            "crackle_present": crackle,
            "respiratory_rate_bpm": rate,
            "respiratory_rate_confidence": confidence,
        }
    )
    quality = real.quality.model_copy(update={"usable": usable})
    return real.model_copy(update={"lung": lung, "quality": quality})


def test_a_sound_at_one_interpretable_site_is_present_strongest_first() -> None:
    found = assess_lung_exam(
        {
            "posterior-left-lower": site(wheeze=True, wheeze_score=0.7),
            "posterior-right-lower": site(wheeze=True, wheeze_score=0.9),
            "posterior-left-upper": site(),
        }
    )
    assert found.wheeze == "present"
    assert found.wheeze_sites == ["posterior-right-lower", "posterior-left-lower"]
    assert found.crackle == "absent" and found.crackle_sites == []
    assert found.respiratory_rate_bpm == 18.0


def test_unusable_sites_do_not_count() -> None:
    found = assess_lung_exam(
        {
            "posterior-left-lower": site(usable=False, wheeze=True),
            "posterior-right-lower": site(),
        }
    )
    assert found.wheeze == "unknown", "one interpretable site cannot rule a wheeze out"
    assert found.uninterpretable_sites == ["posterior-left-lower"]
    assert {"uninterpretable_site", "too_few_interpretable_sites"} <= set(found.reasons)


def test_rates_only_from_confident_sites() -> None:
    found = assess_lung_exam(
        {
            "posterior-left-lower": site(rate=40.0, confidence=0.2),
            "posterior-right-lower": site(rate=20.0),
            "posterior-left-upper": site(rate=22.0),
        }
    )
    assert found.respiratory_rate_bpm == 21.0
    none = assess_lung_exam({"trachea": site(rate=30.0, confidence=0.1)})
    assert none.respiratory_rate_bpm is None and "no_confident_rate" in none.reasons


def test_no_lung_recording() -> None:
    assert assess_lung_exam({}).reasons == ["no_lung_recording"]
