"""A new admin's first hour, following the README: `make dev` seeds a demo clinic and prints how
to sign in; the printed uploader commands are run as printed (the password typed at the prompt),
the demo patient is found and recorded by record number, and the cloud analyses the take. Real
processes, real emulators.

`make dev` runs with its setup prerequisite taken as done (`make -o`): the test runs inside the
set-up checkout, and re-running `pip install -e .` there would repoint a shared editable install.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.emulators


def test_readme_says_how_to_start() -> None:
    readme = (REPO / "README.md").read_text()
    for words in ("make dev", "uploader@demo.clinic", "stethoscope-demo", "record --mrn DEMO-0001"):
        assert words in readme, words


def _printed_commands(text: str) -> tuple[dict[str, str], list[str]]:
    """The exports and `steth-upload` lines `make dev` prints for the edge uploader."""
    section = text.split("For the edge uploader (steth-upload):", 1)[1].split("\n\n", 1)[0]
    exports = dict(re.findall(r"export (STETH_[A-Z_]+)='([^']*)'", section))
    commands = [
        line.split("#")[0].strip()
        for line in section.splitlines()
        if line.strip().startswith("steth-upload")
    ]
    return exports, commands


def test_make_dev_then_the_printed_commands_record_a_patient(tmp_path: Path) -> None:
    stack = subprocess.Popen(
        ["make", "-o", ".venv/.installed", "-o", "node_modules/.installed", "dev"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,
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
        password = re.search(r"password '([^']+)'", text)
        exports, commands = _printed_commands(text)
        assert password and {"STETH_API_URL", "STETH_AUTH_EMULATOR", "STETH_CLINIC"} <= set(exports)
        assert [c.split()[:2] for c in commands] == [
            ["steth-upload", "login"],
            ["steth-upload", "record"],
        ], commands
        env = {**os.environ, **exports, "STETH_OUTBOX": str(tmp_path / "outbox"), "COLUMNS": "80"}

        def cli(args: list[str], typed: str = "") -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "edge_uploader", *args],
                cwd=REPO,
                env=env,
                input=typed,
                capture_output=True,
                text=True,
                timeout=120,
                start_new_session=True,  # no terminal: the password prompt reads stdin
            )

        login, record = (shlex.split(c)[1:] for c in commands)
        signed_in = cli(login, typed=f"{password.group(1)}\n")
        assert signed_in.returncode == 0, signed_in.stdout + signed_in.stderr
        found = cli(["patients", "find", "--mrn", "DEMO-0001"])
        assert "Demo Patient" in found.stdout, found.stdout + found.stderr
        take = cli(record, typed="n\n")  # as printed: a 30 s simulated take
        assert take.returncode == 0 and "uploaded and verified" in take.stdout, take.stdout
        results = cli(["results", "--wait", "60"])
        assert "analyzed" in results.stdout and "HR" in results.stdout, results.stdout
        check_web_app(text, password.group(1))
    finally:
        os.killpg(stack.pid, signal.SIGTERM)
        try:
            stack.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(stack.pid, signal.SIGKILL)


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
