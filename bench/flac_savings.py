"""Bytes a clinic's uplink saves with FLAC: every development recording as the uploader would
send it, 16-bit WAV vs 16-bit FLAC (lossless), at its own rate and channel count.

    python bench/flac_savings.py [--data ../shared/data]

Prints the totals and the saving per folder and overall (issue 15's target: >= 35 %).
"""

from __future__ import annotations

import argparse
import io
from collections import defaultdict
from pathlib import Path

import soundfile as sf

REPO = Path(__file__).resolve().parent.parent


def encoded_sizes(path: Path) -> tuple[int, int]:
    """(WAV bytes, FLAC bytes) of the recording as 16-bit PCM."""
    samples, rate = sf.read(path, dtype="float32", always_2d=True)
    sizes = []
    for container in ("WAV", "FLAC"):
        buffer = io.BytesIO()
        sf.write(buffer, samples, rate, format=container, subtype="PCM_16")
        sizes.append(len(buffer.getvalue()))
    return sizes[0], sizes[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    args = parser.parse_args()
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for path in sorted(args.data.rglob("*")):
        if path.suffix.lower() not in (".wav", ".flac"):
            continue
        wav, flac = encoded_sizes(path)
        folder = str(path.parent.relative_to(args.data))
        totals[folder][0] += 1
        totals[folder][1] += wav
        totals[folder][2] += flac
    print(f"{'folder':32s} {'files':>6s} {'WAV MB':>9s} {'FLAC MB':>9s} {'saved':>6s}")
    all_wav = all_flac = files = 0
    for folder, (count, wav, flac) in sorted(totals.items()):
        print(f"{folder:32s} {count:6d} {wav / 1e6:9.1f} {flac / 1e6:9.1f} {1 - flac / wav:6.1%}")
        files, all_wav, all_flac = files + count, all_wav + wav, all_flac + flac
    print(
        f"{'all':32s} {files:6d} {all_wav / 1e6:9.1f} {all_flac / 1e6:9.1f} "
        f"{1 - all_flac / all_wav:6.1%}"
    )


if __name__ == "__main__":
    main()
