"""Heart analysis on synthetic recordings with known S1/S2 times, rate and murmurs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from stethoscope import analyze
from stethoscope.result import AnalysisResult
from stethoscope.simulate import SimulatedHeart, simulate_heart


def matched(predicted: np.ndarray, truth: np.ndarray, tolerance_s: float = 0.06) -> int:
    if len(predicted) == 0 or len(truth) == 0:
        return 0
    distance = np.abs(predicted[:, None] - truth[None, :])
    cost = np.where(distance <= tolerance_s, distance, 1e6)
    rows, cols = linear_sum_assignment(cost)
    return int(np.sum(cost[rows, cols] <= tolerance_s))


def sound_f1(result: AnalysisResult, sim: SimulatedHeart) -> float:
    assert result.heart is not None
    s1 = np.array([(b.s1_onset_s + b.s1_offset_s) / 2 for b in result.heart.beats])
    s2 = np.array([(b.s2_onset_s + b.s2_offset_s) / 2 for b in result.heart.beats])
    hits = matched(s1, sim.s1_centre_s) + matched(s2, sim.s2_centre_s)
    return 2 * hits / (len(s1) + len(s2) + len(sim.s1_centre_s) + len(sim.s2_centre_s))


@pytest.mark.parametrize("rate_bpm", [30, 45, 60, 80, 100, 120, 140, 160, 180])
def test_heart_rate_and_segmentation_across_30_to_180_bpm(rate_bpm: int) -> None:
    sim = simulate_heart(15.0, rate_bpm, 4000.0, snr_db=15.0, seed=rate_bpm)
    result = analyze(sim.samples, sim.sample_rate_hz)
    assert result.heart is not None
    assert result.heart.heart_rate_bpm is not None
    assert abs(result.heart.heart_rate_bpm - rate_bpm) <= 5
    assert sound_f1(result, sim) >= 0.9
    assert result.heart.rhythm == "regular"
    assert result.quality.usable


def test_fast_children_hearts_200_to_250_bpm() -> None:
    """Above 200 bpm S1 and S2 are evenly spaced, so only their sound tells them apart: the rate
    must always be right, the S1/S2 labels nearly always."""
    f1_scores = []
    for rate_bpm in (200, 225, 250):
        for seed in range(6):
            sim = simulate_heart(15.0, rate_bpm, 4000.0, snr_db=15.0, seed=100 * seed + rate_bpm)
            result = analyze(sim.samples, sim.sample_rate_hz)
            assert result.heart is not None and result.heart.heart_rate_bpm is not None
            assert abs(result.heart.heart_rate_bpm - rate_bpm) <= 5
            f1_scores.append(sound_f1(result, sim))
    assert np.mean(np.array(f1_scores) >= 0.9) >= 0.85


def test_beat_boundaries_are_ordered_and_inside_the_recording() -> None:
    sim = simulate_heart(10.0, 72.0, 4000.0, seed=4)
    heart = analyze(sim.samples, sim.sample_rate_hz).heart
    assert heart is not None and len(heart.beats) >= 10
    for beat in heart.beats:
        assert 0 <= beat.s1_onset_s < beat.s1_offset_s <= beat.s2_onset_s < beat.s2_offset_s <= 10.0
    assert heart.systole_s is not None and heart.diastole_s is not None
    assert heart.systole_s < heart.diastole_s
    assert len(heart.rr_intervals_s) >= len(heart.beats) - 3
    assert all(0.7 < rr < 1.0 for rr in heart.rr_intervals_s)


@pytest.mark.parametrize("timing", ["systolic", "diastolic"])
def test_murmur_detected_with_its_timing(timing: str) -> None:
    sim = simulate_heart(12.0, 75.0, 4000.0, murmur=timing, murmur_level_db=-10.0, seed=5)  # type: ignore[arg-type]
    murmur = analyze(sim.samples, sim.sample_rate_hz).heart.murmur  # type: ignore[union-attr]
    assert murmur.present is True
    assert murmur.timing == timing
    assert murmur.score > 0.7
    assert len(murmur.beat_evidence) >= 8


def test_no_murmur_in_a_clean_normal_heart() -> None:
    sim = simulate_heart(12.0, 75.0, 4000.0, seed=6)
    murmur = analyze(sim.samples, sim.sample_rate_hz).heart.murmur  # type: ignore[union-attr]
    assert murmur.present is False
    assert murmur.timing is None
    assert murmur.systolic_timing is None and murmur.holosystolic_score is None
    assert murmur.score < 0.3


def test_irregular_rhythm_is_flagged() -> None:
    sim = simulate_heart(30.0, 90.0, 4000.0, rr_jitter=0.25, seed=7)
    heart = analyze(sim.samples, sim.sample_rate_hz).heart
    assert heart is not None
    assert heart.rhythm == "irregular"


def test_noise_only_is_not_usable_and_says_why() -> None:
    noise = np.random.default_rng(8).standard_normal(4000 * 10) * 0.1
    result = analyze(noise, 4000.0)
    assert not result.quality.usable
    assert "aperiodic" in result.quality.reasons or "few_beats" in result.quality.reasons


def test_clipping_is_flagged() -> None:
    sim = simulate_heart(10.0, 75.0, 4000.0, seed=9)
    clipped = np.clip(sim.samples * 8.0, -0.5, 0.5)
    result = analyze(clipped, 4000.0)
    assert "clipped" in result.quality.reasons
    assert result.quality.clipping_fraction > 0.001


def test_very_quiet_recording_is_flagged_silent() -> None:
    sim = simulate_heart(10.0, 75.0, 4000.0, seed=10)
    result = analyze(sim.samples * 1e-4, 4000.0)
    assert "silent" in result.quality.reasons
    assert not result.quality.usable


def test_result_contract_snake_and_camel_case() -> None:
    sim = simulate_heart(8.0, 75.0, 4000.0, seed=11)
    result = analyze(sim.samples, sim.sample_rate_hz)
    snake = result.model_dump()
    assert {"kind", "version", "duration_s", "sample_rate_hz", "quality", "heart", "lung"} <= set(
        snake
    )
    assert snake["lung"] is None
    assert {"score", "usable", "reasons"} <= set(snake["quality"])
    heart = snake["heart"]
    assert {
        "heart_rate_bpm",
        "heart_rate_confidence",
        "beats",
        "rr_intervals_s",
        "rhythm",
        "systole_s",
        "diastole_s",
        "murmur",
    } <= set(heart)
    assert {"s1_onset_s", "s1_offset_s", "s2_onset_s", "s2_offset_s"} == set(heart["beats"][0])
    assert {"present", "timing", "score"} <= set(heart["murmur"])
    camel = result.model_dump(by_alias=True)
    assert "heartRateBpm" in camel["heart"] and "s1OnsetS" in camel["heart"]["beats"][0]
    assert AnalysisResult.model_validate(camel) == result
    assert result.parameters["analysis_rate_hz"] == result.analysis_rate_hz


def test_analysis_is_deterministic() -> None:
    sim = simulate_heart(8.0, 110.0, 4000.0, snr_db=10.0, seed=12)
    assert analyze(sim.samples, 4000.0) == analyze(sim.samples.copy(), 4000.0)
