"""Per-window and per-recording features of a lung recording, for the learned detectors.

One 64 ms / 16 ms spectrogram (the one the breath envelope and the report use) and one 100-1000 Hz
band-passed waveform give, per 16 ms frame:

* band levels at 50-1000 Hz, each relative to its own median over the recording — so a device's
  frequency response and the gain drop out (SPRSound's device passes little above ~800 Hz, the
  ICBHI and Fraiwan stethoscopes do; nothing above 1000 Hz is used for that reason);
* spectral flatness of 100-1000 Hz;
* tonality: how far the strongest spectral peak stands above its frame's spectrum smoothed over
  125 Hz, at 80-250 Hz (rhonchi) and 250-1000 Hz (wheezes), and the same peak's continuity
  (the smallest of its prominences in the frame before, itself and the frame after, ±1 bin) —
  the ridge a wheeze draws (Taplidou & Hadjileontiadis 2007, Comput Biol Med 37(8)). (Counting
  only the prominence above the bin's median over the recording, against constant device lines,
  was tried: out of fold it helped neither Fraiwan nor ICBHI and cost SPRSound 0.002.);
* transients: the loudest 4 ms of the frame against the running median level over 0.5 s, and the
  crest factor of the frame, on the band signal and on its first difference (which weights the
  higher frequencies fine crackles have; CORSA, Sovijärvi et al. 2000, Eur Respir Rev 10(77)).

Windows of `WINDOW_FRAMES` frames (0.256 s, half-overlapping) take each frame feature's mean and
maximum, plus the recording's 90th percentile of the tonal and transient features (so a detector
can compare a window with the rest of its recording), and the same means, maxima and 1 s
averages less their median over the recording's windows (`rel_*`: what a device or a chest adds
to every window drops out of these). The recording-level features the quality
model uses summarise the frames and the windows (10th and 90th percentiles). All of it is
vectorised; the cost is a few FFTs per recording.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from stethoscope.arrays import FloatArray
from stethoscope.envelope import autocorrelation, bandpass
from stethoscope.lung.wheeze import HIGH_PITCHED, LINEAR_POWER_TOP_HZ, Spectrogram, spectrogram
from stethoscope.order_statistics import median, percentile

BAND_EDGES_HZ = (50.0, 100.0, 150.0, 200.0, 300.0, 400.0, 600.0, 800.0, 1000.0)
BROAD_BAND_HZ = (100.0, 1000.0)
LOW_TONAL_HZ = (80.0, 250.0)
HIGH_TONAL_HZ = (250.0, 1000.0)
TONAL_SMOOTHING_HZ = 125.0
assert BAND_EDGES_HZ[-1] + TONAL_SMOOTHING_HZ <= LINEAR_POWER_TOP_HZ  # the rows read
SUBFRAMES = 4  # 4 ms pieces of a 16 ms frame
BACKGROUND_S = 0.5
#: Chosen by looking at 400 SPRSound recordings of all patients (crackle vs normal events,
#: bands 50-2000 Hz, 2 or 4 ms pieces, 50 or 500 ms backgrounds): a choice that saw every fold.
CLICK_PIECE_S = 0.002
CLICK_BACKGROUND_S = 0.05
WINDOW_FRAMES = 16
HOP_FRAMES = 8
CONTEXT_PERCENTILE = 90.0

FRAME_FEATURES = (
    *(f"band_{a:g}_{b:g}_db" for a, b in itertools.pairwise(BAND_EDGES_HZ)),
    "level_db",
    "flatness_db",
    "tonal_low_db",
    "tonal_high_db",
    "ridge_low_db",
    "ridge_high_db",
    "transient_db",
    "transient_diff_db",
    "crest_db",
    "crest_diff_db",
    "clicks_10db",
    "clicks_15db",
)
#: Frame features whose recording-wide percentile is given to every window as context.
CONTEXT_FEATURES = (
    "ridge_low_db",
    "ridge_high_db",
    "transient_db",
    "transient_diff_db",
    "clicks_10db",
)
#: Frame features also averaged over `WIDE_FRAMES` around each window: a breath's crackles are
#: a rate over a second, which one 0.256 s window samples poorly.
WIDE_FEATURES = ("clicks_10db", "clicks_15db", "transient_diff_db", "ridge_low_db", "ridge_high_db")
WIDE_FRAMES = 64  # 1 s; 2 s was no better on fold 0's window AUC (a look at the folds)
WINDOW_FEATURES = (
    *(f"mean_{n}" for n in FRAME_FEATURES),
    *(f"max_{n}" for n in FRAME_FEATURES),
    *(f"p{CONTEXT_PERCENTILE:g}_{n}" for n in CONTEXT_FEATURES),
    *(f"wide_mean_{n}" for n in WIDE_FEATURES),
    *(f"rel_{k}_{n}" for k in ("mean", "max") for n in FRAME_FEATURES),
    *(f"rel_wide_mean_{n}" for n in WIDE_FEATURES),
)
#: Frame features measured against the recording's own median (the band levels and the level):
#: their recording median is 0 by construction, so the summary leaves it out. (Until analysis
#: 1.3.3 it was kept: float32 rounding made it ±1e-6, the quality head standardised that to ±4
#: SD and read the rounding as information — the same noise take scored usable 0.80 on one
#: machine and under the cut on another.)
SELF_REFERENCED_FEATURES = (*(n for n in FRAME_FEATURES if n.startswith("band_")), "level_db")
#: Columns of the frame features whose recording median the summary keeps.
_MEDIAN_COLUMNS = [k for k, n in enumerate(FRAME_FEATURES) if n not in SELF_REFERENCED_FEATURES]
RECORD_FEATURES = (
    *(f"median_{FRAME_FEATURES[k]}" for k in _MEDIAN_COLUMNS),
    *(f"spread_{n}" for n in FRAME_FEATURES),
    "shape_variability_db",
    "slope_db_per_octave",
    "low_share_db",
    "envelope_periodicity",
    *(f"p{q}_window_{n}" for q in (10, 90) for n in WINDOW_FEATURES[: 2 * len(FRAME_FEATURES)]),
)


@dataclass(frozen=True)
class LungFeatures:
    """Frame features, their windows and the recording summary of one recording."""

    spectrogram: Spectrogram
    frames: FloatArray  # (frames, len(FRAME_FEATURES))
    peak_hz_low: FloatArray  # frequency of the strongest low tonal peak per frame
    peak_hz_high: FloatArray
    loudest_s: FloatArray  # time of the loudest 4 ms (difference signal) per frame
    windows: FloatArray  # (windows, len(WINDOW_FEATURES))
    window_start_s: FloatArray
    window_end_s: FloatArray
    record: FloatArray  # (len(RECORD_FEATURES),)

    def window_frames(self, index: int) -> slice:
        return slice(index * HOP_FRAMES, index * HOP_FRAMES + WINDOW_FRAMES)


def lung_features(x: FloatArray, fs_hz: float, spec: Spectrogram | None = None) -> LungFeatures:
    """Every feature the lung detectors use (x at the analysis rate, about 4 kHz)."""
    spec = spec if spec is not None else spectrogram(x, fs_hz, HIGH_PITCHED)
    nyquist_top = 0.95 * float(spec.freqs_hz[-1])
    # nothing above 1000 Hz is used; the margin keeps the smoothed spectrum at 1000 Hz exact
    rows = int(np.searchsorted(spec.freqs_hz, BAND_EDGES_HZ[-1] + TONAL_SMOOTHING_HZ)) + 1
    freqs, power_db = spec.freqs_hz[:rows], spec.analysed_db[:rows]  # float32: halves the memory
    n_frames = power_db.shape[1]
    power = spec.linear_power[:rows]

    # (band means over copies of the rows, as the detectors were fitted: numpy's float32 mean over
    # a view of the same rows can differ in the last bit)
    bands = []
    for a, b in itertools.pairwise(BAND_EDGES_HZ):
        sel = (freqs >= a) & (freqs < min(b, nyquist_top))
        level = 10 * np.log10(power[sel].mean(axis=0) + 1e-20) if sel.any() else np.zeros(n_frames)
        bands.append(level)
    band_db = np.array(bands)
    broad = (freqs >= BROAD_BAND_HZ[0]) & (freqs < min(BROAD_BAND_HZ[1], nyquist_top))
    broad_power = power[broad]
    broad_mean = broad_power.mean(axis=0)
    level_db = 10 * np.log10(broad_mean + 1e-20)
    flatness_db = 10 * np.log10(
        np.exp(np.mean(np.log(broad_power + 1e-20), axis=0)) / (broad_mean + 1e-20) + 1e-20
    )
    band_median = median(band_db, axis=1)
    level_median = float(median(level_db))
    band_rel = band_db - band_median[:, None]
    level_rel = level_db - level_median

    prominence = _prominence_db(power_db, freqs)
    ridge = _ridge_db(prominence)
    tonal_low, ridge_low, hz_low = _band_peak(prominence, ridge, freqs, LOW_TONAL_HZ, nyquist_top)
    tonal_high, ridge_high, hz_high = _band_peak(
        prominence, ridge, freqs, HIGH_TONAL_HZ, nyquist_top
    )

    hop = round(spec.hop_s * fs_hz)
    first = round(spec.window_s * fs_hz) // 2 - hop // 2  # frame t is centred on sample t*hop+...
    band_x = bandpass(x, fs_hz, *BROAD_BAND_HZ)
    diff_x = np.diff(band_x, prepend=band_x[:1])
    background = max(3, round(BACKGROUND_S / spec.hop_s) | 1)
    transient, crest, _ = _transients(band_x, hop, first, n_frames, background)
    transient_d, crest_d, loudest = _transients(diff_x, hop, first, n_frames, background)
    clicks = _clicks(diff_x, hop, first, n_frames, fs_hz)
    loudest_s = (first + np.arange(n_frames) * hop + loudest) / fs_hz

    frames = np.column_stack(
        [
            band_rel.T,
            level_rel,
            flatness_db,
            tonal_low,
            tonal_high,
            ridge_low,
            ridge_high,
            transient,
            transient_d,
            crest,
            crest_d,
            clicks,
        ]
    )
    # one sort of the frames serves the windows' context and the recording summary
    frame_percentiles = percentile(frames, [10, 50, CONTEXT_PERCENTILE], axis=0)
    windows, starts, ends = _windows(frames, frame_percentiles[2], spec)
    spread = percentile(windows[:, : 2 * len(FRAME_FEATURES)], [10, 90], axis=0).ravel()
    summary = _record(frame_percentiles, band_db, band_median, level_db, level_median, spec)
    record = np.concatenate([summary, spread])
    return LungFeatures(spec, frames, hz_low, hz_high, loudest_s, windows, starts, ends, record)


def _prominence_db(power_db: FloatArray, freqs: FloatArray) -> FloatArray:
    """Height of each local spectral maximum above its frame's spectrum smoothed over
    `TONAL_SMOOTHING_HZ`; 0 where a bin is not a local maximum."""
    bin_hz = float(freqs[1] - freqs[0])
    width = max(3, round(TONAL_SMOOTHING_HZ / bin_hz) | 1)
    background = ndimage.uniform_filter1d(power_db, width, axis=0, mode="nearest")
    local_max = np.zeros(power_db.shape, dtype=bool)
    local_max[1:-1] = (power_db[1:-1] >= power_db[:-2]) & (power_db[1:-1] >= power_db[2:])
    prominence: FloatArray = np.where(local_max, np.maximum(power_db - background, 0.0), 0.0)
    return prominence


def _ridge_db(prominence: FloatArray) -> FloatArray:
    """Per bin, the smallest of its prominence and the best within ±1 bin in the frames before and
    after: high only where a tonal line continues for three frames (48 ms)."""
    # the best within ±1 bin, the edge bins their own neighbours: what
    # `ndimage.maximum_filter1d(prominence, 3, axis=0, mode="nearest")` gives, without its
    # line buffers across the frequency axis (20 times the time of these two maxima)
    near = prominence.copy()
    np.maximum(near[1:], prominence[:-1], out=near[1:])
    np.maximum(near[:-1], prominence[1:], out=near[:-1])
    ridge: FloatArray = prominence.copy()
    # the frame before (the first frame is its own) and the frame after (likewise the last)
    for mine, theirs in ((np.s_[:, 1:], np.s_[:, :-1]), (np.s_[:, :-1], np.s_[:, 1:])):
        np.minimum(ridge[mine], near[theirs], out=ridge[mine])
    for edge in (np.s_[:, :1], np.s_[:, -1:]):
        np.minimum(ridge[edge], near[edge], out=ridge[edge])
    return ridge


def _rows(freqs: FloatArray, low_hz: float, high_hz: float) -> slice:
    """The rows of `freqs` (ascending) in [low_hz, high_hz), as a slice: a view, not a copy
    (for maxima, which do not depend on the memory layout as float32 sums may)."""
    return slice(int(np.searchsorted(freqs, low_hz)), int(np.searchsorted(freqs, high_hz)))


def _band_peak(
    prominence: FloatArray,
    ridge: FloatArray,
    freqs: FloatArray,
    band_hz: tuple[float, float],
    top_hz: float,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per frame: strongest prominence, strongest ridge and the ridge's frequency in a band."""
    sel = _rows(freqs, band_hz[0], min(band_hz[1], top_hz))
    n = prominence.shape[1]
    if sel.stop <= sel.start:
        return np.zeros(n), np.zeros(n), np.zeros(n)
    part = ridge[sel]
    best = np.argmax(part, axis=0)
    return prominence[sel].max(axis=0), part.max(axis=0), freqs[sel][best]


def _transients(
    y: FloatArray, hop: int, first: int, n_frames: int, background_frames: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per frame (hop samples from `first`): loudest 4 ms against the running median over
    `background_frames` frames (dB), crest factor (dB) and the offset of the loudest 4 ms in
    samples."""
    sub = max(1, hop // SUBFRAMES)
    need = first + n_frames * hop
    padded = np.zeros(max(need, len(y)))
    padded[: len(y)] = y
    squares = np.square(padded[first : first + n_frames * hop].reshape(n_frames, hop))
    energy = squares[:, : SUBFRAMES * sub].reshape(n_frames, SUBFRAMES, sub).mean(axis=2)
    loudest = np.argmax(energy, axis=1)
    peak = energy.max(axis=1)
    mean = squares.mean(axis=1)
    background = ndimage.median_filter(mean, size=background_frames, mode="nearest")
    floor = max(float(percentile(mean, 5)), 1e-20)
    transient = 10 * np.log10((peak + 1e-20) / np.maximum(background, floor))
    crest = 10 * np.log10((squares.max(axis=1) + 1e-20) / (mean + 1e-20))
    offset = loudest * sub + sub // 2
    return transient, crest, offset.astype(np.float64)


def _clicks(y: FloatArray, hop: int, first: int, n_frames: int, fs_hz: float) -> FloatArray:
    """Per frame, how many of its 2 ms pieces stand 10 and 15 dB above the median of the 50 ms
    around them: crackles are 5-20 ms clicks, breath noise changes over hundreds of ms. (On 400
    SPRSound recordings this count per second separated crackle from normal breaths best, event
    AUC ≈ 0.85, among the bands, piece lengths and backgrounds tried: see `CLICK_PIECE_S`.)"""
    sub = max(1, round(CLICK_PIECE_S * fs_hz))
    per_frame = max(1, hop // sub)
    n = n_frames * per_frame
    padded = np.zeros(max(first + n * sub, len(y)))
    padded[: len(y)] = y
    energy = np.square(padded[first : first + n * sub]).reshape(n, sub).mean(axis=1)
    size = max(3, round(CLICK_BACKGROUND_S / CLICK_PIECE_S) | 1)
    background = ndimage.median_filter(energy, size=size, mode="nearest")
    floor = max(float(percentile(energy, 5)), 1e-20)
    ratio = energy / np.maximum(background, floor)
    per = ratio.reshape(n_frames, per_frame)
    counts: FloatArray = np.column_stack(
        [(per > 10.0).sum(axis=1), (per > 10**1.5).sum(axis=1)]
    ).astype(np.float64)
    return counts


def _windows(
    frames: FloatArray, frame_context: FloatArray, spec: Spectrogram
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Mean and max of the frame features over half-overlapping windows, plus context
    (`frame_context`: the recording's `CONTEXT_PERCENTILE` of every frame feature)."""
    n = len(frames)
    count = max(1, 1 + (n - WINDOW_FRAMES) // HOP_FRAMES) if n >= 1 else 0
    index = np.arange(count)[:, None] * HOP_FRAMES + np.arange(min(WINDOW_FRAMES, n))[None, :]
    stacked = frames[index]  # (windows, frames, features)
    context = frame_context[[FRAME_FEATURES.index(c) for c in CONTEXT_FEATURES]]
    wide_cols = [FRAME_FEATURES.index(c) for c in WIDE_FEATURES]
    sums = np.concatenate([np.zeros((1, len(wide_cols))), np.cumsum(frames[:, wide_cols], axis=0)])
    centre = index[:, 0] + min(WINDOW_FRAMES // 2, n // 2)
    lo = np.clip(centre - WIDE_FRAMES // 2, 0, n)
    hi = np.clip(centre + WIDE_FRAMES // 2, 0, n)
    wide = (sums[hi] - sums[lo]) / np.maximum(hi - lo, 1)[:, None]
    own = np.column_stack([stacked.mean(axis=1), stacked.max(axis=1), wide])
    windows = np.column_stack(
        [
            own[:, : -len(wide_cols)],
            np.repeat(context[None, :], count, axis=0),
            wide,
            own - median(own, axis=0)[None, :],
        ]
    )
    half = 0.5 * spec.window_s
    starts = spec.times_s[index[:, 0]] - half
    ends = spec.times_s[index[:, -1]] + half
    return windows, np.maximum(starts, 0.0), ends


def _record(
    frame_percentiles: FloatArray,
    band_db: FloatArray,
    band_median_db: FloatArray,
    level_db: FloatArray,
    level_median_db: float,
    spec: Spectrogram,
) -> FloatArray:
    """Recording summary: medians (except of `SELF_REFERENCED_FEATURES`) and spreads (90th - 10th
    percentile) of the frame features (`frame_percentiles`: their 10th, 50th and 90th),
    how much the spectral shape changes from frame to frame (breath, heart sounds and crackles
    change it; noise whose level is modulated does not), the spectral slope, the share of
    50-100 Hz and the periodicity of the level at 0.4-2 s lags (heart beats)."""
    p10, p50, p90 = frame_percentiles
    shape = band_db - band_db.mean(axis=0, keepdims=True)
    shape_variability = float(np.mean(np.std(shape - median(shape, axis=1)[:, None], axis=1)))
    centres = np.sqrt(np.array(BAND_EDGES_HZ[:-1]) * np.array(BAND_EDGES_HZ[1:]))
    octave = np.log2(centres)
    slope = float(np.polyfit(octave[1:], band_median_db[1:], 1)[0])
    low_share = float(band_median_db[0] - level_median_db)
    rate = 1.0 / spec.hop_s
    acf = autocorrelation(level_db, unbiased=False)
    lo, hi = round(0.4 * rate), min(round(2.0 * rate), len(acf) - 1)
    periodicity = float(acf[lo:hi].max()) if hi > lo else 0.0
    return np.concatenate(
        [p50[_MEDIAN_COLUMNS], p90 - p10, [shape_variability, slope, low_share, periodicity]]
    )
