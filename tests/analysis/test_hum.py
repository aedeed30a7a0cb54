"""Mains hum: found, notched out before the analysis, and listed as a reason.

The test marked "reads ../shared/data" uses a development recording; it skips only when that
folder is absent (it is present in CI).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stethoscope import analyze
from stethoscope.audio import read_recording
from stethoscope.hum import HUM_NOTCH_PROMINENCE_DB, mains_hum_lines, remove_mains_hum
from stethoscope.simulate import simulate_heart

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
needs_data = pytest.mark.skipif(not (DATA / "heart").is_dir(), reason="reads ../shared/data")


def hum(n: int, fs_hz: float, mains_hz: float, amplitude: float) -> np.ndarray:
    """A mains hum with decaying harmonics and a slight drift off the nominal frequency."""
    t = np.arange(n) / fs_hz
    f = mains_hz * (1.0 + 0.004 * np.sin(2 * np.pi * 0.05 * t))
    phase = 2 * np.pi * np.cumsum(f) / fs_hz
    return amplitude * sum(np.sin(k * phase + k) / k for k in (1, 2, 3, 5))


@pytest.mark.parametrize("mains_hz", [50.0, 60.0])
def test_hum_is_found_and_notched(mains_hz: float) -> None:
    heart = simulate_heart(20.0, 75.0, 2000.0, seed=7).samples.astype(np.float64)
    noisy = heart + hum(len(heart), 2000.0, mains_hz, 3.0 * float(np.std(heart)))
    cleaned, found = remove_mains_hum(noisy, 2000.0)
    assert found == mains_hz
    assert max(mains_hum_lines(cleaned, 2000.0)[1]) < HUM_NOTCH_PROMINENCE_DB
    assert np.corrcoef(cleaned, heart)[0, 1] > 0.95


def test_a_recording_without_hum_is_left_as_it_is() -> None:
    heart = simulate_heart(20.0, 75.0, 2000.0, seed=8).samples.astype(np.float64)
    cleaned, found = remove_mains_hum(heart, 2000.0)
    assert found is None and cleaned is heart


def test_the_analysis_hears_the_heart_through_the_hum() -> None:
    sim = simulate_heart(20.0, 82.0, 4000.0, seed=9)
    x = sim.samples.astype(np.float64)
    noisy = x + hum(len(x), 4000.0, 60.0, 2.0 * float(np.std(x)))
    result = analyze(noisy, 4000.0)
    assert result.quality.usable and "mains_hum" in result.quality.reasons
    assert result.parameters["mains_hum_removed_hz"] == 60.0
    assert result.heart is not None and result.heart.heart_rate_bpm is not None
    assert abs(result.heart.heart_rate_bpm - 82.0) <= 5
    clean = analyze(x, 4000.0)
    assert "mains_hum" not in clean.quality.reasons
    assert "mains_hum_removed_hz" not in clean.parameters


@needs_data
def test_a_real_heart_recording_with_hum_keeps_its_answers() -> None:
    """Reads ../shared/data: a CirCor 2022 take with a 50 Hz hum as loud as its heart sounds came
    out "few beats, uninterpretable" before the notch; now it keeps its rate and verdicts."""
    rec = read_recording(DATA / "heart/circor2022/23625_MV.flac")
    x = rec.samples.astype(np.float64)
    before = analyze(x, rec.sample_rate_hz)
    after = analyze(x + hum(len(x), rec.sample_rate_hz, 50.0, 1.5 * float(np.std(x))), 4000.0)
    assert before.heart is not None and after.heart is not None
    assert after.quality.usable == before.quality.usable is True
    assert before.heart.heart_rate_bpm is not None and after.heart.heart_rate_bpm is not None
    assert abs(after.heart.heart_rate_bpm - before.heart.heart_rate_bpm) <= 2
    assert after.heart.murmur.present == before.heart.murmur.present
