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
        offset = self._start * self.up // self.down
        first = max(self._next, self._skip)
        out: FloatArray
        if self.up == 1 and first >= offset:
            out = _decimate(self._h, self._buffer, self.down, first - offset, stop - offset)
        else:
            y = signal.upfirdn(self._h, self._buffer, self.up, self.down)
            out = np.asarray(y[first - offset : stop - offset], dtype=np.float32)
        self._next = stop
        # keep only the inputs that outputs from `stop` on still need
        oldest = (stop * self.down - len(self._h)) // self.up + 1
        keep_from = max(self._start, (max(oldest, 0) // self.down) * self.down)
        self._buffer = self._buffer[keep_from - self._start :]
        self._start = keep_from
        return out


def _decimate(h: FloatArray, x: FloatArray, down: int, lo: int, hi: int) -> FloatArray:
    """`scipy.signal.upfirdn(h, x, 1, down)[lo:hi]` bit for bit, in half the time for the
    short filters of whole-number rate ratios (4 -> 2 kHz: 41 taps).

    `upfirdn` sums each output in a scalar loop, tap after tap in float32; here every tap is
    one vectorised multiply-add over all the outputs, in the same order and float32 rounding
    (inputs are read from a polyphase copy, so each tap's inputs are contiguous). Zero taps and
    the zeros outside `x` add +-0.0 to a sum that is never -0.0, which changes nothing, so they
    are skipped or padded.
    """
    taps = len(h)
    hi = min(hi, -(-(len(x) + taps - 1) // down))  # upfirdn's output length
    n_out = max(0, hi - lo)
    total = np.zeros(n_out, dtype=np.float32)
    if n_out == 0:
        return total
    # output n sums x[n * down - taps + 1 + i] * h[taps - 1 - i] over i = 0 .. taps - 1
    first = lo * down - taps + 1  # the input index of term 0 of output `lo`
    end = (hi - 1) * down + 1  # one past the last input index used
    window = np.zeros(end - first + down, dtype=np.float32)  # window[k] = x[first + k]
    inside = x[max(first, 0) : end]
    window[max(0, -first) : max(0, -first) + len(inside)] = inside
    rows = len(window) // down
    # phases[p, r] = window[r * down + p]: each tap reads one contiguous run of a row
    phases = window[: rows * down].reshape(rows, down).T.copy()
    term = np.empty(n_out, dtype=np.float32)
    for i, coefficient in enumerate(h[::-1].tolist()):
        if coefficient == 0.0:
            continue
        row, phase = divmod(i, down)
        np.multiply(phases[phase, row : row + n_out], np.float32(coefficient), out=term)
        np.add(total, term, out=total)
    return total


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
