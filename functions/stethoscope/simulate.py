"""Synthetic heart and lung sounds with known ground truth, for tests, demos and benchmarks.

The signals are deliberately simple but have the properties the analysis relies on: S1 is a longer,
lower-pitched tone burst than S2; systole shortens less than diastole as the rate rises (after
Weissler's QS2-rate relation); murmurs are band-limited noise filling systole or diastole; lung
sounds are band-limited noise modulated by breathing, with sinusoidal wheezes and short
exponentially damped crackles. Everything is seeded and deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy import signal

from stethoscope.arrays import FloatArray

MurmurTiming = Literal["systolic", "diastolic", "continuous"]

S1_DURATION_S = 0.12
S2_DURATION_S = 0.09


@dataclass(frozen=True)
class SimulatedHeart:
    """A synthetic heart recording and where its sounds are."""

    samples: FloatArray
    sample_rate_hz: float
    s1_onset_s: FloatArray
    s2_onset_s: FloatArray
    heart_rate_bpm: float
    murmur: MurmurTiming | None

    @property
    def s1_centre_s(self) -> FloatArray:
        return self.s1_onset_s + S1_DURATION_S / 2

    @property
    def s2_centre_s(self) -> FloatArray:
        return self.s2_onset_s + S2_DURATION_S / 2


@dataclass(frozen=True)
class SimulatedLung:
    """A synthetic lung recording with its breath cycles and adventitious sounds."""

    samples: FloatArray
    sample_rate_hz: float
    respiratory_rate_bpm: float
    inspiration_onset_s: FloatArray
    wheezes: list[tuple[float, float, float]] = field(default_factory=list)  # start, end, Hz
    crackles_s: FloatArray = field(default_factory=lambda: np.zeros(0))


def systole_for_period_s(period_s: float) -> float:
    """S1-to-S2 onset interval for a cycle length: ~35 % of the cycle at rest, up to half."""
    share = 0.35 + 0.15 * float(np.clip((0.8 - period_s) / 0.56, 0.0, 1.0))
    return share * period_s


def simulate_heart(
    duration_s: float = 10.0,
    heart_rate_bpm: float = 72.0,
    sample_rate_hz: float = 4000.0,
    *,
    murmur: MurmurTiming | None = None,
    murmur_level_db: float = -12.0,
    snr_db: float = 30.0,
    rr_jitter: float = 0.02,
    s2_to_s1_db: float = -3.0,
    amplitude: float = 0.5,
    seed: int = 0,
) -> SimulatedHeart:
    """Synthesise a heart recording.

    `murmur_level_db` is the murmur's RMS relative to S1's; `snr_db` the heart sounds' power over
    white background noise; `rr_jitter` the standard deviation of beat-to-beat intervals as a
    fraction of the mean (0.02 regular, 0.2 irregular).
    """
    rng = np.random.default_rng(seed)
    fs = sample_rate_hz
    n = round(duration_s * fs)
    period = 60.0 / heart_rate_bpm
    onsets = []
    t = float(rng.uniform(0.05, 0.05 + period))
    while t < duration_s + period:
        onsets.append(t)
        t += period * max(0.3, 1.0 + rr_jitter * float(rng.standard_normal()))
    s1_onset = np.asarray(onsets)
    systole = systole_for_period_s(period)
    s2_onset = s1_onset + systole

    x = np.zeros(n)
    s1 = _tone_burst(fs, S1_DURATION_S, 50.0, rng)
    s2 = _tone_burst(fs, S2_DURATION_S, 85.0, rng) * 10 ** (s2_to_s1_db / 20)
    _add_at(x, s1, s1_onset, fs)
    _add_at(x, s2, s2_onset, fs)
    sound_rms = float(np.sqrt(np.mean(s1**2)))

    if murmur is not None:
        noise = signal.sosfiltfilt(
            signal.butter(4, [120, min(600, 0.45 * fs)], "bandpass", fs=fs, output="sos"),
            rng.standard_normal(n),
        )
        gate = _murmur_gate(n, fs, s1_onset, s2_onset, murmur)
        shaped = noise * gate
        rms = float(np.sqrt(np.mean(shaped[gate > 0] ** 2))) if np.any(gate > 0) else 1.0
        x += shaped / rms * sound_rms * 10 ** (murmur_level_db / 20)

    heart_power = float(np.mean(x**2))
    x += rng.standard_normal(n) * np.sqrt(heart_power / 10 ** (snr_db / 10))
    x *= amplitude / max(float(np.max(np.abs(x))), 1e-12)
    inside = s1_onset + S1_DURATION_S < duration_s
    keep = inside & (s2_onset + S2_DURATION_S < duration_s)
    return SimulatedHeart(x, fs, s1_onset[keep], s2_onset[keep], heart_rate_bpm, murmur)


#: A simulated wheeze peaks this many dB above the expiratory breath sound it rides on (RMS
#: against RMS), lasting `WHEEZE_S` early in expiration: heard above the breath sounds, as
#: wheezes are. Chosen so the learned detectors find it in a take they call usable: over 18
#: simulated takes (12-30 s, seeds 0-5), 3 dB was found in 15 usable takes, 6 dB in 13, 9 dB in 7;
#: a wheeze filling the whole expiration, at any level, made every take unusable.
WHEEZE_DB_ABOVE_BREATH = 3.0
WHEEZE_S = 0.6
#: The fixed wheeze amplitude of analysis 1.3.2 and before (about 15 dB above the expiratory
#: breath sound): the heart model's non-heart corpus was drawn with it (training/heart_corpus.py)
#: and keeps it, so `make train` still reproduces that model. Since analysis 1.3.3 the lung gate
#: calls such a take unusable ("a tone much louder than the breath sounds", docs/analysis.md).
LEGACY_WHEEZE_AMPLITUDE = 0.8


def simulate_lung(
    duration_s: float = 30.0,
    respiratory_rate_bpm: float = 16.0,
    sample_rate_hz: float = 4000.0,
    *,
    wheeze_hz: float | None = None,
    wheeze_db_above_breath: float | None = WHEEZE_DB_ABOVE_BREATH,
    crackles_per_breath: int = 0,
    heart_rate_bpm: float | None = 75.0,
    snr_db: float = 25.0,
    seed: int = 0,
) -> SimulatedLung:
    """Synthesise a lung recording: breath noise (louder in inspiration), optional expiratory
    wheeze at `wheeze_hz` (`wheeze_db_above_breath` over the breath sound; None: the legacy fixed
    amplitude), optional inspiratory crackles, optional heart sounds underneath.

    The breath noise is band-limited to 100-500 Hz, as vesicular sounds are (most energy below
    400 Hz), with faint heart sounds: a flat 100-1000 Hz band with loud heart sounds is what the
    learned lung quality model (lung/detectors.py) calls "not breath sounds", and rightly."""
    rng = np.random.default_rng(seed)
    fs = sample_rate_hz
    n = round(duration_s * fs)
    t = np.arange(n) / fs
    period = 60.0 / respiratory_rate_bpm
    inspiration = period * 0.4
    phase = (t % period) / period
    in_share = inspiration / period
    breath_gain = np.where(
        phase < in_share,
        np.sin(np.pi * phase / in_share) ** 2,
        0.2 * np.sin(np.pi * (phase - in_share) / (1 - in_share)) ** 2,
    )
    breath = signal.sosfiltfilt(
        signal.butter(4, [100, min(500, 0.45 * fs)], "bandpass", fs=fs, output="sos"),
        rng.standard_normal(n),
    )
    x = breath * (0.1 + breath_gain)
    onsets = np.arange(0.0, duration_s, period)

    wheezes: list[tuple[float, float, float]] = []
    if wheeze_hz is not None:
        for onset in onsets:
            if wheeze_db_above_breath is None:  # the legacy span: the rest of the expiration
                start, end = onset + inspiration + 0.1 * period, onset + 0.85 * period
            else:
                start = onset + inspiration + 0.05 * period
                end = min(onset + 0.85 * period, start + WHEEZE_S)
            if end > duration_s:
                break
            m = (t >= start) & (t < end)
            ramp = np.sin(np.pi * (t[m] - start) / (end - start))
            amplitude = (
                LEGACY_WHEEZE_AMPLITUDE
                if wheeze_db_above_breath is None
                else np.sqrt(2.0 * np.mean(x[m] ** 2)) * 10.0 ** (wheeze_db_above_breath / 20.0)
            )
            x[m] += amplitude * ramp * np.sin(2 * np.pi * wheeze_hz * (t[m] - start))
            wheezes.append((float(start), float(end), float(wheeze_hz)))

    crackle_times: list[float] = []
    for onset in onsets:
        for _ in range(crackles_per_breath):
            c = float(onset + rng.uniform(0.1, 0.9) * inspiration)
            if c + 0.02 < duration_s:
                crackle_times.append(c)
    crackles = np.sort(np.asarray(crackle_times))
    crackle = _crackle(fs)
    _add_at(x, crackle * 8.0, crackles, fs)

    if heart_rate_bpm is not None:
        heart = simulate_heart(duration_s, heart_rate_bpm, fs, snr_db=60.0, seed=seed + 1)
        x += 0.1 * heart.samples * float(np.std(x)) / float(np.std(heart.samples))
    x += rng.standard_normal(n) * float(np.std(x)) * 10 ** (-snr_db / 20)
    x *= 0.5 / float(np.max(np.abs(x)))
    return SimulatedLung(x, fs, respiratory_rate_bpm, onsets, wheezes, crackles)


def _tone_burst(
    fs: float, duration_s: float, freq_hz: float, rng: np.random.Generator
) -> FloatArray:
    """A Hann-windowed low tone plus low-pass noise: a plausible, not purely tonal, valve sound."""
    t = np.arange(round(duration_s * fs)) / fs
    f = freq_hz * (1 + 0.05 * float(rng.standard_normal()))
    sos = signal.butter(2, min(2.5 * freq_hz, 0.45 * fs), fs=fs, output="sos")
    noise = signal.sosfilt(sos, rng.standard_normal(len(t)))
    noise /= max(float(np.std(noise)), 1e-12)
    burst: FloatArray = np.hanning(len(t)) * (np.sin(2 * np.pi * f * t) + 0.5 * noise)
    return burst


def _crackle(fs: float) -> FloatArray:
    """A short, damped, broadband deflection (~5 ms)."""
    t = np.arange(round(0.015 * fs)) / fs
    wave: FloatArray = np.exp(-t / 0.002) * np.sin(2 * np.pi * 400.0 * t)
    return wave


def _add_at(x: FloatArray, wave: FloatArray, onsets_s: FloatArray, fs: float) -> None:
    for onset in onsets_s:
        i = round(onset * fs)
        if i >= len(x):
            continue
        m = min(len(wave), len(x) - i)
        x[i : i + m] += wave[:m]


def _murmur_gate(
    n: int, fs: float, s1_onset: FloatArray, s2_onset: FloatArray, timing: MurmurTiming
) -> FloatArray:
    """1 inside the murmur's phase of every beat, 0 elsewhere (edges summed, then integrated)."""
    period = float(np.median(np.diff(s1_onset))) if len(s1_onset) > 1 else 1.0
    next_s1 = np.append(s1_onset[1:], s1_onset[-1] + period)
    starts, ends = [], []
    if timing in ("systolic", "continuous"):
        starts.append(s1_onset + S1_DURATION_S)
        ends.append(s2_onset)
    if timing in ("diastolic", "continuous"):
        starts.append(s2_onset + S2_DURATION_S)
        ends.append(next_s1)
    edges = np.zeros(n + 1)
    np.add.at(edges, np.clip(np.round(np.concatenate(starts) * fs).astype(int), 0, n), 1.0)
    np.add.at(edges, np.clip(np.round(np.concatenate(ends) * fs).astype(int), 0, n), -1.0)
    gate: FloatArray = (np.cumsum(edges)[:n] > 0).astype(np.float64)
    return gate
