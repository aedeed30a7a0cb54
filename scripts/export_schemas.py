"""Write the JSON Schemas of the Firestore documents, the analysis result and the API answers the
web app reads, for the frontend.

    python -m scripts.export_schemas [--check]

The Pydantic models are the single source of truth; docs/schemas/*.json is generated from them
(camelCase, as stored). `--check` fails if the committed files are out of date (run by the tests).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pydantic import BaseModel

from backend.api.schemas import ExamLinks, Me, MediaLinks
from backend.documents import (
    Analysis,
    AuditEntry,
    Clinic,
    Exam,
    Invitation,
    Member,
    Patient,
    Recording,
    RecordingTrace,
)
from scripts.emulators import REPO_ROOT
from stethoscope.result import AnalysisResult

OUT = REPO_ROOT / "docs/schemas"
MODELS: dict[str, type[BaseModel]] = {
    "clinic": Clinic,
    "member": Member,
    "patient": Patient,
    "recording": Recording,
    "analysis": Analysis,
    "audit-entry": AuditEntry,
    "exam": Exam,
    "invitation": Invitation,
    "analysis-result": AnalysisResult,
    # API answers the web app reads (GET /v1/me, …/trace, …/links)
    "me": Me,
    "recording-trace": RecordingTrace,
    "media-links": MediaLinks,
    "exam-links": ExamLinks,
}


def rendered() -> dict[Path, str]:
    return {
        OUT / f"{name}.schema.json": json.dumps(model.model_json_schema(by_alias=True), indent=2)
        + "\n"
        for name, model in MODELS.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    stale = [
        path for path, text in rendered().items() if not path.exists() or path.read_text() != text
    ]
    if args.check:
        for path in stale:
            print(
                f"out of date: {path.relative_to(REPO_ROOT)} (run python -m scripts.export_schemas)"
            )
        return 1 if stale else 0
    OUT.mkdir(parents=True, exist_ok=True)
    for path, text in rendered().items():
        path.write_text(text)
        print(f"wrote {path.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
