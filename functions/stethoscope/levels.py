"""Level, clipping and validity of a recording at its own rate, measured block by block.

The analysis runs at a few kHz, but level and clipping must be read from the samples as recorded
(decimation smooths clipped plateaus away). `LevelMeter` takes the recording in blocks, so a long
high-rate file is measured without ever being held whole; fed one block it gives the same figures
as the whole-array definitions below.
"""

from __future__ import annotations

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
        """Measure the next block of samples (any float dtype, mono)."""
        x = np.asarray(block)
        if x.size == 0:
            return
        if not np.isfinite(x).all():
            self.finite = False
            return
        self.samples += x.size
        self._sum_squares += float(np.dot(x.astype(np.float64), x.astype(np.float64)))
        self._low = min(self._low, float(x.min()))
        self._high = max(self._high, float(x.max()))
        self._add_runs(x)

    def _add_runs(self, x: FloatArray) -> None:
        starts = np.concatenate([[0], np.flatnonzero(np.diff(x) != 0) + 1])
        lengths = np.diff(np.concatenate([starts, [x.size]]))
        values = x[starts].astype(np.float32)
        if self._run_value is not None and values[0] == self._run_value:
            lengths[0] += self._run_length  # the run goes on across the block boundary
        elif self._run_value is not None:
            self._close_run(self._run_value, self._run_length)
        closed = slice(0, len(starts) - 1)
        long_runs = lengths[closed] >= PLATEAU_SAMPLES
        self._record(values[closed][long_runs], lengths[closed][long_runs])
        self._run_value, self._run_length = float(values[-1]), int(lengths[-1])

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


def measure(x: FloatArray) -> LevelMeter:
    """A meter fed the whole array in one block."""
    meter = LevelMeter()
    meter.add(x)
    return meter
