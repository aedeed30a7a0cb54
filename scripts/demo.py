"""`make demo`: the whole flow on the local stack, ending in what a clinician reads.

Starts the stack (Firestore emulator, fake-gcs-server, Auth emulator, the functions under
functions-framework, the storage-event relay); creates a clinic, a clinician and a patient; signs
in and records a simulated heart and a simulated lung auscultation through the edge uploader's own
command line (the path a real stethoscope takes, with --simulate); waits for the analyses; prints
the findings and the time from upload to result; writes the reports (PNG, PDF) and FHIR bundles to
demo-output/; stops everything. Exit 0 on success; otherwise the failed step is named.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from edge_uploader import auth
from scripts.emulators import REPO_ROOT
from scripts.stack import FUNCTIONS_DIR, LocalStack

CLINIC = "demo-clinic"
API_KEY = "local-dev-key"
EXAMS = (("heart-4", "mitral"), ("lung-6", "posterior-left-lower"))
TAKES = (
    ("heart", "mitral", "Heart (mitral area)"),
    ("lung", "posterior-right-lower", "Lung (posterior right lower)"),
)


class DemoError(Exception):
    def __init__(self, step: str, cause: BaseException) -> None:
        super().__init__(f"step '{step}' failed: {type(cause).__name__}: {cause}")
        self.step = step


@contextlib.contextmanager
def step(name: str) -> Iterator[None]:
    started = time.monotonic()
    print(f"  {name} ...", end="", flush=True)
    try:
        yield
    except Exception as exc:
        print(" FAILED")
        raise DemoError(name, exc) from exc
    print(f" ok ({time.monotonic() - started:.1f} s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each simulated take")
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "demo-output")
    args = parser.parse_args(argv)
    started = time.monotonic()
    print("Digital stethoscope demo (local stack, no Google account needed)")
    try:
        with step("start the local stack"):
            stack = LocalStack().start()
        try:
            run(stack, args.seconds, args.output)
        finally:
            with step("stop the local stack"):
                stack.stop()
    except DemoError as exc:
        print(f"\nDEMO FAILED — {exc}", file=sys.stderr)
        return 1
    print(f"\nDemo finished in {time.monotonic() - started:.0f} s; outputs in {args.output}")
    return 0


def run(stack: LocalStack, seconds: float, output: Path) -> None:
    assert stack.api is not None and stack.auth is not None and stack.firestore is not None
    api = f"{stack.api.url}/v1"
    email, password = f"dr.demo+{uuid.uuid4().hex[:6]}@clinic.example", "demo-password-123"
    outbox = output / "outbox"
    uploader_env = {
        **os.environ,
        "STETH_API_URL": stack.api.url,
        "STETH_CLINIC": CLINIC,
        "STETH_DEVICE_ID": "demo-laptop",
        "STETH_OUTBOX": str(outbox),
        "STETH_AUTH_EMULATOR": stack.auth.host,
        "STETH_FIREBASE_API_KEY": API_KEY,
    }
    with step("create a clinic and a clinician"):
        uid = _sign_up(stack.auth.host, email, password)
        _seed_clinic(stack, uid, email)
    with step("sign in with the edge uploader"):
        _uploader(uploader_env, "login", "--email", email, "--password", password)
        token = auth.load(outbox / "credentials.json").id_token
    headers = {"Authorization": f"Bearer {token}"}
    with step("register a patient through the API"):
        response = httpx.post(
            f"{api}/clinics/{CLINIC}/patients",
            json={
                "mrn": "DEMO-0001",
                "displayName": "Demo Patient",
                "birthYear": 1958,
                "sex": "female",
            },
            headers=headers,
        )
        response.raise_for_status()
        patient = response.json()["id"]
    output.mkdir(parents=True, exist_ok=True)
    for kind, site, title in TAKES:
        with step(f"record and upload a simulated {kind} auscultation ({seconds:g} s)"):
            before = _outbox_ids(outbox)
            _uploader(uploader_env, "record", "--simulate", "--patient", patient, "--site", site,
                      "--kind", kind, "--seconds", f"{seconds:g}", "--yes")  # fmt: skip
            recording_id = _new_recording(outbox, before)
        with step(f"wait for the {kind} analysis"):
            recording, waited_s = _wait_analysed(api, recording_id, headers)
            stored = httpx.get(
                f"{api}/clinics/{CLINIC}/recordings/{recording_id}/object", headers=headers
            ).json()
            created = datetime.fromisoformat(stored["timeCreated"].replace("Z", "+00:00"))
            analysed = datetime.fromisoformat(recording["analyzedAt"].replace("Z", "+00:00"))
        with step(f"write the {kind} report and FHIR bundle"):
            base = f"{api}/clinics/{CLINIC}/recordings/{recording_id}"
            for suffix in ("report.png", "report.pdf", "fhir"):
                response = httpx.get(f"{base}/{suffix}", headers=headers, timeout=60)
                response.raise_for_status()
                name = f"{kind}-{suffix}" if suffix != "fhir" else f"{kind}-fhir.json"
                (output / name).write_bytes(response.content)
        _print_findings(title, recording, (analysed - created).total_seconds(), waited_s)
    for protocol, finding_at in EXAMS:
        with step(f"record a simulated {protocol} exam through the uploader and wait for it"):
            _uploader(
                uploader_env,
                "exam",
                "--simulate",
                "--patient",
                patient,
                "--protocol",
                protocol,
                "--seconds",
                f"{seconds:g}",
                "--simulate-finding-at",
                finding_at,
                "--yes",
                "--wait",
                "90",
            )
            exam_id = _newest_exam(outbox)
            exam = httpx.get(f"{api}/clinics/{CLINIC}/exams/{exam_id}", headers=headers).json()
        with step(f"write the {protocol} exam report and FHIR bundle"):
            base = f"{api}/clinics/{CLINIC}/exams/{exam_id}"
            for suffix, name in (
                ("report.pdf", f"exam-{protocol}.pdf"),
                ("fhir", f"exam-{protocol}-fhir.json"),
            ):
                response = httpx.get(f"{base}/{suffix}", headers=headers, timeout=120)
                response.raise_for_status()
                (output / name).write_bytes(response.content)
        _print_exam(protocol, finding_at, exam)


def _newest_exam(outbox: Path) -> str:
    import sqlite3

    with contextlib.closing(sqlite3.connect(outbox / "outbox.sqlite3")) as db:
        row = db.execute("SELECT id, state FROM exams ORDER BY created_at DESC LIMIT 1").fetchone()
    if row is None or row[1] != "completed":
        raise RuntimeError(f"the exam was not completed on the server: {row}")
    return str(row[0])


def _print_exam(protocol: str, finding_at: str, exam: dict[str, Any]) -> None:
    from stethoscope.fhir import exam_conclusion

    print(
        f"\n  {protocol} exam — {exam['id']} ({exam['status']}), simulated finding at {finding_at}"
    )
    for site in exam["siteOrder"]:
        entry = exam["sites"][site]
        print(f"    {site:24s} {entry['status']:10s} usable={entry.get('usable')}")
    print(f"    assessment: {exam_conclusion(exam.get('assessment') or {})}")
    if exam.get("reRecord"):
        print(f"    record again: {', '.join(exam['reRecord'])}")


def _uploader(env: dict[str, str], *args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "edge_uploader", *args], env=env, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(
            f"edge uploader exited {done.returncode}: {done.stdout[-800:]}{done.stderr[-800:]}"
        )


def _sign_up(auth_host: str, email: str, password: str) -> str:
    response = httpx.post(
        f"http://{auth_host}/identitytoolkit.googleapis.com/v1/accounts:signUp",
        params={"key": API_KEY},
        json={"email": email, "password": password, "returnSecureToken": True},
    )
    response.raise_for_status()
    uid: str = response.json()["localId"]
    return uid


def _seed_clinic(stack: LocalStack, uid: str, email: str) -> None:
    """What an operator does once with server credentials: the clinic and its first member."""
    os.environ.update(stack.env)
    from google.cloud import firestore

    if str(FUNCTIONS_DIR) not in sys.path:  # the backend package lives in functions/
        sys.path.insert(0, str(FUNCTIONS_DIR))
    from backend import paths
    from backend.documents import Clinic, Member

    db = firestore.Client(project=stack.env["GOOGLE_CLOUD_PROJECT"])
    now = datetime.now(UTC)
    paths.clinic(db, CLINIC).set(Clinic(name="Demo clinic", created_at=now).to_firestore())
    paths.member(db, CLINIC, uid).set(
        Member(role="clinician", uid=uid, email=email, added_at=now).to_firestore()
    )


def _outbox_ids(outbox: Path) -> set[str]:
    import sqlite3

    if not (outbox / "outbox.sqlite3").exists():
        return set()
    with contextlib.closing(sqlite3.connect(outbox / "outbox.sqlite3")) as db:
        return {row[0] for row in db.execute("SELECT id FROM items")}


def _new_recording(outbox: Path, before: set[str]) -> str:
    import sqlite3

    with contextlib.closing(sqlite3.connect(outbox / "outbox.sqlite3")) as db:
        rows = db.execute("SELECT id, state, recording_id FROM items").fetchall()
    [(item_id, state, recording_id)] = [row for row in rows if row[0] not in before]
    if state != "verified":
        raise RuntimeError(f"outbox item {item_id} is {state}, not verified")
    return str(recording_id)


def _wait_analysed(
    api: str, recording_id: str, headers: dict[str, str], timeout_s: float = 60.0
) -> tuple[dict[str, Any], float]:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        recording: dict[str, Any] = httpx.get(
            f"{api}/clinics/{CLINIC}/recordings/{recording_id}", headers=headers
        ).json()
        if recording["status"] == "analyzed":
            return recording, time.monotonic() - started
        if recording["status"] in ("rejected", "failed"):
            raise RuntimeError(f"analysis {recording['status']}: {recording.get('error')}")
        time.sleep(0.05)
    raise TimeoutError(f"no analysis within {timeout_s:.0f} s")


def _print_findings(
    title: str, recording: dict[str, Any], upload_to_result_s: float, waited_s: float
) -> None:
    summary = recording["summary"]
    print(f"\n  {title} — recording {recording['id']}")
    print(
        f"    quality            {summary['qualityScore']:.2f}"
        f" ({'usable' if summary['usable'] else 'NOT usable'})"
    )
    if summary.get("heartRateBpm") is not None:
        murmur = {
            True: f"present ({summary.get('murmurTiming') or 'timing unclear'})",
            False: "absent",
            None: "cannot tell",
        }[summary.get("murmur")]
        print(
            f"    heart rate         {summary['heartRateBpm']:.0f} bpm,"
            f" rhythm {summary.get('rhythm') or 'cannot tell'}"
        )
        print(f"    murmur             {murmur}")
    if summary.get("respiratoryRateBpm") is not None:
        print(f"    respiratory rate   {summary['respiratoryRateBpm']:.0f} /min")
        print(f"    wheezes            {_yes_no(summary.get('wheeze'))}")
        print(f"    crackles           {_yes_no(summary.get('crackle'))}")
    print(
        f"    upload -> result   {upload_to_result_s:.2f} s (server clocks);"
        f" seen by the client after {waited_s:.2f} s"
    )


def _yes_no(value: bool | None) -> str:
    return {True: "present", False: "absent", None: "cannot tell"}[value]


if __name__ == "__main__":
    sys.exit(main())
