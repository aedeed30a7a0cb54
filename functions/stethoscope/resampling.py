"""Bring a recording to the rate an analysis runs at, block by block, in bounded memory.

`BlockResampler` computes exactly what `scipy.signal.resample_poly` computes for the whole signal
(the same Kaiser-windowed FIR, the same zero padding at both ends, the same output length), but it
takes the input in blocks and keeps only the filter's history between them. A 10-minute recording
at 384 kHz is never held at its own rate: only one decoded block and the output at the analysis
rate are in memory.
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from functools import lru_cache

import numpy as np
from scipy import signal

from stethoscope.arrays import FloatArray

#: Largest denominator of the rate ratio (e.g. 44.1 kHz -> 2 kHz is 20/441).
MAX_RATIO_DENOMINATOR = 1000
#: Samples handed to the filter at a time when resampling an array held in memory.
BLOCK_SAMPLES = 1 << 16


def rate_ratio(rate_hz: float, target_hz: float) -> Fraction:
    """The up/down factors that bring `rate_hz` to about `target_hz` (1 when not downsampling)."""
    if rate_hz <= target_hz:
        return Fraction(1)
    return Fraction(target_hz / rate_hz).limit_denominator(MAX_RATIO_DENOMINATOR)


class BlockResampler:
    """Polyphase FIR resampling by `up/down`, fed block by block; output identical to
    `resample_poly(x, up, down)` (window ('kaiser', 5.0), zero padding)."""

    def __init__(self, up: int, down: int) -> None:
        self.up, self.down = up, down
        self._h, self._skip = _padded_filter(up, down)
        self._buffer = np.zeros(0, dtype=np.float32)
        self._start = 0  # global index of _buffer[0]; always a multiple of `down`
        self._next = 0  # next global upfirdn output to emit
        self._n_in = 0

    def push(self, block: FloatArray) -> FloatArray:
        """Feed the next input samples; returns the output samples they complete."""
        self._buffer = np.concatenate([self._buffer, np.asarray(block, dtype=np.float32)])
        self._n_in += len(block)
        end = self._start + len(self._buffer)
        last = (end * self.up - 1) // self.down  # last output whose inputs have all arrived
        return self._emit(last + 1)

    def finish(self) -> FloatArray:
        """The remaining outputs (the input is over; zeros follow, as in resample_poly)."""
        n_out = -(-self._n_in * self.up // self.down)
        return self._emit(self._skip + n_out)

    def _emit(self, stop: int) -> FloatArray:
        if stop <= self._next or len(self._buffer) == 0:
            return np.zeros(0, dtype=np.float32)
        y = signal.upfirdn(self._h, self._buffer, self.up, self.down)
        offset = self._start * self.up // self.down
        first = max(self._next, self._skip)
        out: FloatArray = np.asarray(y[first - offset : stop - offset], dtype=np.float32)
        self._next = stop
        # keep only the inputs that outputs from `stop` on still need
        oldest = (stop * self.down - len(self._h)) // self.up + 1
        keep_from = max(self._start, (max(oldest, 0) // self.down) * self.down)
        self._buffer = self._buffer[keep_from - self._start :]
        self._start = keep_from
        return out


@lru_cache(maxsize=16)
def _padded_filter(up: int, down: int) -> tuple[FloatArray, int]:
    """The anti-aliasing filter of `resample_poly(x, up, down)`, padded for `upfirdn`, and how many
    leading outputs are its delay. Cached (read-only): a few rate pairs serve every recording,
    and the Kaiser design of a 44.1 kHz filter (8821 taps) is not free."""
    max_rate = max(up, down)
    half_len = 10 * max_rate  # scipy's choice for resample_poly
    taps = signal.firwin(2 * half_len + 1, 1.0 / max_rate, window=("kaiser", 5.0)) * up
    pre_pad = down - half_len % down
    # generous zero tail: outputs past the input's end see zeros, as in resample_poly
    h = np.concatenate([np.zeros(pre_pad), taps, np.zeros(down)]).astype(np.float32)
    h.flags.writeable = False
    return h, (half_len + pre_pad) // down  # leading outputs that are filter delay


def resample_blocks(
    blocks: Iterable[FloatArray], rate_hz: float, target_hz: float
) -> tuple[FloatArray, float]:
    """Resample a stream of blocks to about `target_hz` (never up); returns samples and rate."""
    ratio = rate_ratio(rate_hz, target_hz)
    if ratio == 1:
        parts = [np.asarray(b, dtype=np.float32) for b in blocks]
        return np.concatenate(parts) if parts else np.zeros(0, np.float32), rate_hz
    resampler = BlockResampler(ratio.numerator, ratio.denominator)
    parts = [resampler.push(b) for b in blocks]
    parts.append(resampler.finish())
    return np.concatenate(parts), rate_hz * ratio.numerator / ratio.denominator


def resample(x: FloatArray, rate_hz: float, target_hz: float) -> tuple[FloatArray, float]:
    """Resample an array to about `target_hz` (anti-aliased; never upsamples), block by block."""
    if rate_ratio(rate_hz, target_hz) == 1:
        return x, rate_hz
    blocks = (x[i : i + BLOCK_SAMPLES] for i in range(0, len(x), BLOCK_SAMPLES))
    return resample_blocks(blocks, rate_hz, target_hz)
