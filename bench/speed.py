"""Speed and memory of the analysis on one core.

    python bench/speed.py

For heart and lung recordings of 10 s, 60 s and 600 s (simulated, 4 kHz, and 44.1 kHz for 30 s):
the real-time factor (seconds of audio analysed per CPU second, best of several runs, BLAS pinned
to one thread) and the peak memory the analysis allocates (tracemalloc, which numpy reports to),
so the growth with length is visible; then the heart analysis of 10 minutes at 48 kHz from the
analysis-rate signal on. Targets: >= 2000x for a 30 s heart recording at 4 kHz (>= 1000x over
the whole development set, short clips included: bench/eval_heart.py prints it), memory linear in
length, <= 256 MiB for 10 minutes at 48 kHz.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "functions"))

from stethoscope import analyze  # noqa: E402
from stethoscope.audio import resample  # noqa: E402
from stethoscope.heart.analysis import ANALYSIS_RATE_HZ as HEART_RATE_HZ  # noqa: E402
from stethoscope.heart.analysis import analyze_heart  # noqa: E402
from stethoscope.lung.analysis import ANALYSIS_RATE_HZ as LUNG_RATE_HZ  # noqa: E402
from stethoscope.simulate import simulate_heart, simulate_lung  # noqa: E402

CASES = [
    ("heart", 10.0, 4000.0),
    ("heart", 30.0, 4000.0),
    ("heart", 60.0, 4000.0),
    ("heart", 600.0, 4000.0),
    ("heart", 30.0, 44100.0),
    ("lung", 10.0, 4000.0),
    ("lung", 30.0, 4000.0),
    ("lung", 60.0, 4000.0),
    ("lung", 600.0, 4000.0),
]


def samples(kind: str, seconds: float, rate: float) -> np.ndarray:
    if kind == "heart":
        return simulate_heart(seconds, 84.0, rate, murmur="systolic", seed=1).samples.astype(
            np.float32
        )
    return simulate_lung(seconds, 18.0, rate, crackles_per_breath=2, seed=1).samples.astype(
        np.float32
    )


def main() -> None:
    print(
        f"{'kind':6s} {'length':>7s} {'rate':>7s} {'CPU ms':>8s} {'x real time':>12s} {'peak MB':>8s} {'MB/min':>7s}"
    )
    for kind, seconds, rate in CASES:
        x = samples(kind, seconds, rate)
        analyze(x, rate, kind)  # warm-up: imports, caches
        runs = 5 if seconds <= 60 else 2
        best = min(_cpu_seconds(x, rate, kind) for _ in range(runs))
        tracemalloc.start()
        analyze(x, rate, kind)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        peak_mb = peak / 2**20
        print(
            f"{kind:6s} {seconds:6.0f}s {rate / 1000:5.1f}k {best * 1000:8.1f} {seconds / best:12.0f}"
            f" {peak_mb:8.1f} {peak_mb / (seconds / 60):7.1f}"
        )
    heart_memory_from_analysis_rate()
    lung_memory_from_analysis_rate()


def heart_memory_from_analysis_rate(seconds: float = 600.0, rate: float = 48000.0) -> None:
    """Peak memory of the heart analysis of a long high-rate recording, from the analysis-rate
    signal on (decoding and resampling are measured separately: stethoscope.audio)."""
    x, analysis_rate = resample(samples("heart", seconds, rate), rate, HEART_RATE_HZ)
    x64 = np.asarray(x, dtype=np.float64)
    tracemalloc.start()
    start = time.process_time()
    analyze_heart(x64, analysis_rate)
    cpu = time.process_time() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"heart {seconds:6.0f}s at {rate / 1000:.0f}k, from the {analysis_rate:.0f} Hz signal on: "
        f"peak {peak / 2**20:.1f} MiB (target <= 256), {seconds / cpu:.0f}x real time"
    )


def lung_memory_from_analysis_rate(seconds: float = 600.0, rate: float = 48000.0) -> None:
    """Issue 13's memory target: 10 min at 48 kHz within 256 MiB peak, counted from the
    analysis-rate signal on (decoding and resampling to it are measured apart, DESIGN)."""
    x = samples("lung", seconds, rate)
    low, low_rate = resample(x, rate, LUNG_RATE_HZ)
    tracemalloc.start()
    start = time.process_time()
    analyze(low, low_rate, "lung")
    cpu = time.process_time() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"lung {seconds:.0f} s at {rate / 1000:.0f} kHz, from the {low_rate:.0f} Hz signal on:"
        f" peak {peak / 2**20:.0f} MiB (target <= 256 MiB), {seconds / cpu:.0f}x real time"
    )


def _cpu_seconds(x: np.ndarray, rate: float, kind: str) -> float:
    start = time.process_time()
    analyze(x, rate, kind)  # type: ignore[arg-type]
    return time.process_time() - start


if __name__ == "__main__":
    main()
