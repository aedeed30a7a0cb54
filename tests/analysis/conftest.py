"""Helpers for the analysis-core tests: write synthetic recordings as real WAV files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

WavWriter = Callable[..., Path]


@pytest.fixture
def write_wav(tmp_path: Path) -> WavWriter:
    """Write samples to a WAV file in tmp_path and return its path."""
    counter = iter(range(10_000))

    def write(
        samples: np.ndarray, rate: float, subtype: str = "PCM_16", name: str | None = None
    ) -> Path:
        path = tmp_path / (name or f"rec{next(counter)}.wav")
        sf.write(path, samples, int(rate), subtype=subtype)
        return path

    return write
