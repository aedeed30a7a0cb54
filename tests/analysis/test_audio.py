"""Decoding and validation: every format a stethoscope may upload, every way a file can be bad."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pytest
import soundfile as sf

from stethoscope import AnalysisInputError, analyze, analyze_file
from stethoscope.audio import read_recording, resample, validate_samples
from stethoscope.simulate import simulate_heart, simulate_lung

from .conftest import WavWriter


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
def test_reads_every_pcm_and_float_depth(write_wav: WavWriter, subtype: str) -> None:
    sim = simulate_heart(6.0, 80.0, 4000.0, seed=1)
    path = write_wav(sim.samples, 4000, subtype)
    recording = read_recording(path)
    assert recording.subtype == subtype
    assert recording.sample_rate_hz == 4000
    # 8-bit quantisation is coarse; the others reproduce the signal closely
    tolerance = 0.02 if subtype == "PCM_U8" else 1e-3
    np.testing.assert_allclose(recording.samples, sim.samples, atol=tolerance)
    result = analyze_file(path)
    assert result.heart is not None and result.heart.heart_rate_bpm is not None
    assert abs(result.heart.heart_rate_bpm - 80.0) <= 5


def test_multichannel_is_mixed_down(write_wav: WavWriter) -> None:
    sim = simulate_heart(6.0, 70.0, 8000.0, seed=2)
    stereo = np.stack([sim.samples, 0.5 * sim.samples, np.zeros_like(sim.samples)], axis=1)
    recording = read_recording(write_wav(stereo, 8000, "PCM_24"))
    assert recording.channels == 3
    np.testing.assert_allclose(recording.samples, sim.samples * 0.5, atol=1e-4)


def test_a_channel_in_opposite_polarity_is_turned_over(write_wav: WavWriter) -> None:
    """Two channels carrying the stethoscope in anti-phase (a differential wiring) used to mix
    down to digital silence ("silent"); the turned-over channel now adds up, in a file, in memory,
    and after a silent lead-in (the polarity is decided on the first block with sound)."""
    sim = simulate_heart(8.0, 75.0, 8000.0, seed=4)
    x = sim.samples.astype(np.float64)
    antiphase = np.stack([x, -x], axis=1)
    recording = read_recording(write_wav(antiphase, 8000, "PCM_16"))
    np.testing.assert_allclose(recording.samples, x, atol=1e-4)
    lead_in = np.concatenate([np.zeros((1 << 17, 2)), antiphase])
    from_file = read_recording(write_wav(lead_in, 8000, "FLOAT")).samples
    np.testing.assert_allclose(from_file[1 << 17 :], x, atol=1e-6)
    result = analyze((antiphase * 32767).astype(np.int16), 8000.0)
    assert result.quality.usable and result.heart is not None
    assert result.heart.heart_rate_bpm is not None and abs(result.heart.heart_rate_bpm - 75) <= 5


def test_independent_channels_are_averaged_as_they_are(write_wav: WavWriter) -> None:
    """A second channel that merely does not resemble the first (room noise, another sensor)
    is not turned over: only a strong anti-correlation counts."""
    sim = simulate_heart(6.0, 70.0, 8000.0, seed=5)
    noise = 0.2 * np.random.default_rng(5).standard_normal(len(sim.samples))
    stereo = np.stack([sim.samples, noise], axis=1)
    recording = read_recording(write_wav(stereo, 8000, "FLOAT"))
    np.testing.assert_allclose(recording.samples, stereo.mean(axis=1), atol=1e-6)


@pytest.mark.parametrize("rate", [1000, 2000, 4000, 22050, 44100, 48000, 96000])
def test_sample_rates_from_1khz_up(write_wav: WavWriter, rate: int) -> None:
    sim = simulate_heart(8.0, 90.0, float(rate), seed=3)
    result = analyze_file(write_wav(sim.samples, rate))
    assert result.sample_rate_hz == rate
    assert result.analysis_rate_hz <= 2000
    assert result.heart is not None and result.heart.heart_rate_bpm is not None
    assert abs(result.heart.heart_rate_bpm - 90.0) <= 5


def test_not_audio(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "notes.wav"
    path.write_text("patient notes, not audio")
    with pytest.raises(AnalysisInputError) as err:
        read_recording(path)
    assert err.value.code == "not_audio"


def test_empty_file_and_header_only(tmp_path, write_wav: WavWriter) -> None:  # type: ignore[no-untyped-def]
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(AnalysisInputError) as err:
        read_recording(empty)
    assert err.value.code == "not_audio"
    header_only = write_wav(np.zeros(0), 4000)
    with pytest.raises(AnalysisInputError) as err:
        read_recording(header_only)
    assert err.value.code == "empty"


def test_truncated_file(write_wav: WavWriter) -> None:
    sim = simulate_heart(6.0, 75.0, 4000.0)
    path = write_wav(sim.samples, 4000)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(AnalysisInputError) as err:
        read_recording(path)
    assert err.value.code == "truncated"


def test_nan_and_inf_samples(write_wav: WavWriter) -> None:
    samples = simulate_heart(4.0, 75.0, 4000.0).samples.astype(np.float32)
    samples[100] = np.nan
    with pytest.raises(AnalysisInputError) as err:
        read_recording(write_wav(samples, 4000, "FLOAT"))
    assert err.value.code == "invalid_samples"
    samples[100] = np.inf
    with pytest.raises(AnalysisInputError) as err:
        analyze(samples, 4000)
    assert err.value.code == "invalid_samples"


def test_digital_silence(write_wav: WavWriter) -> None:
    with pytest.raises(AnalysisInputError) as err:
        analyze_file(write_wav(np.zeros(4000 * 5), 4000))
    assert err.value.code == "silent"


def test_too_short_and_too_long(write_wav: WavWriter) -> None:
    with pytest.raises(AnalysisInputError) as err:
        read_recording(write_wav(np.random.default_rng(0).standard_normal(240) * 0.1, 1000))
    assert err.value.code == "too_short"
    long_noise = np.random.default_rng(0).standard_normal(1000 * 602).astype(np.float32) * 0.1
    with pytest.raises(AnalysisInputError) as err:
        read_recording(write_wav(long_noise, 1000))
    assert err.value.code == "too_long"


def test_unsupported_container(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "rec.au"
    sf.write(path, np.random.default_rng(0).standard_normal(8000) * 0.1, 4000, format="AU")
    with pytest.raises(AnalysisInputError) as err:
        read_recording(path)
    assert err.value.code == "unsupported_format"


def test_sample_rate_out_of_range() -> None:
    with pytest.raises(AnalysisInputError) as err:
        validate_samples(np.ones(1000), 500)
    assert err.value.code == "sample_rate_out_of_range"


def test_integer_arrays_are_scaled() -> None:
    pcm = (simulate_heart(5.0, 75.0, 4000.0).samples * 20000).astype(np.int16)
    mono = validate_samples(pcm, 4000)
    assert mono.dtype == np.float32
    assert 0.3 < float(np.max(np.abs(mono))) < 1.0


def test_bytes_and_file_objects(write_wav: WavWriter) -> None:
    path = write_wav(simulate_heart(5.0, 75.0, 4000.0).samples, 4000)
    from_bytes = analyze_file(path.read_bytes())
    with path.open("rb") as handle:
        from_handle = analyze_file(handle)
    assert from_bytes == from_handle


def test_resample_never_upsamples() -> None:
    x = np.ones(1000, dtype=np.float32)
    same, rate = resample(x, 1000.0, 2000.0)
    assert rate == 1000.0 and same is x
    down, rate = resample(np.ones(44100, dtype=np.float32), 44100.0, 2000.0)
    assert abs(rate - 2000.0) < 1 and abs(len(down) - 2000) <= 1


@pytest.mark.parametrize("kind", ["heart", "lung"])
@pytest.mark.parametrize("rate_hz", [1000, 4000, 8000, 44100])
@pytest.mark.parametrize("seconds", [0.26, 0.3, 0.6, 0.99])
def test_a_take_under_a_second_is_analysed_and_unusable(
    write_wav: WavWriter, kind: Literal["heart", "lung"], rate_hz: int, seconds: float
) -> None:
    """Between `MIN_DURATION_S` (0.25 s) and the usable minimum a take gets a result that says
    why it cannot be used, not an error (SPRSound holds a 0.3 s take)."""
    sim = (simulate_heart(1.0, 80.0, rate_hz, seed=2) if kind == "heart"
           else simulate_lung(1.0, 18.0, rate_hz, seed=2))  # fmt: skip
    result = analyze_file(write_wav(sim.samples[: round(seconds * rate_hz)], rate_hz), kind)
    assert not result.quality.usable
    assert "too_short" in result.quality.reasons
    if kind == "heart":
        assert result.heart is not None and result.heart.murmur.present is None
    else:
        assert result.lung is not None and result.lung.wheeze_present is None
