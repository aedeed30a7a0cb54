"""Decode and validate recordings; bring them to the rate an analysis runs at.

Decoding streams through libsndfile (`soundfile`) block by block, mixing channels down
(`Mixdown`), measuring level and clipping and decimating to the analysis rate as it goes, so a
long high-rate file is never held in memory at its own rate. Anything that cannot be analysed
raises `AnalysisInputError` with a stable code.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt
import soundfile as sf

from stethoscope import resampling
from stethoscope.arrays import FloatArray
from stethoscope.errors import AnalysisInputError
from stethoscope.levels import LevelMeter
from stethoscope.resampling import resample_blocks

MIN_SAMPLE_RATE_HZ = 1000
MAX_SAMPLE_RATE_HZ = 384_000
#: Shorter than this is refused (`too_short`): less than a quarter of a second is not a take. Longer
#: but still short takes are analysed and come out unusable with the reason `too_short` (below
#: 1.5 s for heart, 2 s for lung; `quality.py`), so a short take gets a result, not an error —
#: until session 8 the floor was 1 s, and SPRSound's 0.3 s training file counted as an error.
MIN_DURATION_S = 0.25
MAX_DURATION_S = 600.0
#: Containers accepted (libsndfile major formats). Recordings are WAV; FLAC/AIFF cost nothing.
ACCEPTED_FORMATS = frozenset({"WAV", "WAVEX", "RF64", "W64", "FLAC", "AIFF"})
_BLOCK_FRAMES = 1 << 16
#: A channel correlated with the loudest one below minus this is taken as wired in opposite
#: polarity (design choice: independent channels correlate near 0, a turned-over copy near -1).
ANTIPHASE_CORRELATION = 0.5
#: libsndfile's header log says "data : <declared> (should be <present>)" for a cut-off WAV.
_SHORT_DATA_CHUNK = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)
#: Data sizes that streaming writers put in the header when they do not know the length.
_UNKNOWN_LENGTHS = frozenset({0, 0xFFFFFFFF, 0x7FFFFFFF})


@dataclass(frozen=True)
class DecodedAudio:
    """A decoded, validated recording: mono float32 samples in [-1, 1] at `sample_rate_hz`
    (the analysis rate when one was asked for), with what was measured at the recorded rate."""

    samples: FloatArray
    sample_rate_hz: float
    source_rate_hz: float
    source_frames: int
    level_dbfs: float  # RMS level of the recording as recorded
    clipping_fraction: float  # share of samples on clipped plateaus, as recorded
    channels: int = 1
    format: str = "RAW"
    subtype: str = "FLOAT"

    @property
    def duration_s(self) -> float:
        return self.source_frames / self.source_rate_hz


def read_recording(
    source: str | Path | bytes | BinaryIO,
    *,
    target_rate_hz: float | None = None,
    min_duration_s: float = MIN_DURATION_S,
    max_duration_s: float = MAX_DURATION_S,
) -> DecodedAudio:
    """Decode an audio file (path, bytes or seekable binary file) into a validated mono recording.

    With `target_rate_hz` the samples are decimated to about that rate while decoding, block by
    block (`BlockResampler`), so memory grows with the analysis rate, not the recorded one.
    Limits are checked from the header before any sample is read, so an oversized file costs
    nothing. Raises `AnalysisInputError` with code `not_audio`, `unsupported_format`, `empty`,
    `truncated`, `sample_rate_out_of_range`, `too_short`, `too_long`, `invalid_samples` or `silent`.
    """
    if isinstance(source, bytes | bytearray):
        source = io.BytesIO(source)
    try:
        sound_file = sf.SoundFile(source)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        reason = str(exc).rsplit(": ", 1)[-1].strip().rstrip(".")  # no object reprs for people
        raise AnalysisInputError(
            "not_audio", f"not a readable audio file: {reason or 'format not recognised'}"
        ) from exc
    with sound_file:
        fmt, subtype = sound_file.format, sound_file.subtype
        if fmt not in ACCEPTED_FORMATS:
            raise AnalysisInputError(
                "unsupported_format", f"{fmt} audio is not accepted; upload WAV (PCM or float)"
            )
        rate = float(sound_file.samplerate)
        _check_rate(rate)
        _check_not_cut_off(sound_file)
        declared = sound_file.frames
        if declared <= 0:
            raise AnalysisInputError("empty", "the file holds no audio samples")
        _check_duration(declared / rate, min_duration_s, max_duration_s)
        meter = LevelMeter()
        blocks = _mono_blocks(sound_file, declared, meter)
        samples, out_rate = resample_blocks(blocks, rate, target_rate_hz or rate)
        channels = sound_file.channels
    if meter.samples < declared and meter.finite:
        raise AnalysisInputError(
            "truncated", f"the file ends after {meter.samples} of {declared} declared frames"
        )
    return _checked(samples, out_rate, rate, meter, channels, fmt, subtype)


def condition_samples(
    samples: npt.ArrayLike,
    sample_rate_hz: float,
    *,
    target_rate_hz: float | None = None,
    min_duration_s: float = MIN_DURATION_S,
    max_duration_s: float = MAX_DURATION_S,
) -> DecodedAudio:
    """Check samples handed over in memory the way `read_recording` checks a file, and bring
    them to about `target_rate_hz`, block by block (no full-length copy at the input rate).

    Accepts a 1-D array or a 2-D (frames, channels) array, which is mixed down (`Mixdown`);
    integer PCM is scaled to [-1, 1).
    """
    _check_rate(sample_rate_hz)
    array = np.asarray(samples)
    if array.ndim not in (1, 2):
        raise AnalysisInputError(
            "unsupported_format", f"expected mono or (frames, channels), got {array.shape}"
        )
    if array.size == 0:
        raise AnalysisInputError("empty", "no audio samples")
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise AnalysisInputError("not_audio", f"samples of type {array.dtype} are not audio")
    _check_duration(len(array) / sample_rate_hz, min_duration_s, max_duration_s)
    scale = float(np.iinfo(array.dtype).max + 1) if np.issubdtype(array.dtype, np.integer) else 1.0
    meter = LevelMeter()

    mixdown = Mixdown()

    def blocks() -> Iterator[FloatArray]:
        for i in range(0, len(array), _BLOCK_FRAMES):
            block = array[i : i + _BLOCK_FRAMES]
            if block.ndim == 2:
                block = mixdown(block)
            mono = (block / scale if scale != 1.0 else block).astype(np.float32, copy=False)
            meter.add(mono)
            yield mono

    out, out_rate = resample_blocks(blocks(), sample_rate_hz, target_rate_hz or sample_rate_hz)
    channels = 1 if array.ndim == 1 else array.shape[1]
    return _checked(out, out_rate, sample_rate_hz, meter, channels, "RAW", str(array.dtype))


def validate_samples(
    samples: npt.ArrayLike,
    sample_rate_hz: float,
    *,
    min_duration_s: float = MIN_DURATION_S,
    max_duration_s: float = MAX_DURATION_S,
) -> FloatArray:
    """Checked mono float32 samples at their own rate (see `condition_samples`)."""
    return condition_samples(
        samples, sample_rate_hz, min_duration_s=min_duration_s, max_duration_s=max_duration_s
    ).samples


def _checked(
    samples: FloatArray,
    rate_hz: float,
    source_rate_hz: float,
    meter: LevelMeter,
    channels: int,
    fmt: str,
    subtype: str,
) -> DecodedAudio:
    if not meter.finite:
        raise AnalysisInputError("invalid_samples", "the recording contains NaN or infinite values")
    if meter.span == 0.0:
        raise AnalysisInputError("silent", "the recording is digital silence (all samples equal)")
    return DecodedAudio(
        samples=samples,
        sample_rate_hz=rate_hz,
        source_rate_hz=source_rate_hz,
        source_frames=meter.samples,
        level_dbfs=meter.level_dbfs,
        clipping_fraction=meter.clipping_fraction,
        channels=channels,
        format=fmt,
        subtype=subtype,
    )


def _check_rate(rate_hz: float) -> None:
    if not MIN_SAMPLE_RATE_HZ <= rate_hz <= MAX_SAMPLE_RATE_HZ:
        raise AnalysisInputError(
            "sample_rate_out_of_range",
            f"sample rate {rate_hz:g} Hz is outside {MIN_SAMPLE_RATE_HZ}-{MAX_SAMPLE_RATE_HZ} Hz",
        )


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


class Mixdown:
    """The channel mean of (frames, channels) blocks, with a channel in opposite polarity turned
    over first: averaged as they are, two channels carrying the same stethoscope in anti-phase (a
    differential wiring) cancel to silence. The polarity is decided once, on the first block with
    sound in it, and kept (deciding block by block could flip it mid-recording)."""

    def __init__(self) -> None:
        self._signs: FloatArray | None = None

    def __call__(self, block: npt.NDArray[np.number]) -> npt.NDArray[np.number]:
        """One block's mono samples: float32 blocks stay float32 (decoding), others average in
        float64 (samples handed over in memory, integer PCM scaled afterwards)."""
        if block.shape[1] == 1:
            return block[:, 0]
        if self._signs is None:
            self._signs = _polarities(block)
        dtype = np.float32 if block.dtype == np.float32 else np.float64
        if self._signs is not None and bool(np.any(self._signs < 0)):
            block = block * self._signs.astype(dtype)
        mono: npt.NDArray[np.number] = block.mean(axis=1, dtype=dtype)
        return mono


def _polarities(block: npt.NDArray[np.number]) -> FloatArray | None:
    """+1 per channel, -1 for one anti-correlated with the loudest (`ANTIPHASE_CORRELATION`);
    None while the block is silent."""
    x = block.astype(np.float64)
    energy = np.einsum("ij,ij->j", x, x)
    ref = int(np.argmax(energy))
    if energy[ref] == 0.0:
        return None
    cross = x.T @ x[:, ref]
    correlation = cross / np.sqrt(np.maximum(energy * energy[ref], 1e-300))
    return np.where(correlation < -ANTIPHASE_CORRELATION, -1.0, 1.0)


def _mono_blocks(
    sound_file: sf.SoundFile, declared_frames: int, meter: LevelMeter
) -> Iterator[FloatArray]:
    """Mono float32 blocks (`Mixdown`) of at most the declared length, each measured."""
    filled = 0
    mixdown = Mixdown()
    try:
        for block in sound_file.blocks(_BLOCK_FRAMES, dtype="float32", always_2d=True):
            n = min(len(block), declared_frames - filled)
            mono: FloatArray = mixdown(block[:n]).astype(np.float32, copy=False)
            meter.add(mono)
            if not meter.finite:
                return
            yield mono
            filled += n
            if filled >= declared_frames:
                return
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AnalysisInputError("truncated", f"the audio data is damaged ({exc})") from exc


def resample(x: FloatArray, rate_hz: float, target_hz: float) -> tuple[FloatArray, float]:
    """Resample `x` to about `target_hz` (polyphase FIR, anti-aliased); never upsample.

    Returns the new samples and their exact rate (a rational approximation of the target).
    """
    return resampling.resample(x, rate_hz, target_hz)
