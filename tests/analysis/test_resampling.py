"""Block-wise decimation and level metering: the same figures as whole-array processing, in
memory that grows with the analysis rate, not the recorded one."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from scipy import signal

from stethoscope import AnalysisInputError, analyze
from stethoscope.analysis import analysis_rate_hz, analyze_file_detailed
from stethoscope.audio import condition_samples, read_recording
from stethoscope.levels import LevelMeter, measure
from stethoscope.resampling import (
    BlockResampler,
    _decimate,
    _padded_filter,
    rate_ratio,
    resample,
)
from stethoscope.simulate import simulate_heart

from .conftest import WavWriter


@pytest.mark.parametrize(
    ("rate", "target", "n"),
    [
        (44100, 2000, 100_003),
        (48000, 4000, 50_000),
        (8000, 4000, 12_345),
        (4000, 2000, 7),
        (384_000, 2000, 400_001),
        (22050, 4000, 196_613),
    ],
)
def test_block_resampler_equals_resample_poly(rate: int, target: int, n: int) -> None:
    rng = np.random.default_rng(n)
    x = rng.standard_normal(n).astype(np.float32)
    ratio = rate_ratio(rate, target)
    reference = signal.resample_poly(x, ratio.numerator, ratio.denominator)
    resampler = BlockResampler(ratio.numerator, ratio.denominator)
    parts, i = [], 0
    while i < n:  # ragged blocks, including 1-sample ones
        k = int(rng.integers(1, 5000))
        parts.append(resampler.push(x[i : i + k]))
        i += k
    parts.append(resampler.finish())
    streamed = np.concatenate(parts)
    assert len(streamed) == len(reference)
    np.testing.assert_allclose(streamed, reference, atol=1e-6)
    whole, out_rate = resample(x, rate, target)
    np.testing.assert_allclose(whole, reference, atol=1e-6)
    assert out_rate == pytest.approx(rate * ratio.numerator / ratio.denominator)


@pytest.mark.parametrize(("rate", "target"), [(4000, 2000), (8000, 2000), (48000, 2000)])
def test_whole_number_decimation_is_upfirdn_bit_for_bit(rate: int, target: int) -> None:
    """Rate ratios 1/down take the vectorised FIR (`_decimate`): the float32 samples are exactly
    those of scipy's upfirdn with the same filter, block by block or whole."""
    rng = np.random.default_rng(rate)
    n = 100_001
    x = rng.standard_normal(n).astype(np.float32)
    x[:5000] = 0.0  # sums that are exactly zero
    ratio = rate_ratio(rate, target)
    assert ratio.numerator == 1
    h, skip = _padded_filter(1, ratio.denominator)
    n_out = -(-n // ratio.denominator)
    reference = signal.upfirdn(h, x, 1, ratio.denominator)[skip : skip + n_out]
    resampler = BlockResampler(1, ratio.denominator)
    parts, i = [], 0
    while i < n:
        k = int(rng.integers(1, 20_000))
        parts.append(resampler.push(x[i : i + k]))
        i += k
    parts.append(resampler.finish())
    streamed = np.concatenate(parts)
    whole, _ = resample(x, rate, target)
    for got in (streamed, whole):
        assert got.dtype == np.float32
        assert np.array_equal(got.view(np.uint32), reference.view(np.uint32))


@pytest.mark.parametrize("down", [2, 3, 24])
def test_decimate_slices_are_upfirdns(down: int) -> None:
    rng = np.random.default_rng(down)
    h, _ = _padded_filter(1, down)
    for n in (1, 5, 777, 10_000):
        x = rng.standard_normal(n).astype(np.float32)
        full = signal.upfirdn(h, x, 1, down)
        for lo, hi in ((0, len(full)), (3, len(full) + 9), (len(full) // 2, len(full) // 2 + 1)):
            assert np.array_equal(_decimate(h, x, down, lo, hi), full[lo:hi])


def test_never_upsamples() -> None:
    x = np.ones(100, np.float32)
    y, rate = resample(x, 2000, 4000)
    assert y is x and rate == 2000


def level_dbfs(x: np.ndarray) -> float:
    """Whole-array definition: RMS level in dB full scale."""
    return 20.0 * float(
        np.log10(max(float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))), 1e-12))
    )


def clipping_fraction(x: np.ndarray) -> float:
    """Whole-array definition: share of samples on runs of 3+ equal samples at >= 90 % of peak."""
    peak = float(np.max(np.abs(x)))
    if len(x) < 3 or peak == 0.0:
        return 0.0
    run = (x[:-2] == x[1:-1]) & (x[1:-1] == x[2:])
    on_plateau = np.zeros(len(x), dtype=bool)
    for shift in range(3):
        on_plateau[shift : len(x) - 2 + shift] |= run
    return float(np.mean(on_plateau & (np.abs(x) >= 0.9 * peak)))


def test_level_meter_in_blocks_matches_whole_array_definition() -> None:
    rng = np.random.default_rng(3)
    for trial in range(60):
        n = int(rng.integers(3, 20_000))
        x = (rng.standard_normal(n) * rng.uniform(0.1, 2)).astype(np.float32)
        x = np.clip(x, -rng.uniform(0.3, 1), rng.uniform(0.3, 1))  # clipped plateaus
        if trial % 3 == 0:
            x = np.round(x * 8) / 8  # coarse quantisation: many equal neighbours
        meter, i = LevelMeter(), 0
        while i < n:
            k = int(rng.integers(1, 3000))
            meter.add(x[i : i + k])
            i += k
        assert meter.clipping_fraction == pytest.approx(clipping_fraction(x), abs=1e-12)
        assert meter.level_dbfs == pytest.approx(level_dbfs(x), abs=1e-6)
        assert measure(x).clipping_fraction == pytest.approx(meter.clipping_fraction, abs=1e-12)


def test_level_meter_on_quiet_16_bit_audio_with_a_later_clipped_burst() -> None:
    """Quiet 16-bit audio repeats values all the time; those runs lie far below the peak and never
    count, while a clipped burst in a later block does (the meter looks only near the peak)."""
    rng = np.random.default_rng(5)
    x = (np.round(rng.standard_normal(150_000) * 20) / 32768).astype(np.float32)
    x[120_000:120_400] = np.clip(rng.standard_normal(400) * 2, -0.8, 0.8)
    meter = LevelMeter()
    for i in range(0, len(x), 1 << 16):
        meter.add(x[i : i + (1 << 16)])
    assert meter.clipping_fraction == pytest.approx(clipping_fraction(x), abs=1e-12)
    assert meter.clipping_fraction > 0.0


def test_infinite_sample_marks_the_meter_not_finite() -> None:
    meter = LevelMeter()
    meter.add(np.array([0.1, 0.2], np.float32))
    meter.add(np.array([0.1, np.inf, 0.0], np.float32))
    assert not meter.finite
    assert meter.samples == 2  # the bad block is not counted


def test_plateau_across_block_boundary_counts() -> None:
    meter = LevelMeter()
    meter.add(np.array([0.0, 0.5, 1.0], np.float32))
    meter.add(np.array([1.0, 1.0, 0.2], np.float32))  # run 1.0 x3 spans the boundary
    assert meter.clipping_fraction == pytest.approx(3 / 6)


def test_nan_is_refused_blockwise() -> None:
    x = np.zeros(200_000, np.float32)
    x[150_000] = np.nan
    with pytest.raises(AnalysisInputError) as info:
        condition_samples(x, 48000, target_rate_hz=2000)
    assert info.value.code == "invalid_samples"


def test_high_rate_file_is_decoded_in_bounded_memory(write_wav: WavWriter) -> None:
    """A 60 s, 192 kHz file (46 MB as float32 at its own rate) decodes to the heart analysis
    rate without ever holding it whole: the peak stays a few MB above the output."""
    rate, seconds = 192_000, 60
    t = np.arange(rate * seconds, dtype=np.float64) / rate
    x = (0.3 * np.sin(2 * np.pi * 50 * t) * (np.sin(2 * np.pi * 1.2 * t) > 0.9)).astype(np.float32)
    path = write_wav(x, rate, "PCM_16")
    del t, x
    tracemalloc.start()
    audio = read_recording(path, target_rate_hz=analysis_rate_hz("heart"))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert audio.source_rate_hz == rate and audio.duration_s == pytest.approx(seconds)
    assert audio.sample_rate_hz == pytest.approx(analysis_rate_hz("heart"), rel=0.01)
    assert peak < 12 * 2**20, f"decoding peaked at {peak / 2**20:.1f} MiB"


def test_file_and_array_paths_agree(write_wav: WavWriter) -> None:
    """A file decoded block by block and the same samples handed over in memory give one result."""
    sim = simulate_heart(12.0, 75.0, 44100.0, seed=4)
    clipped = np.clip(sim.samples, -0.2, 0.2).astype(np.float32)
    from_file = analyze_file_detailed(write_wav(clipped, 44100, "FLOAT"), "heart").result
    from_array = analyze(clipped, 44100, "heart")
    assert from_file.quality.clipping_fraction > 0.01
    assert from_file == from_array
