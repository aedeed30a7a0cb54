"""Every uploader command's failure paths: the documented exit code (docs/edge-uploader.md), and
a message of at most three lines at 80 columns that names the next step.

Real processes (`python -m edge_uploader`) in a terminal 80 columns wide. "Offline" is a real
closed port; "signed in" is a stored session whose ID token has not expired, as on a laptop
that signed in earlier and then lost the network.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXIT_FAILED, EXIT_USAGE, EXIT_AUTH, EXIT_OFFLINE, EXIT_OUTBOX = 1, 2, 3, 4, 5
#: words that point at what to do next: a command, an option, or an instruction
NEXT_STEP = ("steth-upload", "--", "try again", "check", "ask", "run ", "give", "record with")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    code: int
    setup: str = "empty"  # empty | signed_in | queued | outbox_is_a_file
    whole: bool = True  # the whole output is the error (else: its last three lines)


CASES = {
    "login-auth-unreachable": Case(("login", "--email", "a@b.c", "--password", "x"), EXIT_AUTH),
    "whoami-signed-out": Case(("whoami",), EXIT_AUTH),
    "patients-no-query": Case(("patients", "find"), EXIT_USAGE),
    "patients-signed-out": Case(("patients", "find", "--mrn", "X-1"), EXIT_AUTH),
    "patients-offline": Case(("patients", "find", "--mrn", "X-1"), EXIT_OFFLINE, "signed_in"),
    "record-wrong-site": Case(
        ("record", "--patient", "p1", "--site", "mitral", "--kind", "lung", "--simulate"),
        EXIT_USAGE,
    ),
    "record-wrong-kind": Case(("record", "--patient", "p1", "--site", "x", "--kind", "bone"), 2),
    "record-no-patient": Case(("record", "--site", "mitral", "--simulate"), EXIT_USAGE),
    "record-mrn-offline": Case(
        ("record", "--mrn", "X-1", "--site", "mitral", "--simulate", "--yes"), 2, "signed_in"
    ),
    "record-outbox-unusable": Case(
        ("record", "--patient", "p1", "--site", "mitral", "--simulate", "--seconds", "4", "--yes"),
        EXIT_OUTBOX,
        "outbox_is_a_file",
        whole=False,
    ),
    "record-offline-kept": Case(
        ("record", "--patient", "p1", "--site", "mitral", "--simulate", "--seconds", "4", "--yes"),
        EXIT_OFFLINE,
        "signed_in",
        whole=False,
    ),
    "exam-no-protocol": Case(("exam", "--patient", "p1"), EXIT_USAGE),
    "exam-unknown-protocol": Case(("exam", "--patient", "p1", "--protocol", "x"), EXIT_USAGE),
    "import-no-patient": Case(("import", "/etc/hostname"), EXIT_USAGE),
    "import-missing-file": Case(
        ("import", "--patient", "p1", "--site", "mitral", "/nonexistent.wav"), EXIT_USAGE
    ),
    "import-not-audio": Case(
        ("import", "--patient", "p1", "--site", "mitral", "/etc/hostname"), EXIT_FAILED
    ),
    "sync-signed-out": Case(("sync",), EXIT_AUTH, "queued", whole=False),
    "sync-offline": Case(("sync",), EXIT_OFFLINE, "queued_signed_in", whole=False),
    "sync-outbox-unusable": Case(("sync",), EXIT_OUTBOX, "outbox_is_a_file"),
    "watch-signed-out": Case(("watch",), EXIT_AUTH, "queued", whole=False),
    "status-outbox-unusable": Case(("status",), EXIT_OUTBOX, "outbox_is_a_file"),
    "results-outbox-unusable": Case(("results",), EXIT_OUTBOX, "outbox_is_a_file"),
    "fix-nothing-to-change": Case(("fix", "abc"), EXIT_USAGE),
    "fix-unknown-take": Case(("fix", "abc", "--site", "aortic"), EXIT_FAILED),
    "retry-unknown-take": Case(("retry", "abc"), EXIT_FAILED),
    "discard-unknown-take": Case(("discard", "abc"), EXIT_FAILED),
    "unknown-command": Case(("frobnicate",), EXIT_USAGE),
    "unknown-option": Case(("status", "--everything"), EXIT_USAGE),
}


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge_uploader", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _environment(tmp_path: Path, setup: str) -> dict[str, str]:
    closed = _closed_port()
    outbox = tmp_path / "outbox"
    env = {
        **os.environ,
        "COLUMNS": "80",
        "STETH_API_URL": f"http://127.0.0.1:{closed}",
        "STETH_AUTH_EMULATOR": f"127.0.0.1:{closed}",
        "STETH_CLINIC": "c1",
        "STETH_FIREBASE_API_KEY": "local-dev-key",
        "STETH_OUTBOX": str(outbox),
    }
    if setup == "outbox_is_a_file":
        outbox.write_text("not a folder")
        return env
    if setup in ("queued", "queued_signed_in"):
        saved = _run(env, "record", "--patient", "p1", "--site", "mitral", "--simulate",
                     "--seconds", "4", "--yes")  # fmt: skip
        assert "saved" in saved.stdout, saved.stdout + saved.stderr
    if setup in ("signed_in", "queued_signed_in"):
        outbox.mkdir(exist_ok=True)
        session = {
            "uid": "u1",
            "email": "staff@clinic.example",
            "id_token": "still-valid",
            "refresh_token": "r",
            "expires_at": time.time() + 3600,
        }
        (outbox / "credentials.json").write_text(json.dumps(session))
    return env


@pytest.mark.parametrize("name", list(CASES))
def test_failure_exit_code_and_message(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    env = _environment(tmp_path, case.setup)
    if case.args[0] == "watch":
        done = subprocess.run(
            [sys.executable, "-m", "edge_uploader", *case.args],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    else:
        done = _run(env, *case.args)
    output = (done.stdout + done.stderr).rstrip()
    assert done.returncode == case.code, f"{name}: exit {done.returncode}\n{output}"
    lines = [line.rstrip() for line in output.splitlines() if line.strip()]
    assert lines, f"{name}: says nothing"
    message = lines if case.whole else lines[-3:]
    assert "Traceback" not in output, output
    assert all(len(line) <= 80 for line in lines), f"{name}: wider than 80 columns\n{output}"
    if case.whole:
        assert len(message) <= 3, f"{name}: {len(message)} lines\n{output}"
    text = " ".join(message)
    if case.code != 0:
        assert any(step in text for step in NEXT_STEP), f"{name}: no next step\n{output}"
