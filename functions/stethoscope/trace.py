"""A compact drawing of a recording for a browser: a min/max envelope and a quantised spectrogram.

The clinician's page draws the waveform (heart) or the spectrogram (lung) of a take and moves a
cursor over it during playback; it must not download and decode the audio to do so. This module
reduces the analysis-rate signal to

* an envelope: the minimum and maximum of the signal in each of at most `MAX_ENVELOPE_BINS` equal
  bins (the classic min/max decimation of waveform viewers: every peak stays visible at any zoom
  down to one bin), scaled so that the recording's peak is ±1;
* a spectrogram: Hann-windowed power spectra (~31 Hz resolution) averaged over frames of
  `MIN_FRAME_S` or longer (at most `MAX_FRAMES` frames), at most `MAX_FREQ_BINS` bins between
  `MIN_FREQ_HZ` and `MAX_FREQ_HZ` (or Nyquist), in dB re full scale, quantised to 8 bits between
  `db_min` and `db_max`.

Both are computed block by block (memory bounded by the block, not the recording) and are far
faster than real time (about a millisecond per second of audio). Timing: bin `i` covers
`[i * bin_s, (i + 1) * bin_s)`, frame `j` covers `[j * frame_s, (j + 1) * frame_s)`.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass

import numpy as np

from stethoscope.arrays import FloatArray

#: Bumped when the trace's content or layout changes (stored traces of older versions are redrawn).
TRACE_VERSION = 1
MAX_ENVELOPE_BINS = 4000
MAX_FRAMES = 1500
MIN_FRAME_S = 0.02
MIN_FREQ_HZ = 50.0
MAX_FREQ_HZ = 2000.0
MAX_FREQ_BINS = 64
#: Spectral resolution of the drawing: fine enough to tell a 200 Hz wheeze from a 400 Hz one.
RESOLUTION_HZ = 31.25
#: Dynamic range drawn: the loudest cell down to this many dB below it (below is black).
DYNAMIC_RANGE_DB = 80.0
ENVELOPE_DECIMALS = 3
_BLOCK_CELLS = 1 << 20  # window samples per block of the spectrogram (8 MiB as float64)
_BLOCK_SAMPLES = 1 << 18  # samples per block of the envelope


@dataclass(frozen=True)
class Envelope:
    bin_s: float
    min: list[float]
    max: list[float]


@dataclass(frozen=True)
class Spectrogram8:
    """Spectrogram cells as uint8 (row-major frames x freqs), 0..255 mapping db_min..db_max."""

    frame_s: float
    freqs_hz: list[float]
    db_min: float
    db_max: float
    db: bytes

    @property
    def db_base64(self) -> str:
        return base64.b64encode(self.db).decode("ascii")


@dataclass(frozen=True)
class Trace:
    duration_s: float
    sample_rate_hz: float
    peak: float  # the recording's peak |sample| (full scale 1.0): envelope * peak = full scale
    envelope: Envelope
    spectrogram: Spectrogram8 | None


def compute_trace(x: FloatArray, fs_hz: float, *, spectrogram: bool = True) -> Trace:
    """The envelope (and, with `spectrogram`, the spectrogram) of `x` sampled at `fs_hz`."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    if fs_hz <= 0 or len(x) == 0:
        raise ValueError("a trace needs samples and a positive rate")
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    return Trace(
        duration_s=round(len(x) / fs_hz, 4),
        sample_rate_hz=float(fs_hz),
        peak=round(peak, 6),
        envelope=min_max_envelope(x, fs_hz, scale=1.0 / peak if peak > 0 else 1.0),
        spectrogram=quantised_spectrogram(x, fs_hz) if spectrogram else None,
    )


def min_max_envelope(
    x: FloatArray, fs_hz: float, *, scale: float = 1.0, max_bins: int = MAX_ENVELOPE_BINS
) -> Envelope:
    """Min and max of `x * scale` per bin of a whole number of samples, at most `max_bins` bins
    (the last bin may be shorter), rounded to `ENVELOPE_DECIMALS`."""
    per_bin = max(1, math.ceil(len(x) / max_bins))
    n_bins = math.ceil(len(x) / per_bin)
    lows = np.empty(n_bins)
    highs = np.empty(n_bins)
    step = max(per_bin, (_BLOCK_SAMPLES // per_bin) * per_bin)  # whole bins per block
    for start in range(0, len(x), step):
        block = x[start : start + step] * scale
        first = start // per_bin
        whole = len(block) // per_bin
        if whole:
            shaped = block[: whole * per_bin].reshape(whole, per_bin)
            lows[first : first + whole] = shaped.min(axis=1)
            highs[first : first + whole] = shaped.max(axis=1)
        if len(block) > whole * per_bin:  # a short last bin
            rest = block[whole * per_bin :]
            lows[first + whole], highs[first + whole] = rest.min(), rest.max()
    return Envelope(
        bin_s=per_bin / fs_hz,
        min=np.round(lows, ENVELOPE_DECIMALS).tolist(),
        max=np.round(highs, ENVELOPE_DECIMALS).tolist(),
    )


def quantised_spectrogram(
    x: FloatArray,
    fs_hz: float,
    *,
    max_frames: int = MAX_FRAMES,
    min_frame_s: float = MIN_FRAME_S,
    min_freq_hz: float = MIN_FREQ_HZ,
    max_freq_hz: float = MAX_FREQ_HZ,
    max_freq_bins: int = MAX_FREQ_BINS,
) -> Spectrogram8 | None:
    """Power spectrogram in dB re full scale, averaged per output frame, quantised to uint8.

    Each output frame of `hop` samples averages the power of `per_frame` Hann windows of
    `n_fft` samples centred evenly inside it (Welch's method per frame), so a long recording is
    summarised rather than sampled. None if the recording is shorter than one window.
    """
    n_fft = max(16, int(2 ** round(math.log2(fs_hz / RESOLUTION_HZ))))
    if len(x) < n_fft:
        return None
    hop = max(round(min_frame_s * fs_hz), math.ceil(len(x) / max_frames))
    n_frames = max(1, len(x) // hop)
    per_frame = max(1, round(hop / (n_fft // 2)))
    freqs = np.fft.rfftfreq(n_fft, 1.0 / fs_hz)
    top_hz = min(max_freq_hz, 0.5 * fs_hz)
    chosen = np.flatnonzero((freqs >= min_freq_hz) & (freqs <= top_hz))
    if len(chosen) == 0:
        return None
    groups = np.array_split(chosen, min(max_freq_bins, len(chosen)))  # contiguous runs
    group_starts = np.cumsum([0] + [len(g) for g in groups[:-1]])
    group_sizes = np.array([len(g) for g in groups], dtype=np.float64)
    window = np.hanning(n_fft)
    # full-scale sine -> 0 dB: |X|^2 of a unit sine with this window peaks at (sum(w) / 2)^2
    norm = (window.sum() / 2.0) ** 2
    padded = np.concatenate([np.zeros(n_fft // 2), x, np.zeros(n_fft)])
    offsets = (np.arange(per_frame) * hop) // per_frame + hop // (2 * per_frame)
    power = np.empty((n_frames, len(groups)))
    block_frames = max(1, _BLOCK_CELLS // (per_frame * n_fft))
    for first in range(0, n_frames, block_frames):
        frames = np.arange(first, min(n_frames, first + block_frames))
        starts = (frames[:, None] * hop + offsets[None, :]).reshape(-1)  # window centres
        windows = padded[starts[:, None] + np.arange(n_fft)[None, :]] * window
        spectra = np.abs(np.fft.rfft(windows, axis=1)[:, chosen]) ** 2 / norm
        spectra = spectra.reshape(len(frames), per_frame, len(chosen)).mean(axis=1)
        power[frames] = np.add.reduceat(spectra, group_starts, axis=1) / group_sizes
    db = 10.0 * np.log10(np.maximum(power, 1e-20))
    db_max = math.ceil(float(db.max()) * 10.0) / 10.0  # 0.1 dB steps: short JSON, full 8 bits
    db_min = max(math.floor(float(db.min()) * 10.0) / 10.0, db_max - DYNAMIC_RANGE_DB)
    span = max(db_max - db_min, 1e-9)
    cells = np.clip(np.round((db - db_min) / span * 255.0), 0, 255).astype(np.uint8)
    centres = [float(freqs[g].mean()) for g in groups]
    return Spectrogram8(
        frame_s=hop / fs_hz,
        freqs_hz=[round(f, 1) for f in centres],
        db_min=db_min,
        db_max=db_max,
        db=cells.tobytes(order="C"),
    )
