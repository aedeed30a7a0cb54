"""Breathing envelope, respiratory rate and breath cycles.

Breath sounds are broadband noise at 150-1000 Hz, above most of the heart-sound energy. The
envelope is the band's power per spectrogram frame with tonal lines left out — a loud expiratory
wheeze would otherwise make expiration look like a second breath; what heart sounds and crackles
remain are short (< 150 ms) and are removed by a 350 ms running median, which keeps breath phases
(0.5-3 s). The breathing period is the highest peak of
the envelope's autocorrelation over 1-7.5 s (60-8 breaths/min); its biased form tapers long lags,
so neither a multiple of the period nor the inspiration/expiration half-cycle wins over the true
period, and a whole fraction of that lag with 80 % of its strength is preferred, so a multiple never
wins (cf. the envelope-autocorrelation rate estimates reviewed by Yadollahi & Moussavi 2006, IEEE
TBME 53(11)). Cycles start at the quietest point in the half period before each
breath's loudest point (inspiration).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage, signal

from stethoscope.arrays import FloatArray
from stethoscope.envelope import autocorrelation, smooth
from stethoscope.lung.wheeze import LINEAR_POWER_TOP_HZ, Spectrogram, TonalPeaks
from stethoscope.order_statistics import median, running_median

BREATH_BAND_HZ = (150.0, 1000.0)
assert BREATH_BAND_HZ[1] < LINEAR_POWER_TOP_HZ  # the spectrogram's linear rows hold the band
MEDIAN_WINDOW_S = 0.35
MIN_RATE_BPM = 8.0
MAX_RATE_BPM = 60.0
HARMONIC_RATIO = 0.8


@dataclass(frozen=True)
class BreathEnvelope:
    log_amplitude: FloatArray  # smoothed ln amplitude of the breath band
    frame_rate_hz: float


@dataclass(frozen=True)
class Breathing:
    period_s: float | None
    periodicity: float  # autocorrelation at the period (0..1)
    cycle_start_s: FloatArray
    cycle_end_s: FloatArray

    @property
    def rate_bpm(self) -> float | None:
        """Breaths per minute: from the autocorrelation period (it averages over every cycle),
        unless the cut cycles disagree with it by more than 15 %, in which case the breathing is
        irregular and the median cut cycle is the better summary."""
        lengths = self.cycle_end_s - self.cycle_start_s
        if self.period_s is None:
            rate = 60.0 / float(median(lengths)) if len(lengths) >= 2 else None
        elif len(lengths) >= 3 and abs(float(median(lengths)) / self.period_s - 1.0) > 0.15:
            rate = 60.0 / float(median(lengths))
        else:
            rate = 60.0 / self.period_s
        # the cut cycles can wander outside the range the period was searched in: no rate then
        if rate is None or not 0.9 * MIN_RATE_BPM <= rate <= 1.1 * MAX_RATE_BPM:
            return None
        return rate


def breath_envelope(spec: Spectrogram, tonal: TonalPeaks) -> BreathEnvelope:
    """Per spectrogram frame, the mean power of the breath band with its tonal lines (wheezes,
    heart-sound harmonics) replaced by the frame's median, as log amplitude; then a running median
    removes the short sounds left (heart sounds, crackles)."""
    freqs = spec.freqs_hz
    band = (freqs >= BREATH_BAND_HZ[0]) & (freqs <= min(BREATH_BAND_HZ[1], 0.95 * freqs[-1]))
    power = spec.linear_power[band[: len(spec.linear_power)]]  # a copy: changed below
    footprint = tonal.footprint[band]
    # most frames hold no tonal line: only those that do need their median
    tonal_frames = np.flatnonzero(footprint.any(axis=0))
    if len(tonal_frames):
        part = power[:, tonal_frames]
        typical = median(part, axis=0)[None, :]
        power[:, tonal_frames] = np.where(footprint[:, tonal_frames], typical, part)
    log_amplitude = 0.5 * np.log(power.mean(axis=0) + 1e-30)
    rate = 1.0 / spec.hop_s
    window = max(3, round(MEDIAN_WINDOW_S * rate) | 1)
    log_amplitude = ndimage.median_filter(log_amplitude, size=window, mode="nearest")
    return BreathEnvelope(smooth(log_amplitude, rate, 1.5), rate)


def find_breathing(envelope: BreathEnvelope) -> Breathing:
    """Breathing period and cycles from the breath envelope."""
    env, rate = envelope.log_amplitude, envelope.frame_rate_hz
    empty = np.zeros(0)
    detrended = env - running_median(env, max(3, round(8 * rate) | 1))
    acf = autocorrelation(detrended, unbiased=False)
    duration_s = len(env) / rate
    max_lag_s = min(1.1 * 60.0 / MIN_RATE_BPM, 0.5 * duration_s)
    peaks, _ = signal.find_peaks(acf[: int(max_lag_s * rate) + 1])
    peaks = peaks[peaks >= 0.9 * 60.0 / MAX_RATE_BPM * rate]  # a little slack at the edge
    if len(peaks) == 0 or acf[peaks].max() <= 0:
        return Breathing(None, 0.0, empty, empty)
    best = int(peaks[np.argmax(acf[peaks])])
    # a whole fraction of the best lag (T/2, T/3) with nearly its strength is the true period
    for divisor in (3, 2):
        near = peaks[np.abs(peaks - best / divisor) <= 0.1 * best / divisor]
        if len(near) and acf[near].max() >= HARMONIC_RATIO * acf[best]:
            best = int(near[np.argmax(acf[near])])
            break
    period_s = best / rate
    # the biased ACF at lag L is at most (1 - L/N): rescale so periodicity does not shrink with L
    periodicity = float(np.clip(acf[best] / max(1.0 - best / len(env), 1e-6), 0.0, 1.0))
    # Each breath's loudest point is inspiration; its cycle starts at the quietest point of the
    # half period before it (end of the previous expiration), on an envelope smoothed to the rate.
    slow = smooth(env, rate, min(1.5, 2.0 / period_s))
    loudest, _ = signal.find_peaks(slow, distance=max(1, int(0.6 * period_s * rate)))
    reach = max(1, int(0.5 * period_s * rate))
    onsets = np.array(
        [p - reach + int(np.argmin(slow[p - reach : p + 1])) for p in loudest if p >= reach],
        dtype=int,
    )
    starts, ends = onsets[:-1] / rate, onsets[1:] / rate
    plausible = (ends - starts >= 0.5 * period_s) & (ends - starts <= 1.8 * period_s)
    return Breathing(period_s, periodicity, starts[plausible], ends[plausible])
