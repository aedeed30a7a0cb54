"""A clinic for the browser tests on the real local stack: accounts in the Auth emulator, members
and a patient in Firestore, takes uploaded through the API and analysed by the storage function,
and the web app served same-origin with the API (scripts/web.py), as `make dev` serves it."""

from __future__ import annotations

import base64
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import google_crc32c
import httpx
import numpy as np
import pytest

from scripts.emulators import AuthEmulator
from scripts.stack import PROJECT_ID, LocalStack
from scripts.web import WEB_DIST, WebServer, config_for

from ..conftest import Emulators, sign_up, unavailable
from ..helpers import heart_wav, lung_wav, wav_bytes
from ..tokens import bearer

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "test-output/web"
CLINIC = "web-clinic"
PASSWORD = "correct horse battery"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class Account:
    email: str
    uid: str
    password: str = PASSWORD

    def plan(self) -> dict[str, str]:
        return {"email": self.email, "uid": self.uid, "password": self.password}


@dataclass
class WebClinic:
    url: str
    api_url: str
    admin: Account
    clinician: Account
    uploader: Account
    newcomer: Account
    patient_id: str = ""
    patient_mrn: str = "WEB-0001"
    recordings: dict[str, str] = field(default_factory=dict)
    exam_id: str = ""

    def upload(self, kind: str, site: str, data: bytes, exam_id: str | None = None, *,
               pause_s: float = 0.0) -> str:  # fmt: skip
        """Register a take with the API as the clinician's laptop would, wait `pause_s` (the slot
        is visible as awaiting_upload meanwhile), upload it in resumable chunks; its id."""
        crc = base64.b64encode(google_crc32c.Checksum(data).digest()).decode()
        body: dict[str, Any] = {
            "clientRecordingId": f"web-{uuid.uuid4().hex[:12]}",
            "patientId": self.patient_id,
            "site": site,
            "kind": kind,
            "recordedAt": datetime.now(UTC).isoformat(),
            "sizeBytes": len(data),
            "deviceId": "steth-web",
            "crc32c": crc,
        }
        if exam_id:
            body["examId"] = exam_id
        headers = bearer(self.clinician.uid, email=self.clinician.email)
        with httpx.Client(timeout=30) as http:
            slot = http.post(f"{self.api_url}/v1/clinics/{CLINIC}/recordings", json=body,
                             headers=headers)  # fmt: skip
            assert slot.status_code in (200, 201), slot.text
            created = slot.json()
            time.sleep(pause_s)
            chunk = 256 * 1024
            for start in range(0, len(data), chunk):
                part = data[start : start + chunk]
                end = start + len(part) - 1
                http.put(
                    created["uploadUrl"],
                    content=part,
                    headers={"Content-Range": f"bytes {start}-{end}/{len(data)}",
                             "Content-Type": "audio/wav"},
                )  # fmt: skip
        recording_id: str = created["recordingId"]
        return recording_id

    def wait_analysed(self, recording_id: str, timeout_s: float = 60.0) -> dict[str, Any]:
        from backend.clients import firestore_client

        ref = firestore_client().document(f"clinics/{CLINIC}/recordings/{recording_id}")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            doc = ref.get().to_dict() or {}
            if doc.get("status") in ("analyzed", "rejected", "failed"):
                return doc
            time.sleep(0.1)
        raise AssertionError(f"{recording_id} not analysed in {timeout_s} s")


def noise_wav(seconds: float = 10.0, seed: int = 3) -> bytes:
    """White noise: no heart or breath sounds in it, so the analysis calls it unusable."""
    samples = np.random.default_rng(seed).normal(0.0, 0.2, int(seconds * 4000))
    return wav_bytes(np.clip(samples, -1, 1), 4000)


@pytest.fixture(scope="module")
def web_clinic(
    emulators: Emulators, auth_emulator: AuthEmulator, functions_stack: LocalStack
) -> Iterator[WebClinic]:
    """The clinic, its three staff, a patient with analysed heart, lung and unusable takes and an
    assessed heart exam, and the web app's URL. Documents are wiped afterwards."""
    if CHROMIUM is None:
        unavailable("needs Debian's Chromium (apt-get install chromium; .ci/run installs it)")
    if not (WEB_DIST / "index.html").is_file():
        unavailable("the web app is not built: run `make web` (make test does)")
    from backend.clients import firestore_client
    from backend.documents import Clinic, Member

    now = datetime.now(UTC)
    tag = uuid.uuid4().hex[:6]
    accounts = {}
    for role in ("admin", "clinician", "uploader"):
        email = f"{role}-{tag}@web.clinic"
        accounts[role] = Account(email, sign_up(auth_emulator, email, PASSWORD))
    db = firestore_client()
    clinic = db.collection("clinics").document(CLINIC)
    clinic.set(Clinic(name="Web test clinic", created_at=now).to_firestore())
    for role, account in accounts.items():
        clinic.collection("members").document(account.uid).set(
            Member(role=role, uid=account.uid, email=account.email, added_at=now,
                   added_by="operator").to_firestore()  # type: ignore[arg-type]
        )  # fmt: skip
    assert functions_stack.api is not None
    with WebServer(functions_stack.api.url, config_for(functions_stack.env, PROJECT_ID)) as web:
        email = f"newcomer-{tag}@web.clinic"
        newcomer = Account(email, sign_up(auth_emulator, email, PASSWORD))
        world = WebClinic(web.url, functions_stack.api.url, newcomer=newcomer, **accounts)
        patient = httpx.post(
            f"{world.api_url}/v1/clinics/{CLINIC}/patients",
            json={"mrn": world.patient_mrn, "displayName": "Ada Lovelace", "birthYear": 1961,
                  "sex": "female"},
            headers=bearer(world.clinician.uid, email=world.clinician.email),
            timeout=30,
        )  # fmt: skip
        assert patient.status_code == 201, patient.text
        world.patient_id = patient.json()["id"]
        world.recordings["heart"] = world.upload("heart", "mitral", heart_wav(10.0, 72.0, seed=1))
        world.recordings["lung"] = world.upload(
            "lung", "posterior-left-lower", lung_wav(20.0, 18.0, wheeze_hz=400.0, seed=2)
        )
        world.recordings["unusable"] = world.upload("heart", "aortic", noise_wav())
        with httpx.Client(timeout=30) as http:
            exam = http.post(
                f"{world.api_url}/v1/clinics/{CLINIC}/exams",
                json={"patientId": world.patient_id, "protocol": "heart-4"},
                headers=bearer(world.clinician.uid, email=world.clinician.email),
            )
            assert exam.status_code == 201, exam.text
            world.exam_id = exam.json()["id"]
            for n, site in enumerate(("aortic", "pulmonic", "tricuspid")):
                world.upload("heart", site, heart_wav(8.0, 75.0, seed=10 + n), world.exam_id)
            last = world.upload("heart", "mitral", noise_wav(8.0, seed=9), world.exam_id)
            world.wait_analysed(last)
            done = http.post(
                f"{world.api_url}/v1/clinics/{CLINIC}/exams/{world.exam_id}:complete",
                headers=bearer(world.clinician.uid, email=world.clinician.email),
            )
            assert done.status_code == 200, done.text
        for recording_id in world.recordings.values():
            world.wait_analysed(recording_id)
        yield world
    emulators.firestore.wipe()
