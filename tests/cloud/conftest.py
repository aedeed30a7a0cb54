"""The clinic world the API tests run against: two clinics, members of every role, patients and
analysed recordings, and the API and task-queue functions as the platform serves them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from backend.documents import Clinic, Member, Patient
from backend.objects import StoredObject
from backend.pipeline import process_object
from scripts.stack import BUCKET, FunctionServer

from ..conftest import Emulators, ensure_account, patched_env
from ..helpers import heart_wav, lung_wav, object_metadata, seed_recording, upload

MAIN = str(Path(__file__).resolve().parents[2] / "functions/main.py")
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


@dataclass
class World:
    client: Any  # werkzeug test client for the `api` function
    analyzed: dict[str, str]  # clinic -> analysed heart recording id
    lung: str  # an analysed lung recording in c1
    tasks: FunctionServer  # the task-queue function


@pytest.fixture(scope="module")
def world(emulators: Emulators, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    import functions_framework

    from backend.clients import firestore_client, storage_client

    db = firestore_client()
    bucket = storage_client().bucket(BUCKET)
    for clinic, members in {
        "c1": {"u-admin": "admin", "u-clin": "clinician", "u-upl": "uploader"},
        "c2": {"u-out": "admin"},
    }.items():
        ref = db.collection("clinics").document(clinic)
        ref.set(Clinic(name=f"Clinic {clinic}", created_at=NOW).to_firestore())
        for uid, role in members.items():
            ref.collection("members").document(uid).set(
                Member(role=role, added_at=NOW).to_firestore()
            )  # type: ignore[arg-type]
        ref.collection("patients").document("p1").set(
            Patient(
                label="Bed 4", birth_year=2015, sex="female", created_at=NOW, created_by="u-admin"
            ).to_firestore()
        )
    # the members are real accounts (the API refuses a uid that is none), emails as in the tokens
    for uid in ("u-admin", "u-clin", "u-upl", "u-out", "u-new", "u-temp", "u-me"):
        ensure_account(uid, f"{uid}@clinic.example")
    analyzed = {}
    for clinic, recording, kind, site, data in (
        ("c1", "r1", "heart", "mitral", heart_wav(10.0, 78.0)),
        ("c2", "r2", "heart", "aortic", heart_wav(8.0, 90.0)),
        ("c1", "l1", "lung", "posterior-left-lower", lung_wav(20.0, 18.0)),
    ):
        seed_recording(db, clinic, recording, kind=kind, site=site)
        blob = upload(bucket, clinic, recording, data, object_metadata(kind, site))
        obj = StoredObject(
            BUCKET, blob.name, int(blob.generation), int(blob.size), metadata=blob.metadata
        )
        assert process_object(obj) == "analyzed"
        if kind == "heart":
            analyzed[clinic] = recording
    # bulk re-analysis goes through the task-queue function, served the way the platform serves it
    tasks = FunctionServer(
        "reanalysis", "http", dict(os.environ), tmp_path_factory.mktemp("tasks")
    ).start()
    try:
        with patched_env(STETH_LOCAL_TASKS_URL=tasks.url):
            client = functions_framework.create_app(
                target="api", source=MAIN, signature_type="http"
            ).test_client()
            yield World(client, analyzed, "l1", tasks)
    finally:
        tasks.stop()
    emulators.firestore.wipe()
    emulators.auth.wipe()
    for blob in storage_client().list_blobs(BUCKET):
        blob.delete()
