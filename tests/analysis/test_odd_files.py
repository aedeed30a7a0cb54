"""A sweep of odd files through the whole analysis: every container, sample depth, rate and channel
count the decoder takes, holding content no stethoscope records (noise at any level, a lone
sample, DC, square waves, a tone at Nyquist, click trains, channels in opposite polarity,
clipped noise), some cut off mid-file. Each must end in a result or an `AnalysisInputError` with a
code — never another exception — and none may come out usable as heart or lung.

Real files written by libsndfile and decoded by the deployed path (`analyze_file`); the seed is
fixed, so a failure names a case that can be replayed.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from stethoscope.analysis import analyze_file
from stethoscope.errors import AnalysisInputError

RATES_HZ = (1000, 2000, 4000, 5512, 8000, 11025, 16000, 22050, 44100, 48000, 96000, 192000)
SUBTYPES = {
    "WAV": ("PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"),
    "FLAC": ("PCM_S8", "PCM_16", "PCM_24"),
}
CONTENTS = (
    "noise",
    "lone_sample",
    "dc",
    "square",
    "nyquist",
    "faint",
    "clicks",
    "antiphase",
    "clipped",
)
DURATIONS_S = (0.2, 0.3, 1.0, 1.6, 2.1, 5.0, 12.0)
CASES = 60


def _content(rng: np.random.Generator, kind: str, n: int, channels: int, rate: int) -> np.ndarray:
    t = np.arange(n) / rate
    if kind == "noise":
        x = rng.normal(size=(n, channels)) * rng.uniform(1e-4, 0.5)
    elif kind == "lone_sample":
        x = np.zeros((n, channels))
        x[rng.integers(0, n)] = 0.5
    elif kind == "dc":
        x = np.full((n, channels), rng.uniform(-1, 1))
    elif kind == "square":
        wave = np.sign(np.sin(2 * np.pi * rng.uniform(0.5, 200) * t)) * rng.uniform(0.1, 1.2)
        x = np.repeat(wave[:, None], channels, axis=1)
    elif kind == "nyquist":
        x = np.repeat((0.5 * np.cos(np.pi * np.arange(n)))[:, None], channels, axis=1)
    elif kind == "faint":
        x = rng.normal(size=(n, channels)) * 1e-6
    elif kind == "clicks":
        x = np.zeros((n, channels))
        x[:: max(1, int(rate * rng.uniform(0.2, 1.5)))] = 0.9
    elif kind == "clipped":  # noise driven far past full scale: flat tops at +-1
        x = rng.normal(size=(n, channels)) * rng.uniform(2.0, 20.0)
    else:  # antiphase: the second channel the first turned over, the rest copies
        a = rng.normal(size=n) * 0.2
        x = np.stack([a, -a, *([a] * (channels - 2))][:channels], axis=1)
    return np.clip(x, -1.0, 1.0)


def _cases() -> list[tuple[str, bytes]]:
    rng = np.random.default_rng(20261203)
    cases = []
    while len(cases) < CASES:
        fmt = str(rng.choice(list(SUBTYPES)))
        subtype = str(rng.choice(SUBTYPES[fmt]))
        rate = int(rng.choice(RATES_HZ))
        channels = int(rng.choice([1, 1, 2, 3, 4]))
        seconds = float(rng.choice(DURATIONS_S))
        kind = str(rng.choice(CONTENTS))
        x = _content(rng, kind, max(1, int(seconds * rate)), channels, rate)
        buffer = io.BytesIO()
        sf.write(buffer, x, rate, format=fmt, subtype=subtype)
        data = buffer.getvalue()
        cut = rng.random() < 0.15
        if cut:
            data = data[: int(len(data) * rng.uniform(0.1, 0.95))]
        name = f"{kind} {fmt}/{subtype} {rate} Hz x{channels} {seconds} s{' cut' if cut else ''}"
        cases.append((name, data))
    return cases


@pytest.mark.parametrize("kind", ["heart", "lung"])
def test_odd_files_end_in_a_clear_outcome_and_never_pass_as_usable(kind: str) -> None:
    outcomes: dict[str, int] = {}
    for name, data in _cases():
        try:
            result = analyze_file(data, kind)  # type: ignore[arg-type]
        except AnalysisInputError as error:
            assert error.code, name
            outcomes[error.code] = outcomes.get(error.code, 0) + 1
            continue
        assert not result.quality.usable, f"{name} came out usable as {kind}"
        assert result.quality.reasons, name
        outcomes["analysed"] = outcomes.get("analysed", 0) + 1
    # the sweep reaches both outcomes, or it tests less than it says
    assert outcomes.get("analysed", 0) >= CASES // 3, outcomes
    assert {"too_short", "silent"} <= set(outcomes), outcomes
