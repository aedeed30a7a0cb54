"""What the heart analysis measured about itself: the inputs of the learned quality gate and of
the heart-rate confidence (`heart_model.json`, fitted by `training/train_heart.py`).

A heart recording the analysis can interpret has short, impulsive, low-pitched sounds (S1 and S2
last 50-150 ms and carry their energy below ~150 Hz) that repeat with the cycle, a decoded path
that explains the strong sound peaks and most of the recording, and rate estimates that agree:
the decoded S1-to-S1 intervals, the envelope autocorrelation, and the alternative cycle
hypotheses. Noise amplitude-modulated at heart or breathing rates is periodic but broadband and
its "sounds" are evenly spaced at any rate (a heart's systole is about a third of the cycle at
rest and nears half only at fast rates; Weissler et al. 1968, Circulation 37(2)); breath sounds
are broadband; speech is tonal and irregular. The numbers are
plain measurements; how they combine is learned.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import signal

from stethoscope.arrays import FloatArray
from stethoscope.envelope import autocorrelation
from stethoscope.order_statistics import median

EVIDENCE_NAMES = (
    "periodicity",  # autocorrelation of the envelope at the cycle (0..1)
    "snr_db",  # sound peaks against mid-diastole, dB (0 when unknown)
    "coverage",  # share of the recording covered by consecutive decoded beats
    "explained_share",  # share of strong sound peaks on the decoded path
    "rr_spread",  # median absolute deviation of S1-S1 intervals / their median
    "rate_disagreement",  # |ln(decoded rate / autocorrelation rate)|
    "hypothesis_margin",  # path score lead of the chosen cycle hypothesis, per sound
    "hypothesis_rate_ratio",  # |ln(rate of the runner-up hypothesis / chosen rate)|
    "acf_half",  # envelope autocorrelation at half the decoded cycle, relative to the cycle
    "acf_third",  # ... at a third of the cycle
    "low_band_share",  # share of 25-800 Hz power below 150 Hz
    "spectral_flatness",  # ln(geometric / arithmetic mean) of the 25-800 Hz spectrum
    "sound_width_s",  # median half-amplitude width of the decoded sounds
    "peakiness",  # 95th percentile minus median of the relative envelope (ln units)
    "s1_s2_likeness_gap",  # mean S1-likeness of the S1 sounds minus that of the S2 sounds
    "rate_bpm_per_100",  # the decoded heart rate / 100
    "log_duration_s",
    "log_beats",
    "harmonicity",  # median cepstral peak at 80-400 Hz pitch (voiced speech; heart sounds lack it)
    "systole_share",  # median S1-S2 interval / median S1-S1 interval (~1/3 at rest, 1/2 fast)
    "voicing",  # median autocorrelation at an 80-400 Hz pitch above 200 Hz (voiced speech)
)
#: The heart-rate confidence reads these as well (the quality gate reads `EVIDENCE_NAMES` only):
#: cues that the decoded cycle is 1.5x or 2x too short (issue 12: 2x/3x rate errors).
RATE_EXTRA_NAMES = (
    "acf_three_halves",  # envelope autocorrelation at 1.5 decoded cycles, relative to 1 cycle
    "acf_double",  # ... at 2 cycles (both NaN when the recording is too short to tell)
)
RATE_EVIDENCE_NAMES = EVIDENCE_NAMES + RATE_EXTRA_NAMES
#: What the heart-rate confidence model reads: the gate's evidence less `voicing`, which says
#: whether a voice is heard, not whether the decoded rate is right (with it the refitted
#: confidence gave two 2x/1.5x rate errors of 608 a confidence above 0.5).
RATE_CONFIDENCE_NAMES = tuple(n for n in EVIDENCE_NAMES if n != "voicing")


@dataclass(frozen=True)
class RateHypothesis:
    rate_bpm: float
    score: float


def spectrum_features(x: FloatArray, fs_hz: float) -> tuple[float, float]:
    """Share of the 25-800 Hz power below 150 Hz, and its spectral flatness (ln units).

    Welch's average of Hann-windowed, mean-removed 128 ms frames overlapping by half (the same as
    `scipy.signal.welch`'s defaults up to a constant scale, vectorised: `welch` detrends frame by
    frame in Python, which cost half of the whole analysis).
    """
    n = min(len(x), max(64, round(0.128 * fs_hz)))
    frames = np.lib.stride_tricks.sliding_window_view(x, n)[:: max(1, n // 2)]
    frames = (frames - frames.mean(axis=1, keepdims=True)) * signal.get_window("hann", n)
    spectrum = np.fft.rfft(frames, axis=1)
    power = (spectrum.real**2 + spectrum.imag**2).mean(axis=0)
    freqs = np.fft.rfftfreq(n, 1.0 / fs_hz)
    band = (freqs >= 25.0) & (freqs < min(800.0, 0.45 * fs_hz))
    p = power[band] + 1e-20
    low = float(p[freqs[band] < 150.0].sum())
    share = low / float(p.sum())
    flatness = float(np.mean(np.log(p)) - np.log(np.mean(p)))
    return share, flatness


def harmonicity(x: FloatArray, fs_hz: float) -> float:
    """Median over the louder half of 64 ms frames of the real-cepstrum peak at quefrencies
    2.5-12.5 ms (a voice's pitch, 80-400 Hz), in units of the cepstrum's spread there: voiced
    sound has a harmonic comb, heart sounds and noise do not (Noll 1967, JASA 41(2))."""
    n = max(32, round(0.064 * fs_hz))
    if len(x) < 2 * n:
        return 0.0
    frames = x[: len(x) // n * n].reshape(-1, n)
    energy = np.einsum("ij,ij->i", frames, frames)
    loud = frames[energy >= median(energy)] * np.hanning(n)
    log_spectrum = np.log(np.abs(np.fft.rfft(loud, axis=1)) + 1e-9)
    cepstrum = np.fft.irfft(log_spectrum, n, axis=1)
    lo, hi = max(2, round(0.0025 * fs_hz)), min(n // 2, round(0.0125 * fs_hz))
    band = cepstrum[:, lo:hi]
    peak = (band.max(axis=1) - band.mean(axis=1)) / (band.std(axis=1) + 1e-12)
    return float(median(peak))


#: Voicing is judged above this: heart sounds put little energy there, a voice's formants most.
VOICING_HIGHPASS_HZ = 200.0
#: The pitch periods looked for, as for `harmonicity` (a voice's pitch, 80-400 Hz).
PITCH_PERIOD_S = (0.0025, 0.0125)


def voicing(x: FloatArray, fs_hz: float) -> float:
    """Median over the louder half of 64 ms frames of the normalised autocorrelation's peak at
    pitch periods of 2.5-12.5 ms, of the frame's content above `VOICING_HIGHPASS_HZ`: a voiced
    sound repeats its glottal pulse, so its formants do too (0.5-0.8 for synthetic speech); noise,
    rubbing and heart sounds do not (median 0.28 over the dev heart recordings). The high-pass is
    a zero-phase Butterworth's response applied to the frame's power spectrum, so one FFT per
    frame does it all (filtering the whole recording first cost 8 % of the heart analysis).
    Added in analysis 1.3.4: a high-pitched voice (f0 200-250 Hz, little below 150 Hz) passed the
    gate in 10 of 90 fresh speech-like takes; `harmonicity`'s 64 ms cepstrum at 2 kHz sees only a
    few harmonics."""
    n = max(32, round(0.064 * fs_hz))
    lo, hi = max(1, round(PITCH_PERIOD_S[0] * fs_hz)), min(n - 1, round(PITCH_PERIOD_S[1] * fs_hz))
    if len(x) < 2 * n or 0.45 * fs_hz <= VOICING_HIGHPASS_HZ or hi <= lo:
        return 0.0
    frames = np.asarray(x[: len(x) // n * n], dtype=np.float64).reshape(-1, n)
    spectrum = np.fft.rfft(frames, 2 * n, axis=1)  # zero-padded: linear, not circular, lags
    power = (spectrum.real**2 + spectrum.imag**2) * _highpass_power(2 * n, fs_hz)
    energy = power.sum(axis=1)
    acf = np.fft.irfft(power[energy >= median(energy)], 2 * n, axis=1)[:, :n]
    peak = acf[:, lo : hi + 1].max(axis=1) / np.maximum(acf[:, 0], 1e-20)
    return float(median(peak))


@lru_cache(maxsize=8)
def _highpass_power(n_fft: int, fs_hz: float) -> FloatArray:
    """Power response, per rfft bin, of an order-4 Butterworth high-pass at
    `VOICING_HIGHPASS_HZ` run forwards and backwards (|H|^4: what a zero-phase filter does)."""
    f = np.fft.rfftfreq(n_fft, 1.0 / fs_hz)
    with np.errstate(divide="ignore"):
        response: FloatArray = 1.0 / (1.0 + (VOICING_HIGHPASS_HZ / f) ** 8) ** 2
    response.flags.writeable = False
    return response


def relative_acf(
    relative_envelope: FloatArray,
    frame_rate_hz: float,
    period_s: float,
    fractions: tuple[float, ...] = (0.5, 1.0 / 3.0),
) -> FloatArray:
    """Autocorrelation of the envelope's excursions at `fractions` (default 1/2 and 1/3) of
    `period_s`, each relative to the value at `period_s` (a true period repeats better than its
    fractions, unless S1 and S2 are alike and evenly spaced; a multiple of a period repeats as
    well as the period). NaN (not judged) for a multiple of the cycle longer than half the
    recording."""
    excursions = np.clip(relative_envelope, 0.0, None)
    if len(excursions) < 8 or not np.any(excursions > 0):
        return np.zeros(len(fractions))
    acf = autocorrelation(excursions)
    lag = round(period_s * frame_rate_hz)
    if lag >= len(acf) or lag < 3:
        return np.zeros(len(fractions))
    at_period = max(float(acf[lag - 1 : lag + 2].max()), 1e-3)

    def around(fraction: float) -> float:
        centre = round(lag * fraction)
        if fraction > 1.0 and centre + 1 > len(acf) // 2:
            return float("nan")  # a multiple of the cycle needs the recording to hold it twice
        return float(acf[max(1, centre - 1) : centre + 2].max())

    return (np.array([around(f) for f in fractions]) / at_period).clip(-3.0, 3.0)
