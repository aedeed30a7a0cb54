"""Decode and validate recordings; bring them to the rate an analysis runs at.

Decoding streams through libsndfile (`soundfile`) block by block, mixing channels down as it goes,
so a long multi-channel file is never held in memory as more than one mono float32 array. Anything
that cannot be analysed raises `AnalysisInputError` with a stable code.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt
import soundfile as sf
from scipy import signal

from stethoscope.arrays import FloatArray
from stethoscope.errors import AnalysisInputError

MIN_SAMPLE_RATE_HZ = 1000
MAX_SAMPLE_RATE_HZ = 384_000
MIN_DURATION_S = 1.0
MAX_DURATION_S = 600.0
#: Containers accepted (libsndfile major formats). Recordings are WAV; FLAC/AIFF cost nothing.
ACCEPTED_FORMATS = frozenset({"WAV", "WAVEX", "RF64", "W64", "FLAC", "AIFF"})
_BLOCK_FRAMES = 1 << 16
#: libsndfile's header log says "data : <declared> (should be <present>)" for a cut-off WAV.
_SHORT_DATA_CHUNK = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)
#: Data sizes that streaming writers put in the header when they do not know the length.
_UNKNOWN_LENGTHS = frozenset({0, 0xFFFFFFFF, 0x7FFFFFFF})


@dataclass(frozen=True)
class Recording:
    """A decoded recording: mono float32 samples in [-1, 1] and what the file said about itself."""

    samples: FloatArray
    sample_rate_hz: float
    channels: int
    format: str
    subtype: str

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate_hz


def read_recording(
    source: str | Path | bytes | BinaryIO,
    *,
    min_duration_s: float = MIN_DURATION_S,
    max_duration_s: float = MAX_DURATION_S,
) -> Recording:
    """Decode an audio file (path, bytes or seekable binary file) into a validated mono recording.

    Limits are checked from the header before any sample is read, so an oversized file costs
    nothing. Raises `AnalysisInputError` with code `not_audio`, `unsupported_format`, `empty`,
    `truncated`, `sample_rate_out_of_range`, `too_short`, `too_long`, `invalid_samples` or `silent`.
    """
    if isinstance(source, bytes | bytearray):
        source = io.BytesIO(source)
    try:
        sound_file = sf.SoundFile(source)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AnalysisInputError("not_audio", f"not a readable audio file ({exc})") from exc
    with sound_file:
        fmt, subtype = sound_file.format, sound_file.subtype
        if fmt not in ACCEPTED_FORMATS:
            raise AnalysisInputError(
                "unsupported_format", f"{fmt} audio is not accepted; upload WAV (PCM or float)"
            )
        rate = float(sound_file.samplerate)
        if not MIN_SAMPLE_RATE_HZ <= rate <= MAX_SAMPLE_RATE_HZ:
            raise AnalysisInputError(
                "sample_rate_out_of_range",
                f"sample rate {rate:g} Hz is outside {MIN_SAMPLE_RATE_HZ}-{MAX_SAMPLE_RATE_HZ} Hz",
            )
        _check_not_cut_off(sound_file)
        declared = sound_file.frames
        if declared <= 0:
            raise AnalysisInputError("empty", "the file holds no audio samples")
        _check_duration(declared / rate, min_duration_s, max_duration_s)
        samples = _read_mono(sound_file, declared)
        channels = sound_file.channels
    if len(samples) < declared:
        raise AnalysisInputError(
            "truncated", f"the file ends after {len(samples)} of {declared} declared frames"
        )
    _check_values(samples)
    return Recording(samples, rate, channels, fmt, subtype)


def validate_samples(
    samples: npt.ArrayLike,
    sample_rate_hz: float,
    *,
    min_duration_s: float = MIN_DURATION_S,
    max_duration_s: float = MAX_DURATION_S,
) -> FloatArray:
    """Check samples handed over in memory the way `read_recording` checks a file.

    Accepts a 1-D array or a 2-D (frames, channels) array, which is mixed down. Returns mono
    float32.
    """
    if not MIN_SAMPLE_RATE_HZ <= sample_rate_hz <= MAX_SAMPLE_RATE_HZ:
        raise AnalysisInputError(
            "sample_rate_out_of_range",
            f"sample rate {sample_rate_hz:g} Hz is outside "
            f"{MIN_SAMPLE_RATE_HZ}-{MAX_SAMPLE_RATE_HZ} Hz",
        )
    array = np.asarray(samples)
    if array.ndim == 2:
        array = array.mean(axis=1)
    if array.ndim != 1:
        raise AnalysisInputError(
            "unsupported_format", f"expected mono or (frames, channels), got {array.shape}"
        )
    if array.size == 0:
        raise AnalysisInputError("empty", "no audio samples")
    if not np.issubdtype(array.dtype, np.number):
        raise AnalysisInputError("not_audio", f"samples of type {array.dtype} are not audio")
    if np.issubdtype(array.dtype, np.integer):
        array = array / float(np.iinfo(array.dtype).max + 1)  # PCM counts -> [-1, 1)
    mono = array.astype(np.float32, copy=False)
    _check_duration(len(mono) / sample_rate_hz, min_duration_s, max_duration_s)
    _check_values(mono)
    return mono


def _check_values(samples: FloatArray) -> None:
    if not np.isfinite(samples).all():
        raise AnalysisInputError("invalid_samples", "the recording contains NaN or infinite values")
    if float(np.ptp(samples)) == 0.0:
        raise AnalysisInputError("silent", "the recording is digital silence (all samples equal)")


def _check_not_cut_off(sound_file: sf.SoundFile) -> None:
    """libsndfile quietly reads what is left of a cut-off WAV; its header log tells the truth."""
    match = _SHORT_DATA_CHUNK.search(sound_file.extra_info or "")
    if match:
        declared, present = int(match.group(1)), int(match.group(2))
        if declared not in _UNKNOWN_LENGTHS and present < declared:
            raise AnalysisInputError(
                "truncated",
                f"the file ends after {present} of {declared} bytes of audio data (cut off)",
            )


def _check_duration(duration_s: float, min_duration_s: float, max_duration_s: float) -> None:
    if duration_s < min_duration_s:
        raise AnalysisInputError(
            "too_short", f"{duration_s:.2f} s recorded; at least {min_duration_s:g} s are needed"
        )
    if duration_s > max_duration_s + 0.5:
        raise AnalysisInputError(
            "too_long", f"{duration_s:.0f} s recorded; at most {max_duration_s:g} s are accepted"
        )


def _read_mono(sound_file: sf.SoundFile, declared_frames: int) -> FloatArray:
    """Read block by block into one preallocated mono array (channel mean)."""
    out = np.empty(declared_frames, dtype=np.float32)
    filled = 0
    try:
        for block in sound_file.blocks(_BLOCK_FRAMES, dtype="float32", always_2d=True):
            n = min(len(block), declared_frames - filled)
            if block.shape[1] == 1:
                out[filled : filled + n] = block[:n, 0]
            else:
                np.mean(block[:n], axis=1, out=out[filled : filled + n])
            filled += n
            if filled >= declared_frames:
                break
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AnalysisInputError("truncated", f"the audio data is damaged ({exc})") from exc
    return out[:filled]


def resample(x: FloatArray, rate_hz: float, target_hz: float) -> tuple[FloatArray, float]:
    """Resample `x` to about `target_hz` (polyphase FIR, anti-aliased); never upsample.

    Returns the new samples and their exact rate (a rational approximation of the target).
    """
    if rate_hz <= target_hz:
        return x, rate_hz
    ratio = Fraction(target_hz / rate_hz).limit_denominator(1000)
    y = signal.resample_poly(x, ratio.numerator, ratio.denominator).astype(np.float32, copy=False)
    return y, rate_hz * ratio.numerator / ratio.denominator
