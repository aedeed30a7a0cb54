"""stethoscope.assess_exam: the patient-level verdict from several auscultation sites."""

from __future__ import annotations

from functools import cache

import numpy as np

from stethoscope import AnalysisResult, ExamAssessment, analyze, assess_exam
from stethoscope.fhir import exam_conclusion
from stethoscope.simulate import simulate_heart
from training.heart_corpus import non_heart


@cache
def normal(seed: int = 1, rate_bpm: float = 80.0) -> AnalysisResult:
    return analyze(simulate_heart(15.0, rate_bpm, 4000.0, seed=seed).samples, 4000.0)


@cache
def murmur(seed: int = 2, level_db: float = -8.0) -> AnalysisResult:
    sim = simulate_heart(15.0, 80.0, 4000.0, murmur="systolic", murmur_level_db=level_db, seed=seed)
    return analyze(sim.samples, 4000.0)


@cache
def noise(seed: int = 3) -> AnalysisResult:
    return analyze(non_heart("am_heart_rate", 15.0, 4000.0, seed), 4000.0)


def test_building_blocks_behave_as_assumed() -> None:
    assert normal().quality.usable and normal().heart.murmur.present is False  # type: ignore[union-attr]
    assert murmur().quality.usable and murmur().heart.murmur.present is True  # type: ignore[union-attr]
    assert not noise().quality.usable and noise().heart.murmur.present is None  # type: ignore[union-attr]


def test_a_murmur_at_one_interpretable_site_makes_the_exam_present() -> None:
    exam = assess_exam({"AV": normal(1), "PV": normal(4), "TV": noise(), "MV": murmur()})
    assert isinstance(exam, ExamAssessment)
    assert exam.murmur == "present"
    assert exam.murmur_sites == ["MV"]
    assert exam.most_audible_site == "MV"
    assert "murmur_found" in exam.reasons and "uninterpretable_site" in exam.reasons
    assert exam.uninterpretable_sites == ["TV"]
    mv = murmur().heart.murmur  # type: ignore[union-attr]
    assert exam.murmur_timing == "systolic" == mv.timing
    assert exam.systolic_timing is not None and exam.systolic_timing == mv.systolic_timing


def test_the_fhir_conclusion_names_the_loudest_site_and_how_the_murmur_sounds_there() -> None:
    exam = assess_exam({"AV": normal(1), "PV": normal(4), "MV": murmur()})
    shape = murmur().heart.murmur.systolic_timing  # type: ignore[union-attr]
    text = exam_conclusion(exam.model_dump(by_alias=True))
    assert f"murmur present at MV; loudest at MV (systolic, {shape})" in text


def test_most_audible_site_is_the_one_with_the_highest_score() -> None:
    loud, soft = murmur(5, -4.0), murmur(6, -14.0)
    assert loud.heart.murmur.score >= soft.heart.murmur.score  # type: ignore[union-attr]
    exam = assess_exam({"PV": soft, "MV": loud, "AV": normal()})
    if soft.heart.murmur.present:  # type: ignore[union-attr]
        assert exam.murmur_sites == ["MV", "PV"]
    assert exam.most_audible_site == "MV"


def test_no_murmur_at_enough_interpretable_sites_is_absent() -> None:
    exam = assess_exam({"AV": normal(1), "MV": normal(4), "TV": noise()})
    assert exam.murmur == "absent"
    assert exam.murmur_sites == [] and exam.most_audible_site is None
    assert exam.murmur_timing is None and exam.systolic_timing is None
    assert exam.heart_rate_bpm is not None and abs(exam.heart_rate_bpm - 80.0) <= 5
    assert exam.rhythm == "regular"


def test_too_few_interpretable_sites_is_unknown() -> None:
    exam = assess_exam({"AV": normal(1), "PV": noise(3), "TV": noise(7), "MV": noise(8)})
    assert exam.murmur == "unknown"
    assert "too_few_interpretable_sites" in exam.reasons
    assert assess_exam({}).murmur == "unknown"
    assert "no_heart_recording" in assess_exam({}).reasons


def test_a_single_recorded_site_can_rule_out_when_it_is_interpretable() -> None:
    assert assess_exam({"MV": normal(1)}).murmur == "absent"


def test_site_rates_that_disagree_are_reported() -> None:
    exam = assess_exam({"AV": normal(1, 70.0), "MV": normal(4, 110.0)})
    assert "site_rates_disagree" in exam.reasons
    assert exam.heart_rate_bpm is not None and 70 <= exam.heart_rate_bpm <= 110


def test_the_assessment_is_a_camel_case_document_too() -> None:
    exam = assess_exam({"AV": normal(1), "MV": murmur()})
    doc = exam.model_dump(by_alias=True)
    assert doc["mostAudibleSite"] == "MV" and "murmurSites" in doc
    assert ExamAssessment.model_validate(doc) == exam
    assert np.isfinite(doc["heartRateBpm"])
