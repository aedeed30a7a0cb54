"""A synthetic corpus of takes that are not lung sounds: coloured noise, plain or modulated.

White, pink (1/f) and brown (1/f²) noise, each either steady or amplitude-modulated at a breathing
rate (8-60/min, depth 30-90 %) — the last is what a naive breath detector takes for breathing —
optionally low-passed as a device would (500-2000 Hz). None of it is a usable lung recording; the
quality model is trained to say so (training/train_lung.py) and the tests check it on takes drawn
with other seeds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

COLOURS = ("white", "pink", "brown")
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


def noise_corpus(seeds: range) -> list[NoiseTake]:
    """Every colour, steady and modulated, for each seed."""
    return [
        noise_take(colour, modulated, seed)
        for seed in seeds
        for colour in COLOURS
        for modulated in (False, True)
    ]
