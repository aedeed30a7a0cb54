"""Structured logs: one JSON object per line on stdout, which Cloud Logging parses into fields.

`severity` and `message` are the keys Cloud Logging recognises; everything else (recordingId,
generation, step, ...) becomes filterable `jsonPayload` fields.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Literal

Severity = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


def log(
    step: str,
    *,
    severity: Severity = "INFO",
    message: str | None = None,
    context: Mapping[str, object] | None = None,
    **fields: object,
) -> None:
    """Write one structured log line for a pipeline or API step; `context` holds the fields
    every line of a run repeats (recording id, generation)."""
    entry = {
        "severity": severity,
        "message": message or step,
        "step": step,
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        **dict(context or {}),
        **{k: v for k, v in fields.items() if v is not None},
    }
    sys.stdout.write(json.dumps(entry, default=str) + "\n")
    sys.stdout.flush()
