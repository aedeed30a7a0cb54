"""Lung analysis on synthetic recordings with known breathing, wheezes and crackles."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from stethoscope import analyze
from stethoscope.lung.analysis import classify_cycle
from stethoscope.lung.crackle import detect_crackles, in_periodic_train
from stethoscope.lung.wheeze import WheezeEvents
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


def _expiration_spans(
    onsets_s: np.ndarray, period_s: float, duration_s: float
) -> list[tuple[float, float]]:
    """Half a second in the middle of each expiration of a `simulate_lung` recording."""
    spans = [(float(t) + 0.5 * period_s, float(t) + 0.5 * period_s + 0.5) for t in onsets_s]
    return [(a, b) for a, b in spans if b < duration_s]


def test_a_tone_present_all_the_time_is_not_a_wheeze() -> None:
    """A device resonance or hum is a line at one frequency from start to end; a wheeze comes
    and goes with the breath."""
    sim = simulate_lung(30.0, 16.0, 4000.0, seed=6)
    t = np.arange(len(sim.samples)) / sim.sample_rate_hz
    hum = 0.3 * float(np.std(sim.samples)) * np.sin(2 * np.pi * 600.0 * t)
    lung = analyze(sim.samples + hum, sim.sample_rate_hz, kind="lung").lung
    assert lung is not None
    assert lung.wheeze_present is False
    assert not [w for w in lung.wheezes if abs(w.frequency_hz - 600.0) < 40]


def test_a_wheeze_gliding_in_pitch_is_found() -> None:
    """Wheezes often fall by hundreds of Hz within a breath; the short-window search keeps such
    a line sharp enough to be seen."""
    sim = simulate_lung(30.0, 15.0, 4000.0, seed=7)
    x = sim.samples.copy()
    fs = sim.sample_rate_hz
    spans = _expiration_spans(sim.inspiration_onset_s, 4.0, 30.0)
    for start, end in spans:
        i, j = round(start * fs), round(end * fs)
        tt = np.arange(j - i) / fs
        glide = signal.chirp(tt, f0=750.0, t1=end - start, f1=450.0)
        x[i:j] += 0.8 * float(np.std(x)) * np.hanning(j - i) * glide
    lung = analyze(x, fs, kind="lung").lung
    assert lung is not None and lung.wheeze_present is True
    found = [any(w.start_s < b and w.end_s > a for w in lung.wheezes) for a, b in spans]
    assert np.mean(found) >= 0.8
    assert all(400.0 <= w.frequency_hz <= 800.0 for w in lung.wheezes)


def test_a_low_pitched_wheeze_is_found_between_heart_sounds() -> None:
    """Rhonchi / low-pitched wheezes (~150 Hz) are resolved by the long-window search even with
    heart sounds underneath."""
    sim = simulate_lung(30.0, 15.0, 4000.0, wheeze_hz=150.0, seed=8)
    lung = analyze(sim.samples, sim.sample_rate_hz, kind="lung").lung
    assert lung is not None and lung.wheeze_present is True
    hits = [
        any(
            w.start_s < end and w.end_s > start and abs(w.frequency_hz - 150.0) < 30
            for w in lung.wheezes
        )
        for start, end, _ in sim.wheezes
    ]
    assert np.mean(hits) >= 0.8


def test_coarse_low_pitched_crackles_are_detected() -> None:
    """Coarse crackles heard through a bell or a filtering stethoscope are 100-200 Hz deflections
    of a few cycles; the detector's band reaches down to them."""
    fs = 4000.0
    sim = simulate_lung(30.0, 15.0, fs, heart_rate_bpm=None, seed=9)
    x = sim.samples.copy()
    rng = np.random.default_rng(9)
    times = np.sort(rng.uniform(0.5, 29.5, 40))
    times = times[np.concatenate([[True], np.diff(times) > 0.1])]
    tt = np.arange(round(0.03 * fs)) / fs
    coarse = np.sin(2 * np.pi * 160.0 * tt) * np.exp(-tt / 0.004)  # two cycles: 12.5 ms
    for t in times:
        i = round(t * fs)
        local_rms = float(np.sqrt(np.mean(np.square(sim.samples[i - 200 : i + 200]))))
        x[i : i + len(coarse)] += 15.0 * local_rms * coarse  # clearly audible over the breath
    events = detect_crackles(x, fs, threshold=5.0)
    nearest = np.array([np.argmin(np.abs(events.time_s - t)) for t in times])
    found = np.abs(events.time_s[nearest] - times) < 0.015
    assert found.mean() >= 0.8
    assert (~events.fine[nearest[found]]).mean() > 0.8  # two-cycle duration over 10 ms: coarse


def test_a_steady_train_of_pulses_is_a_rhonchus_not_crackles() -> None:
    steady = np.arange(20) * 0.012 + 1.0
    assert in_periodic_train(steady).all()
    irregular = np.cumsum(np.random.default_rng(0).uniform(0.02, 0.2, 20))
    assert not in_periodic_train(irregular).any()
    assert not in_periodic_train(np.array([1.0, 1.012])).any()  # two are not a train


def test_overlapping_wheeze_events_count_once() -> None:
    events = WheezeEvents.pooled(
        WheezeEvents(np.array([1.0, 5.0]), np.array([2.0, 5.5]), np.array([400.0, 300.0])),
        WheezeEvents(np.array([1.5]), np.array([2.5]), np.array([150.0])),
    )
    assert list(events.start_s) == [1.0, 1.5, 5.0]
    assert events.total_s() == pytest.approx(2.0)
    assert events.covered_s(2.0, 6.0) == pytest.approx(1.0)


def test_a_recording_without_breath_sounds_gets_no_rate() -> None:
    """A pure low hum has nothing in the breath band: no rate, and the take is not usable."""
    t = np.arange(40000) / 4000.0
    result = analyze(np.sin(2 * np.pi * 20.0 * t), 4000.0, kind="lung")
    assert result.lung is not None and result.lung.respiratory_rate_bpm is None
    assert result.quality.usable is False and "no_breathing" in result.quality.reasons
