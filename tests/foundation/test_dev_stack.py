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
        check_web_app(text, password.group(1))
    finally:
        stack.send_signal(signal.SIGTERM)
        try:
            stack.wait(timeout=60)
        except subprocess.TimeoutExpired:
            stack.kill()


def check_web_app(printed: str, password: str) -> None:
    """The web app's URL is printed; it serves the app, the emulator config and the API under one
    origin, and a seeded clinician's `/v1/me` names the demo clinic (the app's first call)."""
    import httpx

    web = re.search(r"Web app\s+(http://127\.0\.0\.1:\d+)", printed)
    assert web, printed
    base = web.group(1)
    assert '<main id="main"' in httpx.get(base).text
    assert "<main" in httpx.get(f"{base}/patients/deep/link").text, "single-page fallback"
    config = httpx.get(f"{base}/config.json").json()
    auth_host = config["emulators"]["auth"]
    assert config["firebase"]["projectId"] == "demo-stethoscope" and config["apiBase"] == ""
    token = httpx.post(
        f"{auth_host}/identitytoolkit.googleapis.com/v1/accounts:signInWithPassword",
        params={"key": "local-dev-key"},
        json={"email": "clinician@demo.clinic", "password": password, "returnSecureToken": True},
    ).json()["idToken"]
    me = httpx.get(f"{base}/v1/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert {"clinicId": "demo-clinic", "name": "Demo clinic", "role": "clinician"} in me["clinics"]
