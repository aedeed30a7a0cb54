"""Level, clipping and validity of a recording at its own rate, measured block by block.

The analysis runs at a few kHz, but level and clipping must be read from the samples as recorded
(decimation smooths clipped plateaus away). `LevelMeter` takes the recording in blocks, so a long
high-rate file is measured without ever being held whole; fed one block it gives the same figures
as the whole-array definitions below.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from stethoscope.arrays import FloatArray

#: A sample counts as clipped when it lies on a flat run of at least this many equal samples...
PLATEAU_SAMPLES = 3
#: ...at or above this share of the recording's peak (normalised recordings touch full scale
#: without being clipped, so the test is flat tops, not the peak value).
NEAR_PEAK = 0.9


class LevelMeter:
    """Accumulates RMS level, clipping, finiteness and range over consecutive blocks."""

    def __init__(self) -> None:
        self.samples = 0
        self._sum_squares = 0.0
        self._low = np.inf
        self._high = -np.inf
        self.finite = True
        # the open run of equal samples at the end of the last block
        self._run_value: float | None = None
        self._run_length = 0
        # plateau samples that may be near the final peak: |value| -> count
        self._plateau_values = np.zeros(0, dtype=np.float32)
        self._plateau_counts = np.zeros(0, dtype=np.int64)

    def add(self, block: FloatArray) -> None:
        """Measure the next block of mono float32 samples (as decoded)."""
        x = np.asarray(block)
        if x.size == 0:
            return
        wide = x.astype(np.float64)
        sum_squares = float(np.dot(wide, wide))
        # finite float32 samples cannot overflow a float64 sum of squares (their squares are
        # below 1.2e77), so a non-finite sum means a NaN or infinite sample: no pass of its own
        if not math.isfinite(sum_squares):
            self.finite = False
            return
        self.samples += x.size
        self._sum_squares += sum_squares
        self._low = min(self._low, float(x.min()))
        self._high = max(self._high, float(x.max()))
        self._add_runs(x)

    def _add_runs(self, x: FloatArray) -> None:
        """Record the block's runs of equal samples that are plateaus; the last run stays open.

        Only samples at or above `NEAR_PEAK` of the peak so far (this block included) are looked
        at inside the block: the peak only rises, so a run below that floor can never count, and
        at a recording's own level (quiet 16-bit audio repeats values often) the others are few.
        """
        n = x.size
        first_length = _leading_run(x)
        last_length = n if first_length == n else _leading_run(x[::-1])
        first_value, last_value = float(np.float32(x[0])), float(np.float32(x[-1]))
        carried = 0
        if self._run_value is not None and first_value == self._run_value:
            carried = self._run_length  # the run goes on across the block boundary
        elif self._run_value is not None:
            self._close_run(self._run_value, self._run_length)
        if first_length == n:  # the whole block is one run, still open
            self._run_value, self._run_length = last_value, carried + n
            return
        self._close_run(first_value, carried + first_length)
        inner = x[first_length : n - last_length]
        # a hair below the floor: `_record` applies it exactly to the float32 values
        near = np.flatnonzero(np.abs(inner) >= NEAR_PEAK * self.peak * (1.0 - 1e-6))
        if len(near) >= PLATEAU_SAMPLES:
            values = inner[near]
            starts = np.flatnonzero(
                np.concatenate([[True], (np.diff(near) != 1) | (values[1:] != values[:-1])])
            )
            lengths = np.diff(np.append(starts, len(near)))
            plateau = lengths >= PLATEAU_SAMPLES
            self._record(values[starts[plateau]].astype(np.float32), lengths[plateau])
        self._run_value, self._run_length = last_value, last_length

    def _close_run(self, value: float, length: int) -> None:
        if length >= PLATEAU_SAMPLES:
            self._record(np.array([value], np.float32), np.array([length]))

    def _record(self, values: FloatArray, counts: npt.NDArray[np.int64]) -> None:
        if values.size == 0:
            return
        floor = NEAR_PEAK * self.peak
        magnitude = np.abs(values)
        keep = magnitude >= floor
        merged_values = np.concatenate([self._plateau_values, magnitude[keep]])
        merged_counts = np.concatenate([self._plateau_counts, counts[keep]])
        unique, inverse = np.unique(merged_values, return_inverse=True)
        totals = np.bincount(inverse, weights=merged_counts).astype(np.int64)
        still = unique >= floor  # the peak may have risen since they were kept
        self._plateau_values, self._plateau_counts = unique[still], totals[still]

    @property
    def peak(self) -> float:
        """Largest absolute sample value so far."""
        if self.samples == 0:
            return 0.0
        return max(abs(self._low), abs(self._high))

    @property
    def span(self) -> float:
        """Largest minus smallest sample (0 for digital silence)."""
        return 0.0 if self.samples == 0 else self._high - self._low

    @property
    def level_dbfs(self) -> float:
        """RMS level in dB relative to full scale (1.0)."""
        rms = np.sqrt(self._sum_squares / self.samples) if self.samples else 0.0
        return 20.0 * float(np.log10(max(rms, 1e-12)))

    @property
    def clipping_fraction(self) -> float:
        """Share of samples on flat runs (3+ equal samples) near the recording's peak."""
        if self.samples < PLATEAU_SAMPLES or self.peak == 0.0:
            return 0.0
        counts = self._plateau_counts.copy()
        values = self._plateau_values
        if self._run_value is not None and self._run_length >= PLATEAU_SAMPLES:
            values = np.append(values, abs(self._run_value))
            counts = np.append(counts, self._run_length)
        near = values >= NEAR_PEAK * self.peak
        return float(counts[near].sum()) / self.samples


def _leading_run(x: FloatArray) -> int:
    """How many samples from the start equal the first (one compare when the second differs)."""
    if len(x) == 1 or x[1] != x[0]:
        return 1
    differs = np.flatnonzero(x != x[0])
    return int(differs[0]) if len(differs) else len(x)


def measure(x: FloatArray) -> LevelMeter:
    """A meter fed the whole array in one block."""
    meter = LevelMeter()
    meter.add(x)
    return meter
