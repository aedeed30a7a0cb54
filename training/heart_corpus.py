"""Recordings that are not interpretable heart recordings, made synthetically (seeded), for the
heart quality gate (`train_heart.py`) and its tests.

Kinds: white, pink and brown noise; noise amplitude-modulated at heart rates (1-3 Hz) and at
breathing rates (0.2-0.6 Hz); rubbing (bursts of band-limited friction noise at random times,
with a movement rumble); a speech-like signal (a glottal pulse train with drifting pitch through
two formant resonators, syllables at 3-6 per second, pauses); the project's simulated lung
sounds (`stethoscope.simulate.simulate_lung`: breathing at 8-40/min, some with crackles or
wheezes; without its optional heart sounds, which at their default level, 0.4 of the breath
sound's RMS, make a recording whose heart can be followed); clicks (a loose connector: single-
sample clicks at random times, 0.5-4 per second, over a faint floor or digital silence — before
they were added, 2 of 20 such takes came out usable). Real lung recordings analysed as heart
(SPRSound) are added by the training script.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from stethoscope.simulate import simulate_lung

NON_HEART_KINDS = (
    "white",
    "pink",
    "brown",
    "am_heart_rate",
    "am_breathing_rate",
    "rubbing",
    "speech",
    "lung",
    "clicks",
)


def coloured_noise(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Noise with power spectrum ∝ 1/f^exponent (0 white, 1 pink, 2 brown)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n)
    f[0] = f[1]
    y = np.fft.irfft(spectrum / f ** (exponent / 2), n)
    return y / (np.std(y) + 1e-12)


def non_heart(kind: str, seconds: float, fs_hz: float, seed: int) -> np.ndarray:
    """One synthetic recording of `kind` (see `NON_HEART_KINDS`), unit-ish scale."""
    rng = np.random.default_rng(seed)
    n = round(seconds * fs_hz)
    t = np.arange(n) / fs_hz
    if kind in ("white", "pink", "brown"):
        x = coloured_noise(n, {"white": 0.0, "pink": 1.0, "brown": 2.0}[kind], rng)
    elif kind in ("am_heart_rate", "am_breathing_rate"):
        rate_hz = rng.uniform(1.0, 3.0) if kind == "am_heart_rate" else rng.uniform(0.2, 0.6)
        depth = rng.uniform(0.5, 1.0)
        carrier = coloured_noise(n, float(rng.choice([0.0, 1.0, 2.0])), rng)
        phase = 2 * np.pi * rate_hz * t + rng.uniform(0, 2 * np.pi)
        shape = np.maximum(np.sin(phase), 0.0) ** rng.uniform(1.0, 4.0)
        x = carrier * (1.0 - depth + depth * shape)
    elif kind == "rubbing":
        x = 0.05 * coloured_noise(n, 2.0, rng)
        for _ in range(int(seconds * rng.uniform(1.5, 6.0))):
            length = round(rng.uniform(0.05, 0.4) * fs_hz)
            start = int(rng.integers(0, max(1, n - length)))
            low = rng.uniform(30.0, 150.0)
            high = min(rng.uniform(300.0, 900.0), 0.45 * fs_hz)
            sos = signal.butter(2, [low, high], "bandpass", fs=fs_hz, output="sos")
            burst = signal.sosfilt(sos, rng.standard_normal(length)) * np.hanning(length)
            x[start : start + length] += rng.uniform(0.3, 3.0) * burst / (np.std(burst) + 1e-12)
    elif kind == "speech":
        f0 = rng.uniform(90.0, 250.0) * (1.0 + 0.15 * np.sin(2 * np.pi * rng.uniform(0.2, 1) * t))
        phase = np.cumsum(f0) / fs_hz
        pulses = np.diff(np.floor(phase), prepend=0.0)
        x = pulses.astype(np.float64)
        for formant_hz in (rng.uniform(300, 800), rng.uniform(900, 1800)):
            if formant_hz < 0.45 * fs_hz:
                b, a = signal.iirpeak(formant_hz, 5.0, fs=fs_hz)
                x = x + signal.lfilter(b, a, pulses)
        syllable_hz = rng.uniform(3.0, 6.0)
        envelope = np.maximum(np.sin(2 * np.pi * syllable_hz * t + rng.uniform(0, 6)), 0.0)
        pauses = (np.sin(2 * np.pi * rng.uniform(0.1, 0.3) * t) > -0.6).astype(np.float64)
        x = x * envelope * pauses + 0.01 * rng.standard_normal(n)
    elif kind == "lung":
        sim = simulate_lung(
            seconds,
            float(rng.uniform(8.0, 40.0)),
            fs_hz,
            wheeze_hz=float(rng.uniform(150.0, 600.0)) if rng.random() < 0.5 else None,
            wheeze_db_above_breath=None,  # the loud legacy wheeze the heart model was fitted on
            crackles_per_breath=int(rng.integers(0, 4)),
            heart_rate_bpm=None,
            seed=seed,
        )
        x = np.asarray(sim.samples, dtype=np.float64)
    elif kind == "clicks":
        x = np.zeros(n)
        at = rng.random(n) < rng.uniform(0.5, 4.0) / fs_hz
        at[int(rng.integers(0, n))] = True
        x[at] = rng.choice([-1.0, 1.0], int(at.sum()))
        if rng.random() >= 0.25:
            x = x + 10.0 ** (rng.uniform(-100.0, -50.0) / 20.0) * rng.standard_normal(n)
    else:
        raise ValueError(f"unknown kind {kind!r}")
    return 0.1 * x / (np.std(x) + 1e-12)
