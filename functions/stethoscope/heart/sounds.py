"""Heart-sound envelope and candidate sound events.

The envelope is the log Hilbert amplitude of the 25-400 Hz band (where S1 and S2 carry their
energy; Springer et al. 2016, IEEE TBME 63(4), use the same band), in 5 ms frames, relative to a
1 s running median so that it reads "how far above the local background" whatever the gain or the
noise floor. Candidates are its local maxima; each gets the features that tell S1 from S2:
S1 lasts longer and has less energy above 150 Hz than S2 (measured on the development recordings,
consistent with Arnott et al. 1984, J Biomed Eng 6(2)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage, signal

from stethoscope.arrays import FloatArray
from stethoscope.envelope import amplitude_envelope, bandpass, smooth

FRAME_RATE_HZ = 200.0
SOUND_BAND_HZ = (25.0, 400.0)
BACKGROUND_WINDOW_S = 1.0
MIN_SOUND_SEPARATION_S = 0.05
MIN_PROMINENCE = 0.15  # natural-log units: ~1.3 dB
SPIKE_FRAMES = 3


@dataclass(frozen=True)
class SoundEnvelope:
    """Log amplitude above the local background, one value per frame."""

    relative: FloatArray  # ln(amplitude / running median amplitude)
    log_amplitude: FloatArray  # ln(amplitude), for levels and SNR
    frame_rate_hz: float

    def frame_at(self, times_s: FloatArray) -> npt.NDArray[np.intp]:
        """The frames nearest `times_s`, kept inside the envelope."""
        frame = np.round(times_s * self.frame_rate_hz).astype(np.intp)
        return np.minimum(np.maximum(frame, 0), len(self.log_amplitude) - 1)  # np.clip, 3x cheaper

    def log_amplitude_at(self, times_s: FloatArray) -> FloatArray:
        """ln amplitude at the frames nearest `times_s`."""
        sampled: FloatArray = self.log_amplitude[self.frame_at(times_s)]
        return sampled

    def time_s(self, frame: npt.NDArray[np.integer] | FloatArray) -> FloatArray:
        return np.asarray(frame, dtype=np.float64) / self.frame_rate_hz


@dataclass(frozen=True)
class Candidates:
    """Local maxima of the envelope that may be S1 or S2."""

    frames: npt.NDArray[np.intp]
    times_s: FloatArray
    height: FloatArray  # relative envelope at the peak (ln units above background)
    s1_likeness: FloatArray  # > 0 looks like S1 (long, low-pitched), < 0 like S2; ~unit scale
    width_s: FloatArray  # time within half amplitude of the peak (capped at 0.12 s)

    def __len__(self) -> int:
        return len(self.frames)


def sound_envelope(x: FloatArray, fs_hz: float) -> SoundEnvelope:
    """Compute the heart-sound envelope of a recording sampled at `fs_hz`."""
    band = bandpass(x, fs_hz, *SOUND_BAND_HZ)
    amplitude, frame_rate = amplitude_envelope(band, fs_hz, FRAME_RATE_HZ)
    # A running median over 25 ms removes impulses (friction clicks, crackles) shorter than ~12 ms,
    # which would otherwise look like sounds after smoothing; S1 and S2 last 50-150 ms.
    amplitude = ndimage.median_filter(amplitude, size=SPIKE_FRAMES, mode="nearest")
    floor = 1e-6 * float(np.max(amplitude)) + 1e-12
    log_amplitude = smooth(np.log(amplitude + floor), frame_rate, 20.0)
    window = max(3, round(BACKGROUND_WINDOW_S * frame_rate) | 1)
    background = ndimage.median_filter(log_amplitude, size=window, mode="nearest")
    return SoundEnvelope(log_amplitude - background, log_amplitude, frame_rate)


def find_candidates(envelope: SoundEnvelope, x: FloatArray, fs_hz: float) -> Candidates:
    """Local maxima of the relative envelope, with the features that separate S1 from S2."""
    rel = envelope.relative
    frames, _ = signal.find_peaks(
        rel,
        distance=max(1, round(MIN_SOUND_SEPARATION_S * envelope.frame_rate_hz)),
        prominence=MIN_PROMINENCE,
    )
    # Peaks below the running median are background, never S1 or S2: dropping them keeps the
    # decoding small without changing its result.
    frames = frames[rel[frames] > 0.0].astype(np.intp)
    height = rel[frames]
    width_s = _half_height_width_s(rel, frames, envelope.frame_rate_hz)
    high_ratio = _high_band_ratio(x, fs_hz, envelope.time_s(frames))
    likeness = 0.5 * (_zscore(width_s) - _zscore(high_ratio))
    return Candidates(frames, envelope.time_s(frames), height, likeness, width_s)


def _half_height_width_s(
    rel: FloatArray, frames: npt.NDArray[np.intp], frame_rate_hz: float
) -> FloatArray:
    """Duration each peak stays within ln(2) (half amplitude) of its top, capped at ±60 ms."""
    half = round(0.06 * frame_rate_hz)
    offsets = np.arange(-half, half + 1)
    idx = np.clip(frames[:, None] + offsets[None, :], 0, len(rel) - 1)
    above = rel[idx] >= rel[frames][:, None] - np.log(2.0)
    # count the contiguous run through the centre
    left = np.argmin(above[:, half::-1], axis=1)
    left = np.where(above[:, half::-1].all(axis=1), half + 1, left)
    right = np.argmin(above[:, half:], axis=1)
    right = np.where(above[:, half:].all(axis=1), half + 1, right)
    widths: FloatArray = (left + right - 1) / frame_rate_hz
    return widths


def _high_band_ratio(x: FloatArray, fs_hz: float, times_s: FloatArray) -> FloatArray:
    """ln(energy 150-600 Hz / energy 25-150 Hz) in a 60 ms window around each time (short enough
    not to reach the neighbouring sound at 250 bpm)."""
    n = round(0.06 * fs_hz)
    if len(times_s) == 0 or len(x) < n:
        return np.zeros(len(times_s))
    starts = np.clip(np.round(times_s * fs_hz).astype(np.intp) - n // 2, 0, len(x) - n)
    segments = x[starts[:, None] + np.arange(n)[None, :]]
    segments = (segments - segments.mean(axis=1, keepdims=True)) * np.hanning(n)
    n_fft = 256 if n <= 256 else 1 << int(np.ceil(np.log2(n)))
    power = np.abs(np.fft.rfft(segments, n_fft, axis=1)) ** 2
    freqs = np.fft.rfftfreq(n_fft, 1.0 / fs_hz)
    low = power[:, (freqs >= 25) & (freqs < 150)].sum(axis=1)
    high = power[:, (freqs >= 150) & (freqs < min(600.0, fs_hz / 2))].sum(axis=1)
    ratio: FloatArray = np.log((high + 1e-12) / (low + 1e-12))
    return ratio


def _zscore(v: FloatArray) -> FloatArray:
    if len(v) < 2:
        return np.zeros(len(v))
    spread = float(np.std(v))
    return (v - float(np.mean(v))) / spread if spread > 0 else np.zeros(len(v))
