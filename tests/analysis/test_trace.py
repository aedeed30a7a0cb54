"""The browser's trace (stethoscope.trace): bounds, timing, levels, and block-wise equivalence."""

from __future__ import annotations

import time

import numpy as np
import pytest

from stethoscope import trace as tr
from stethoscope.simulate import simulate_heart


def cells(spec: tr.Spectrogram8) -> np.ndarray:
    return np.frombuffer(spec.db, np.uint8).reshape(-1, len(spec.freqs_hz))


@pytest.mark.parametrize(("seconds", "rate_hz"), [(2.0, 2000.0), (30.0, 4000.0), (600.0, 4000.0)])
def test_bounds_hold_for_short_and_long_recordings(seconds: float, rate_hz: float) -> None:
    x = np.random.default_rng(1).normal(0.0, 0.05, int(seconds * rate_hz))
    got = tr.compute_trace(x, rate_hz)
    env, spec = got.envelope, got.spectrogram
    assert spec is not None
    assert len(env.min) == len(env.max) <= tr.MAX_ENVELOPE_BINS
    assert len(env.min) * env.bin_s == pytest.approx(seconds, abs=env.bin_s)
    assert max(max(env.max), -min(env.min)) == 1.0  # scaled to the peak
    assert all(lo <= hi for lo, hi in zip(env.min, env.max, strict=True))
    frames = cells(spec)
    assert frames.shape[0] <= tr.MAX_FRAMES and spec.frame_s >= tr.MIN_FRAME_S
    assert frames.shape[0] * spec.frame_s == pytest.approx(seconds, abs=spec.frame_s)
    assert 0 < len(spec.freqs_hz) <= tr.MAX_FREQ_BINS
    assert spec.freqs_hz[0] >= tr.MIN_FREQ_HZ and spec.freqs_hz[-1] <= min(2000.0, rate_hz / 2)
    assert spec.db_max - spec.db_min <= tr.DYNAMIC_RANGE_DB
    assert frames.max() >= 250  # the loudest cell at the top (dbMax is rounded up to 0.1 dB)


def test_a_tone_lands_in_its_band_at_full_scale_and_in_its_frames() -> None:
    fs = 4000.0
    t = np.arange(int(10 * fs)) / fs
    x = np.where((t >= 4.0) & (t < 6.0), np.sin(2 * np.pi * 400.0 * t), 0.001 * np.sin(t))
    got = tr.compute_trace(x, fs)
    spec = got.spectrogram
    assert spec is not None
    grid = cells(spec)
    loudest = int(np.argmax(grid.max(axis=0)))
    assert abs(spec.freqs_hz[loudest] - 400.0) < 35.0
    assert abs(spec.db_max) <= 3.0, "a full-scale sine reads about 0 dB"
    frame_times = (np.arange(grid.shape[0]) + 0.5) * spec.frame_s
    loud = frame_times[grid[:, loudest] > 200]
    assert loud.min() > 3.9 and loud.max() < 6.1
    assert got.peak == pytest.approx(np.abs(x).max())  # 400 Hz at 4 kHz peaks at sin(0.4 pi)


def test_envelope_keeps_every_peak_and_matches_a_direct_computation() -> None:
    fs = 4000.0
    x = simulate_heart(60.0, 72.0, fs, seed=3).samples.astype(np.float64)
    x[123_457] = 0.99  # one spike must stay visible
    got = tr.min_max_envelope(x, fs, max_bins=1000)
    per = round(got.bin_s * fs)
    assert max(got.max) == pytest.approx(0.99, abs=1e-3)
    padded = np.concatenate([x, np.full(-len(x) % per, np.nan)]).reshape(-1, per)
    assert np.allclose(got.max, np.round(np.nanmax(padded, axis=1), 3))
    assert np.allclose(got.min, np.round(np.nanmin(padded, axis=1), 3))


def test_far_faster_than_real_time() -> None:
    x = np.random.default_rng(2).normal(0.0, 0.1, 30 * 4000)
    start = time.process_time()
    for _ in range(5):
        tr.compute_trace(x, 4000.0)
    per_take_s = (time.process_time() - start) / 5
    assert per_take_s < 0.3, f"{per_take_s:.3f} s of CPU for 30 s of audio"  # >100x real time


def test_too_short_for_a_spectrogram_still_has_an_envelope() -> None:
    got = tr.compute_trace(np.array([0.0, 0.5, -0.25]), 2000.0)
    assert got.spectrogram is None and got.envelope.max == [0.0, 1.0, -0.5] == got.envelope.min
