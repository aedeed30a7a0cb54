"""Lung analysis on synthetic recordings with known breathing, wheezes and crackles."""

from __future__ import annotations

import numpy as np
import pytest

from stethoscope import analyze
from stethoscope.lung.analysis import classify_cycle
from stethoscope.lung.crackle import detect_crackles
from stethoscope.simulate import simulate_lung


@pytest.mark.parametrize("rate_bpm", [8, 12, 16, 24, 36, 48, 60])
def test_respiratory_rate_8_to_60(rate_bpm: int) -> None:
    sim = simulate_lung(40.0, rate_bpm, 4000.0, seed=rate_bpm)
    lung = analyze(sim.samples, sim.sample_rate_hz, kind="lung").lung
    assert lung is not None and lung.respiratory_rate_bpm is not None
    assert abs(lung.respiratory_rate_bpm - rate_bpm) <= 3
    assert lung.cycles, "cycles are reported"
    lengths = [c.end_s - c.start_s for c in lung.cycles]
    assert abs(np.median(lengths) - 60.0 / rate_bpm) <= 0.15 * 60.0 / rate_bpm


def test_normal_breathing_has_no_wheeze() -> None:
    sim = simulate_lung(30.0, 16.0, 4000.0, seed=1)
    result = analyze(sim.samples, sim.sample_rate_hz, kind="lung")
    assert result.lung is not None and result.heart is None
    assert result.lung.wheeze_present is False
    assert result.lung.wheeze_fraction < 0.02


@pytest.mark.parametrize("frequency_hz", [250.0, 450.0, 900.0])
def test_wheeze_is_found_with_its_frequency(frequency_hz: float) -> None:
    sim = simulate_lung(30.0, 15.0, 4000.0, wheeze_hz=frequency_hz, seed=2)
    lung = analyze(sim.samples, sim.sample_rate_hz, kind="lung").lung
    assert lung is not None and lung.wheeze_present is True
    for start, end, _ in sim.wheezes:
        hits = [w for w in lung.wheezes if w.start_s < end and w.end_s > start]
        assert any(abs(w.frequency_hz - frequency_hz) < 40 for w in hits), (start, hits)
        assert sum(min(end, w.end_s) - max(start, w.start_s) for w in hits) >= 0.7 * (end - start)
    stray = sum(
        w.end_s - w.start_s for w in lung.wheezes if abs(w.frequency_hz - frequency_hz) >= 40
    )
    assert stray < 0.05 * 30.0
    truth_start, truth_end, _ = sim.wheezes[1]
    assert classify_cycle(truth_start - 2.0, truth_end + 0.1, lung)[1] is True


def test_crackles_are_detected_near_where_they_are() -> None:
    sim = simulate_lung(30.0, 15.0, 4000.0, crackles_per_breath=5, heart_rate_bpm=None, seed=3)
    events = detect_crackles(sim.samples, sim.sample_rate_hz, threshold=6.0)
    found = sum(bool(np.any(np.abs(events.time_s - t) < 0.01)) for t in sim.crackles_s)
    assert found >= 0.8 * len(sim.crackles_s)
    assert events.fine.mean() > 0.5  # the simulated crackle is short and high-pitched


def test_crackles_per_minute_are_counted() -> None:
    sim = simulate_lung(65.0, 15.0, 4000.0, crackles_per_breath=4, heart_rate_bpm=None, seed=4)
    lung = analyze(sim.samples, sim.sample_rate_hz, kind="lung").lung
    assert lung is not None
    assert len(lung.crackle_counts_per_min) == 2
    assert sum(lung.crackle_counts_per_min) == len(lung.crackles)
    assert lung.crackles_per_min == pytest.approx(len(lung.crackles) / (65.0 / 60.0), abs=0.1)


def test_lung_result_contract() -> None:
    sim = simulate_lung(20.0, 20.0, 4000.0, seed=5)
    snake = analyze(sim.samples, sim.sample_rate_hz, kind="lung").model_dump()
    lung = snake["lung"]
    assert {
        "respiratory_rate_bpm",
        "cycles",
        "wheezes",
        "crackles",
        "wheeze_present",
        "crackle_present",
        "crackles_per_min",
    } <= set(lung)
    assert snake["heart"] is None and snake["kind"] == "lung"
