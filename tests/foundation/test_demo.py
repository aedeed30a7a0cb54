"""A shortened `make demo`: the whole flow, on its own local stack, in a fresh process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.emulators import REPO_ROOT, EmulatorUnavailableError, find_firestore_jar, find_java

from ..conftest import unavailable

pytestmark = pytest.mark.emulators


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    try:
        find_java()
        find_firestore_jar()
    except EmulatorUnavailableError as exc:
        unavailable(str(exc))
    if not (REPO_ROOT / "node_modules/.bin/firebase").exists() or shutil.which("node") is None:
        unavailable("firebase-tools (npm ci) is needed for the Auth emulator")
    done = subprocess.run(
        [sys.executable, "-m", "scripts.demo", "--seconds", "8", "--output", str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        # as `make demo` runs it: no PYTHONPATH (the conftest's would hide a missing import path)
        env={key: value for key, value in os.environ.items() if key != "PYTHONPATH"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "heart rate" in done.stdout and "respiratory rate" in done.stdout
    assert "upload -> result" in done.stdout
    for kind in ("heart", "lung"):
        assert (tmp_path / f"{kind}-report.png").read_bytes().startswith(b"\x89PNG")
        assert (tmp_path / f"{kind}-report.pdf").read_bytes().startswith(b"%PDF")
        bundle = json.loads((tmp_path / f"{kind}-fhir.json").read_text())
        assert bundle["resourceType"] == "Bundle" and len(bundle["entry"]) >= 3
