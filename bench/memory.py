"""Peak memory of the largest recordings the pipeline accepts: decode + analysis of a file.

    python bench/memory.py

Writes 10-minute WAV files (48 kHz 16-bit, 192 kHz 16-bit, 384 kHz 8-bit) to a temporary folder
and analyses each as heart and as lung in a fresh process, as the function does (`analyze_file`:
decoded block by block straight to the analysis rate). Prints the peak the analysis allocates
(tracemalloc, which numpy reports to) and the process's peak resident set (`ru_maxrss`, including
the interpreter and imported libraries, measured before the analysis as "base"). Targets (issues
12-14): analysis of 10 min at 48 kHz <= 256 MiB; any accepted recording < 512 MiB in the worker.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CASES = [(48_000, "PCM_16"), (192_000, "PCM_16"), (384_000, "PCM_U8")]
SECONDS = 600.0

_MEASURE = """
import resource, sys, time, tracemalloc
sys.path.insert(0, {functions!r})
from stethoscope.analysis import analyze_file
import stethoscope.heart.analysis, stethoscope.lung.analysis  # imports count in base
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
tracemalloc.start()
cpu = time.process_time()
result = analyze_file({path!r}, {kind!r})
cpu = time.process_time() - cpu
_, peak = tracemalloc.get_traced_memory()
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{{peak / 2**20:.0f}} {{rss:.0f}} {{base:.0f}} {{cpu:.1f}}")
"""


def _write(path: Path, rate: int, subtype: str) -> None:
    """A simulated heart recording brought to `rate` in pieces (the writer stays small)."""
    sys.path.insert(0, str(REPO / "functions"))
    import numpy as np
    import soundfile as sf
    from scipy import signal

    from stethoscope.simulate import simulate_heart

    x = simulate_heart(SECONDS, 84.0, 4000.0, murmur="systolic", seed=1).samples
    up = rate // 4000
    with sf.SoundFile(path, "w", rate, 1, subtype) as out:
        for i in range(0, len(x), 40_000):
            out.write((0.5 * signal.resample_poly(x[i : i + 40_000], up, 1)).astype(np.float32))


def main() -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    print(
        f"{'file':>22s} {'kind':5s} {'analysis peak MiB':>18s} {'process peak MiB':>17s} "
        f"{'base MiB':>9s} {'CPU s':>6s}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for rate, subtype in CASES:
            path = Path(tmp) / f"heart_{rate}.wav"
            _write(path, rate, subtype)
            for kind in ("heart", "lung"):
                code = _MEASURE.format(functions=str(REPO / "functions"), path=str(path), kind=kind)
                out = subprocess.run(
                    [sys.executable, "-c", code],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout.split()
                peak, rss, base, cpu = out
                label = f"600 s {rate / 1000:g}k {subtype}"
                print(f"{label:>22s} {kind:5s} {peak:>18s} {rss:>17s} {base:>9s} {cpu:>6s}")
            path.unlink()


if __name__ == "__main__":
    main()
