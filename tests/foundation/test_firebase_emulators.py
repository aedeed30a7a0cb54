"""docs/firebase-emulators.md, run as written: the first bash block's lines, with the emulators
started by `emulators:exec` (which runs a check, then stops them) on a copy of firebase.json with
free ports. Offline, no prompt: Java 21 and the Firestore launcher come from
`scripts.firebase_emulators`, the params from `functions/.env.demo-stethoscope`.

Not run: `make setup` (the test runs inside the set-up checkout) and the functions emulator
(it needs `functions/venv`, see the doc).
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.emulators import free_port

from ..conftest import unavailable

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs/firebase-emulators.md"
pytestmark = pytest.mark.emulators

CHECK = """
import json, os, urllib.error, urllib.request
from google.cloud import firestore

db = firestore.Client(project="demo-stethoscope")
db.collection("clinics").document("c1").set({"name": "Emulated clinic"})
assert db.collection("clinics").document("c1").get().to_dict() == {"name": "Emulated clinic"}
url = f"http://{os.environ['FIRESTORE_EMULATOR_HOST']}/v1/projects/demo-stethoscope/databases/(default)/documents/clinics/c1"
try:
    urllib.request.urlopen(url)
    raise SystemExit("an anonymous read was allowed: firestore.rules not loaded")
except urllib.error.HTTPError as exc:
    assert exc.code == 403, exc.code
signup = urllib.request.Request(
    f"http://{os.environ['FIREBASE_AUTH_EMULATOR_HOST']}/identitytoolkit.googleapis.com/v1/accounts:signUp?key=k",
    data=json.dumps({"email": "a@b.example", "password": "secret-1", "returnSecureToken": True}).encode(),
    headers={"Content-Type": "application/json"},
)
assert "idToken" in json.load(urllib.request.urlopen(signup))
print("EMULATORS-OK")
"""


def doc_lines() -> list[str]:
    """The first bash block of the doc, one command per line (comments dropped)."""
    block = re.search(r"```bash\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert block, "docs/firebase-emulators.md has no bash block"
    lines = [line.split("  #")[0].strip() for line in block[1].splitlines()]
    return [line for line in lines if line]


def test_the_doc_names_the_commands_the_test_runs() -> None:
    lines = doc_lines()
    assert lines[0] == "make setup"
    assert lines[-1] == (
        "npx firebase emulators:start --only auth,firestore --project demo-stethoscope"
    )
    params = (REPO / "functions/.env.demo-stethoscope").read_text()
    assert "FUNCTIONS_REGION=" in params and "RECORDINGS_BUCKET=" in params, "no prompt for params"
    assert "..." not in DOC.read_text().replace("`…`", "")


def test_firebase_emulators_start_as_documented(tmp_path: Path) -> None:
    if shutil.which("npx") is None or not (REPO / "node_modules/.bin/firebase").exists():
        unavailable("node and firebase-tools (run `npm ci`) are needed")
    config = json.loads((REPO / "firebase.json").read_text())
    for emulator in config["emulators"].values():
        if isinstance(emulator, dict) and "port" in emulator:
            emulator["port"] = free_port()
    config["emulators"]["firestore"]["websocketPort"] = free_port()
    for key in ("rules", "indexes"):  # paths in a config are relative to its folder
        config["firestore"][key] = str(REPO / config["firestore"][key])
    config["functions"][0]["source"] = str(REPO / "functions")
    copy = tmp_path / "firebase.json"
    copy.write_text(json.dumps(config))
    check = tmp_path / "check.py"
    check.write_text(CHECK)

    *setup, start = doc_lines()
    script = [line for line in setup if not line.startswith("make ")]
    script = [line.replace(".venv/bin/pip ", f"{sys.executable} -m pip ") for line in script]
    script = [line.replace(".venv/bin/python ", f"{sys.executable} ") for line in script]
    exec_line = start.replace("emulators:start", "emulators:exec") + (
        f" --config {shlex.quote(str(copy))} {shlex.quote(f'{sys.executable} {check}')}"
    )
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", "\n".join([*script, exec_line])],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0 and "EMULATORS-OK" in output, output[-4000:]
