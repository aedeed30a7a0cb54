"""The frontend's schemas (docs/schemas) are generated from the Pydantic models and up to date."""

from __future__ import annotations

import json

from scripts.export_schemas import OUT, main, rendered


def test_committed_schemas_are_current() -> None:
    assert main(["--check"]) == 0, "run: python -m scripts.export_schemas"


def test_schemas_use_the_stored_camel_case_names() -> None:
    recording = json.loads((OUT / "recording.schema.json").read_text())
    assert {"patientId", "storagePath", "analysisVersion", "summary"} <= set(
        recording["properties"]
    )
    result = json.loads(rendered()[OUT / "analysis-result.schema.json"])
    assert "sampleRateHz" in result["properties"]
