"""Mains hum: find it and notch it out before an analysis.

A stethoscope on a laptop that is charging, or a USB adapter with a ground loop, adds a steady
line at 50 or 60 Hz and its harmonics — right in the heart-sound band. Left in, it lifts the
background the sound envelopes are measured against (a CirCor heart take with hum as loud as the
heart sounds came out "few beats, uninterpretable") and looks like a tonal wheeze ridge to the
lung features. Here the line is measured on a 1 Hz averaged spectrum against its neighbours; when
one of the first three harmonics stands out by `HUM_MIN_PROMINENCE_DB`, every harmonic that stands
out by `HUM_NOTCH_PROMINENCE_DB` is notched (zero-phase IIR notch, `HUM_Q`). No development
recording reaches the trigger (the strongest lines over CirCor 2022, SPRSound, PASCAL, ICBHI and
Fraiwan stand 14 dB out, three of Yaseen's 17 dB), so no real recording the models learned from or
were measured on is filtered.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt
from scipy import signal

from stethoscope.arrays import FloatArray
from stethoscope.order_statistics import median

MAINS_HZ = (50.0, 60.0)
#: A line this far above its neighbours (±3-6 Hz) is hum (design choice: the development
#: recordings reach 17 dB at most; a hum that masks heart sounds stands 30-60 dB out).
HUM_MIN_PROMINENCE_DB = 20.0
#: Harmonics notched once hum is found: those standing out at least this far.
HUM_NOTCH_PROMINENCE_DB = 10.0
#: Notch quality: -3 dB width f/Q (1.7 Hz at 50 Hz), applied forward and back.
HUM_Q = 30.0
#: Harmonics looked at: up to this frequency (the analyses use nothing above 1 kHz).
HUM_MAX_HZ = 1000.0
#: 1 s frames averaged, spread over the recording (hum is steady; this bounds the cost at about
#: 0.2 ms, against 2.6 ms for a Welch spectrum of a whole 30 s heart recording).
HUM_FRAMES = 8


def mains_hum_lines(x: FloatArray, fs_hz: float) -> tuple[float, list[float]]:
    """The mains frequency whose first three harmonics stand out most, and the prominence (dB)
    of each of its harmonics below `HUM_MAX_HZ` and the Nyquist margin."""
    n = int(fs_hz)  # 1 Hz bins
    frames = min(len(x) // n, HUM_FRAMES)
    if frames == 0:
        return MAINS_HZ[0], []
    # evenly spaced 1 s frames, Hann-windowed, mean removed: a Welch average at a fixed cost
    starts = np.linspace(0, len(x) - n, frames).astype(int)
    block = x[starts[:, None] + np.arange(n)]
    block = (block - block.mean(axis=1, keepdims=True)) * _hanning(n)
    spectrum = np.fft.rfft(block, axis=1)
    power = (spectrum.real**2 + spectrum.imag**2).mean(axis=0)
    best: tuple[float, list[float]] = (MAINS_HZ[0], [])
    best_score: float | None = None
    offsets = np.r_[-6:-2, 3:7]  # the neighbours, ±3-6 Hz
    for f0 in MAINS_HZ:
        bins = np.round(f0 * np.arange(1, int(min(HUM_MAX_HZ, 0.45 * fs_hz) // f0) + 1))
        bins = bins[bins + 7 <= len(power)].astype(int)
        if not len(bins):
            continue
        neighbours = median(power[bins[:, None] + offsets], axis=1)
        line = power[bins[:, None] + np.arange(-1, 2)].max(axis=1)
        lines = 10.0 * np.log10(np.maximum(line, 1e-30) / np.maximum(neighbours, 1e-30))
        # chosen by the first three harmonics: higher ones are shared (300 Hz is 5 x 60 and 6 x 50)
        score = float(np.clip(lines[:3], 0.0, None).sum())
        if best_score is None or score > best_score:
            best, best_score = (f0, lines.tolist()), score
    return best


@lru_cache(maxsize=8)
def _hanning(n: int) -> FloatArray:
    """`np.hanning(n)`, built once per rate (read-only: shared by every recording)."""
    window: FloatArray = np.hanning(n)
    window.flags.writeable = False
    return window


def remove_mains_hum(
    x: npt.NDArray[np.float64], fs_hz: float
) -> tuple[npt.NDArray[np.float64], float | None]:
    """`x` with its mains hum notched out, and the mains frequency; `x` itself and None when
    none of the first three harmonics reaches `HUM_MIN_PROMINENCE_DB`."""
    f0, lines = mains_hum_lines(x, fs_hz)
    if not lines or max(lines[:3]) < HUM_MIN_PROMINENCE_DB:
        return x, None
    sections = [
        signal.tf2sos(*signal.iirnotch(k * f0, HUM_Q, fs=fs_hz))
        for k, prominence_db in enumerate(lines, start=1)
        if prominence_db >= HUM_NOTCH_PROMINENCE_DB
    ]
    cleaned: npt.NDArray[np.float64] = signal.sosfiltfilt(np.concatenate(sections), x)
    return cleaned, f0
