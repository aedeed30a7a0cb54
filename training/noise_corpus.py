"""A synthetic corpus of takes that are not lung sounds: coloured noise, plain or modulated, and
the artefacts of a device with no chest under it.

White, pink (1/f) and brown (1/f²) noise, each either steady or amplitude-modulated at a breathing
rate (8-60/min, depth 30-90 %) — the last is what a naive breath detector takes for breathing —
optionally low-passed as a device would (500-2000 Hz). Artefacts (`ARTEFACTS`): mains hum (50 or
60 Hz with harmonics), a steady tone (30-1500 Hz, e.g. a test tone or a whistling cable), a
frequency sweep, and sparse clicks (a loose connector) — each over a noise floor from none
(digital silence) to -50 dB. Before they were added, the lung gate called every one of them
usable (a clean 1 kHz tone even had crackles): takes that clean lie far outside every recording
it had learned from. None of it is a usable lung recording; the quality model is trained to say
so (training/train_lung.py) and the tests check it on takes drawn with other seeds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

COLOURS = ("white", "pink", "brown")
ARTEFACTS = ("hum", "tone", "sweep", "clicks")
#: Spectral exponent of each colour: power ~ 1 / f**exponent.
EXPONENT = {"white": 0.0, "pink": 1.0, "brown": 2.0}


@dataclass(frozen=True)
class NoiseTake:
    name: str
    samples: np.ndarray
    sample_rate_hz: float


def noise_take(
    colour: str, modulated: bool, seed: int, rate_hz: float = 4000.0, duration_s: float = 15.0
) -> NoiseTake:
    """One take of coloured noise (`seed` fixes everything else: rate, depth, low-pass)."""
    rng = np.random.default_rng(seed)
    n = round(duration_s * rate_hz)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1.0 / rate_hz)
    spectrum[1:] /= freqs[1:] ** (EXPONENT[colour] / 2.0)
    spectrum[0] = 0.0
    x = np.fft.irfft(spectrum, n)
    if rng.random() < 0.5:
        cutoff = float(rng.uniform(500.0, min(2000.0, 0.45 * rate_hz)))
        x = signal.sosfiltfilt(signal.butter(4, cutoff, fs=rate_hz, output="sos"), x)
    name = f"{colour}{'-am' if modulated else ''}-{seed}"
    if modulated:
        breaths_per_min = float(rng.uniform(8.0, 60.0))
        depth = float(rng.uniform(0.3, 0.9))
        t = np.arange(n) / rate_hz
        phase = float(rng.uniform(0, 2 * np.pi))
        x = x * (1.0 - depth * 0.5 * (1.0 + np.sin(2 * np.pi * breaths_per_min / 60.0 * t + phase)))
    x = 0.3 * x / float(np.max(np.abs(x)))
    return NoiseTake(name, x.astype(np.float64), rate_hz)


def artefact_take(
    kind: str, seed: int, rate_hz: float = 4000.0, duration_s: float = 15.0
) -> NoiseTake:
    """One take of a device artefact (`ARTEFACTS`); `seed` fixes frequencies, levels and floor."""
    rng = np.random.default_rng(seed)
    n = round(duration_s * rate_hz)
    t = np.arange(n) / rate_hz
    if kind == "hum":
        f0 = 50.0 if rng.random() < 0.5 else 60.0
        harmonics = int(rng.integers(1, 9))
        x = sum(
            float(rng.uniform(0.05, 1.0)) * np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6.3))
            for k in range(1, harmonics + 1)
            if f0 * k < 0.45 * rate_hz
        )
    elif kind == "tone":
        f = float(np.exp(rng.uniform(np.log(30.0), np.log(1500.0))))
        x = np.sin(2 * np.pi * f * t) + float(rng.uniform(0.0, 0.3)) * np.sin(4 * np.pi * f * t)
    elif kind == "sweep":
        f_start = float(rng.uniform(30.0, 300.0))
        f_end = float(rng.uniform(500.0, 0.45 * rate_hz))
        x = signal.chirp(t, f_start, duration_s, f_end, method="logarithmic")
    elif kind == "clicks":
        per_s = float(rng.uniform(0.1, 3.0))
        x = np.zeros(n)
        at = rng.random(n) < per_s / rate_hz
        x[at] = rng.choice([-1.0, 1.0], int(at.sum()))
        x[int(rng.integers(0, n))] = 1.0  # at least one
    else:
        raise ValueError(f"unknown artefact {kind!r}")
    x = np.asarray(x, dtype=np.float64)
    x = 0.3 * x / float(np.max(np.abs(x)))
    if rng.random() >= 0.25:  # a quarter in digital silence, the rest over a faint noise floor
        floor_db = float(rng.uniform(-100.0, -50.0))
        x = x + 10.0 ** (floor_db / 20.0) * rng.standard_normal(n)
    return NoiseTake(f"{kind}-{seed}", x, rate_hz)


def noise_corpus(seeds: range) -> list[NoiseTake]:
    """Every colour, steady and modulated, for each seed."""
    return [
        noise_take(colour, modulated, seed)
        for seed in seeds
        for colour in COLOURS
        for modulated in (False, True)
    ]


def artefact_corpus(seeds: range) -> list[NoiseTake]:
    """Every artefact for each seed."""
    return [artefact_take(kind, seed) for seed in seeds for kind in ARTEFACTS]
