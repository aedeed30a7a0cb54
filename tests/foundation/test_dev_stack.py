"""A new admin's first hour, following the README: `make dev` (scripts.stack) seeds a demo clinic
and prints how to sign in; an uploader signs in with what it printed and records the demo patient
by record number; the cloud analyses the take. Real processes, real emulators."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.emulators


def test_make_dev_seeds_a_clinic_an_uploader_can_record_in(tmp_path: Path) -> None:
    stack = subprocess.Popen(
        [sys.executable, "-m", "scripts.stack"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    printed: list[str] = []
    try:
        assert stack.stdout is not None
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = stack.stdout.readline()
            if not line:
                break
            printed.append(line)
            if "Ctrl-C stops everything" in line:
                break
        text = "".join(printed)
        assert "uploader@demo.clinic" in text, text
        exports = dict(re.findall(r"export (STETH_[A-Z_]+)='([^']*)'", text))
        password = re.search(r"password '([^']+)'", text)
        assert password and {"STETH_API_URL", "STETH_AUTH_EMULATOR", "STETH_CLINIC"} <= set(exports)
        env = {**os.environ, **exports, "STETH_OUTBOX": str(tmp_path / "outbox"), "COLUMNS": "80"}

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "edge_uploader", *args],
                cwd=REPO,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )

        login = cli("login", "--email", "uploader@demo.clinic", "--password", password.group(1))
        assert login.returncode == 0, login.stdout + login.stderr
        found = cli("patients", "find", "--mrn", "DEMO-0001")
        assert "Demo Patient" in found.stdout, found.stdout + found.stderr
        take = cli(
            "record",
            "--mrn",
            "DEMO-0001",
            "--site",
            "mitral",
            "--simulate",
            "--seconds",
            "12",
            "--yes",
        )
        assert take.returncode == 0 and "uploaded and verified" in take.stdout, take.stdout
        results = cli("results", "--wait", "60")
        assert "analyzed" in results.stdout and "HR" in results.stdout, results.stdout
    finally:
        stack.send_signal(signal.SIGTERM)
        try:
            stack.wait(timeout=60)
        except subprocess.TimeoutExpired:
            stack.kill()
