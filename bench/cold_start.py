"""Cold-start import time of functions/main.py, in fresh interpreters.

    python bench/cold_start.py [--runs 7]

Every deployed function imports all of main.py when its instance starts, so this is paid by every
cold start of every function. Target: under 1 s. Also prints what the first analysis adds (numpy,
scipy, soundfile are imported lazily) and what the API's first request adds (FastAPI).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

FUNCTIONS = Path(__file__).resolve().parent.parent / "functions"
SNIPPETS = {
    "import main": "import main",
    "+ analysis stack (first recording)": "import main; import stethoscope.analysis",
    "+ API app (first request)": "import main; main._api_wsgi()",
}


def timed(statement: str) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    env = {k: v for k, v in os.environ.items() if not k.endswith("_EMULATOR_HOST")}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=FUNCTIONS,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    for label, statement in SNIPPETS.items():
        times = [timed(statement) for _ in range(args.runs)]
        print(
            f"{label:36s} median {statistics.median(times) * 1000:6.0f} ms"
            f"   min {min(times) * 1000:6.0f} ms"
        )


if __name__ == "__main__":
    main()
