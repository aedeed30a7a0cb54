"""Command line: `python -m stethoscope analyze FILE [--kind heart|lung] [--json] [--plot OUT.png]`.

Exit codes: 0 analysed, 2 the file cannot be analysed (the error code is printed), 1 usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from stethoscope.errors import AnalysisInputError

EXIT_INPUT_ERROR = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stethoscope", description="Heart and lung sound analysis"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    analyze = commands.add_parser("analyze", help="analyse a WAV recording")
    analyze.add_argument("file", type=Path)
    analyze.add_argument("--kind", choices=("heart", "lung"), default="heart")
    analyze.add_argument("--json", action="store_true", help="print the full result as JSON")
    analyze.add_argument(
        "--plot", type=Path, metavar="OUT", help="write a report figure (.png or .pdf)"
    )
    args = parser.parse_args(argv)

    from stethoscope.analysis import analyze_file_detailed

    try:
        detailed = analyze_file_detailed(args.file, args.kind)
    except AnalysisInputError as exc:
        print(f"cannot analyse {args.file}: [{exc.code}] {exc.message}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except OSError as exc:
        print(f"cannot read {args.file}: {exc}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    result = detailed.result
    if args.json:
        print(json.dumps(result.model_dump(mode="json"), indent=2))
    else:
        from stethoscope.report import summary_rows

        print(f"{args.file}: {result.kind} recording, analysis {result.version}")
        width = max(len(label) for label, _ in summary_rows(result))
        for label, value in summary_rows(result):
            print(f"  {label:<{width}}  {value}")
    if args.plot:
        from stethoscope.report import ReportFormat, render_report

        fmt: ReportFormat = "pdf" if args.plot.suffix.lower() == ".pdf" else "png"
        args.plot.write_bytes(render_report(detailed, fmt, title=args.file.name))
        print(f"figure written to {args.plot}", file=sys.stderr if args.json else sys.stdout)
    return 0
