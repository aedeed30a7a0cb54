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
        wide = x.astype(np.float64)
        self._sum_squares += float(np.dot(wide, wide))
        self._low = min(self._low, float(x.min()))
        self._high = max(self._high, float(x.max()))
        self._add_runs(x)

    def _add_runs(self, x: FloatArray) -> None:
        """Record the block's runs of equal samples that are plateaus; the last run stays open.

        Only runs of two or more samples are located (from where neighbours are equal): in audio
        they are few, so this costs a few passes over the block rather than an index per sample.
        """
        n = x.size
        same = np.concatenate([[False], x[1:] == x[:-1], [False]])
        # +1 where a run of 2+ starts, -1 at its last sample: they alternate, starting with +1
        edges = np.flatnonzero(np.diff(same.view(np.int8)))
        starts, ends = edges[0::2], edges[1::2] + 1  # first sample, one past the last
        lengths = ends - starts
        first_length = int(lengths[0]) if len(starts) and starts[0] == 0 else 1
        last_length = int(lengths[-1]) if len(ends) and ends[-1] == n else 1
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
        inner = (starts > 0) & (ends < n) & (lengths >= PLATEAU_SAMPLES)
        self._record(x[starts[inner]].astype(np.float32), lengths[inner].astype(np.int64))
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


def measure(x: FloatArray) -> LevelMeter:
    """A meter fed the whole array in one block."""
    meter = LevelMeter()
    meter.add(x)
    return meter
