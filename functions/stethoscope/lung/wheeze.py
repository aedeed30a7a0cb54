"""The lung spectrogram and its tonal peaks (spectral lines standing out of their frame).

The spectrogram (64 ms Hann windows every 16 ms) is the one the breath envelope, the detector
features (`features.py`) and the report use. Tonal peaks follow the spectral-peak tracking of
Taplidou & Hadjileontiadis 2007 (Comput Biol Med 37(8)): each frame is compared with its own
smoothed spectrum (mean dB over the search's `background_hz`); bins that are local maxima and stand
`tonal_db` above it, and `transient_db` above their own median over the recording (a line present
all the time — a device resonance, hum — is not a wheeze), are tonal. The breath envelope leaves
their footprint out, so a loud expiratory wheeze does not look like a second breath. Frames where
many bins are "tonal" at once are broadband bursts (friction, speech), not lines. (Until analysis
1.2 the wheezes themselves were ridges of these peaks; the learned detectors replaced that.)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
import numpy.typing as npt
from scipy import fft as sp_fft
from scipy import ndimage, signal

from stethoscope.arrays import FloatArray
from stethoscope.order_statistics import median

MAX_TONAL_BINS_PER_FRAME = 4
ROLL_OFF_FLOOR_DB = 10.0
#: Medians are taken over every 4th bin or frame: as good an estimate, four times cheaper.
MEDIAN_STRIDE = 4
SPECTROGRAM_BLOCK_FRAMES = 2048
#: The lung analysis reads linear power (not dB) only up to here: the features' top band edge,
#: 1000 Hz, plus the 125 Hz their smoothed spectrum reaches (features.py); the breath band ends at
#: 1000 Hz (breathing.py).
LINEAR_POWER_TOP_HZ = 1125.0
#: The analysis reads the spectrogram in dB only up to about here: the tonal search's band (to
#: 1000 Hz) with the smoothed spectrum and local-maximum test around it (125 Hz and a bin),
#: the features' rows and the linear ones. The rows above are only drawn (the report): they are
#: kept as power and turned into dB when first asked for, which spares two fifths of the
#: logarithms of an analysis.
ANALYSED_TOP_HZ = 1200.0
assert LINEAR_POWER_TOP_HZ <= ANALYSED_TOP_HZ


@dataclass(frozen=True)
class RidgeSearch:
    """One spectrogram resolution and the band searched in it for tonal ridges."""

    window_s: float
    hop_s: float
    band_hz: tuple[float, float]
    background_hz: float  # width of the smoothed spectrum a peak must stand above
    transient_db: float  # how far above its own median over time a tonal bin must be


#: Wheezes proper, which glide in pitch: short windows keep a gliding line sharp. This is also
#: the spectrogram the breath envelope and the report use.
HIGH_PITCHED = RidgeSearch(0.064, 0.016, (100.0, 1000.0), 125.0, 6.0)


@dataclass(frozen=True)
class Spectrogram:
    freqs_hz: FloatArray
    times_s: FloatArray
    analysed_db: FloatArray  # (freqs up to the first at or above ANALYSED_TOP_HZ, times), float32
    window_s: float
    hop_s: float
    upper_power: FloatArray  # (the freqs above, times): power with the floor added, float32

    @cached_property
    def power_db(self) -> FloatArray:
        """The whole spectrogram in dB, (freqs, times), float32: `analysed_db` and the rows above
        (for the report), the same values as if all had been converted at once."""
        upper = np.log10(self.upper_power)
        upper *= np.float32(10.0)
        power_db: FloatArray = np.concatenate([self.analysed_db, upper])
        return power_db

    @cached_property
    def linear_power(self) -> FloatArray:
        """10^(dB/10) of the rows up to the first at or above `LINEAR_POWER_TOP_HZ` (float32, as
        `power_db`), computed once for the breath envelope and the features, which read most of the
        same rows (read-only: shared)."""
        rows = int(np.searchsorted(self.freqs_hz, LINEAR_POWER_TOP_HZ)) + 1
        power: FloatArray = 10.0 ** (self.analysed_db[:rows] / 10.0)
        power.flags.writeable = False
        return power


def spectrogram(x: FloatArray, fs_hz: float, search: RidgeSearch) -> Spectrogram:
    """Power spectrogram in dB (Hann windows of the search's length and hop)."""
    nperseg = max(32, round(search.window_s * fs_hz))
    hop = max(1, round(search.hop_s * fs_hz))
    n_frames = (len(x) - nperseg) // hop + 1
    if n_frames < 1:  # shorter than one window: scipy shortens the window
        freqs, times, power = signal.spectrogram(
            x, fs=fs_hz, window="hann", nperseg=nperseg, noverlap=nperseg - hop, mode="psd"
        )
        power = power.astype(np.float32)
    else:
        # in blocks of frames, kept as float32: a complex float64 STFT of 10 minutes would
        # otherwise be the largest array of the whole analysis (~80 MB)
        freqs = sp_fft.rfftfreq(nperseg, 1.0 / fs_hz)
        power = np.empty((len(freqs), n_frames), dtype=np.float32)
        for first in range(0, n_frames, SPECTROGRAM_BLOCK_FRAMES):
            count = min(SPECTROGRAM_BLOCK_FRAMES, n_frames - first)
            piece = x[first * hop : first * hop + (count - 1) * hop + nperseg]
            power[:, first : first + count] = _psd_frames(piece, fs_hz, nperseg, hop).T
        times = (np.arange(n_frames) * hop + nperseg / 2) / fs_hz
    floor = np.float32(1e-12 * float(np.max(power)) + 1e-30)
    np.add(power, floor, out=power)
    # in place: the analysed rows become dB, the rows above stay power (`Spectrogram.power_db`)
    rows = int(np.searchsorted(freqs, ANALYSED_TOP_HZ)) + 1
    analysed_db, upper_power = power[:rows], power[rows:]
    np.log10(analysed_db, out=analysed_db)
    analysed_db *= np.float32(10.0)
    return Spectrogram(freqs, times, analysed_db, nperseg / fs_hz, hop / fs_hz, upper_power)


@lru_cache(maxsize=8)
def _hann(nperseg: int) -> FloatArray:
    """The periodic Hann window scipy's spectrogram builds from "hann" on every call, built once
    (read-only: shared by every recording)."""
    window: FloatArray = signal.get_window("hann", nperseg)
    window.flags.writeable = False
    return window


def _psd_frames(piece: FloatArray, fs_hz: float, nperseg: int, hop: int) -> FloatArray:
    """(frames, freqs) power spectral density of `piece` in Hann windows of `nperseg` every `hop`
    samples: what `signal.spectrogram(piece, fs_hz, "hann", nperseg, nperseg - hop, mode="psd")`
    gives (transposed), bit for bit — the same operations in the same order (each frame less its
    mean, times the window, scipy's real FFT, the conjugate times itself, then the density scale
    and the one-sided doubling), without its argument handling, its complex scaling and doubling
    and its copies (half its time). (The squared magnitude as re² + im² is not the same: numpy
    multiplies complex numbers with a fused multiply-add.)"""
    window = _hann(nperseg)
    frames = np.lib.stride_tricks.sliding_window_view(piece, nperseg)[::hop]
    segments = frames - np.mean(frames, axis=-1, keepdims=True)
    segments *= window
    spectrum = sp_fft.rfft(segments, n=nperseg)
    power: FloatArray = np.multiply(np.conjugate(spectrum), spectrum, out=spectrum).real
    power *= 1.0 / (fs_hz * (window * window).sum())
    power[:, 1 : (nperseg + 1) // 2] *= 2  # the Nyquist bin (nperseg even) is not doubled
    return power


@dataclass(frozen=True)
class TonalPeaks:
    """Spectrogram bins that are narrow peaks standing out of their frame's spectrum."""

    peaks: npt.NDArray[np.bool_]  # (freqs, times)
    prominence_db: FloatArray  # (freqs, times)

    @cached_property
    def footprint(self) -> npt.NDArray[np.bool_]:
        """The peaks widened by ±2 bins: the whole tonal line, not just its top bin."""
        widened = self.peaks.copy()
        for shift in (1, 2):
            widened[shift:] |= self.peaks[:-shift]
            widened[:-shift] |= self.peaks[shift:]
        return widened


def tonal_peaks(spec: Spectrogram, search: RidgeSearch, tonal_db: float) -> TonalPeaks:
    """Local spectral maxima at least `tonal_db` above their frame's smoothed spectrum and
    `search.transient_db` above their bin's median over time, in the search's band, in frames
    that are not broadband bursts."""
    freqs, power = spec.freqs_hz, spec.analysed_db
    bin_hz = float(freqs[1] - freqs[0])
    width = max(3, round(search.background_hz / bin_hz) | 1)
    top = min(search.band_hz[1], 0.95 * float(freqs[-1]))
    lo = max(1, int(np.searchsorted(freqs, search.band_hz[0])))
    hi = int(np.searchsorted(freqs, top, side="right"))
    # the band plus enough neighbours for the smoothed spectrum and the local-maximum test
    a, b = max(0, lo - width), min(len(freqs), hi + width)
    if b > len(power):
        raise ValueError("the tonal search reads rows above ANALYSED_TOP_HZ")
    part = power[a:b]
    # a steep roll-off (a band-limited microphone) must not drag the smoothed spectrum down and
    # make every bin above it look tonal: levels far below the frame's median count at that floor
    floor = median(part[::MEDIAN_STRIDE], axis=0)[None, :] - ROLL_OFF_FLOOR_DB
    background = ndimage.uniform_filter1d(np.maximum(part, floor), width, axis=0, mode="nearest")
    prominence = np.zeros((len(freqs), power.shape[1]), dtype=power.dtype)
    prominence[a:b] = part - background
    inner = part[lo - a - 1 : hi - a + 1]
    local_max = (inner[1:-1] >= inner[:-2]) & (inner[1:-1] >= inner[2:])
    typical = median(inner[1:-1, ::MEDIAN_STRIDE], axis=1)[:, None]
    transient = inner[1:-1] - typical >= search.transient_db
    tonal = np.zeros(prominence.shape, dtype=bool)
    tonal[lo:hi] = (prominence[lo:hi] >= tonal_db) & transient & local_max
    tonal[:, tonal.sum(axis=0) > MAX_TONAL_BINS_PER_FRAME] = False
    return TonalPeaks(tonal, prominence)
