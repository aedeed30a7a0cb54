"""A guided four-site heart exam through the uploader CLI, offline first: recorded while the API
is unreachable, uploaded by a later `sync`, analysed and assessed in the cloud (real local stack:
Auth emulator, the API under functions-framework, fake-gcs-server, the storage-event relay)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from google.cloud import firestore
from typer.testing import CliRunner

from edge_uploader.cli import EXIT_OFFLINE, app
from edge_uploader.outbox import ExamState, Outbox, State
from scripts.emulators import free_port

from .test_sync import Clinic, clinic  # noqa: F401 - the clinic fixture

pytestmark = pytest.mark.emulators


def wait_for_exam(db: firestore.Client, exam_id: str, timeout_s: float = 90.0) -> dict[str, Any]:
    ref = db.collection("clinics").document("c1").collection("exams").document(exam_id)
    deadline = time.monotonic() + timeout_s
    data: dict[str, Any] = {}
    while time.monotonic() < deadline:
        snapshot = ref.get()
        data = snapshot.to_dict() or {}
        if data.get("status") == "assessed":
            return data
        time.sleep(0.25)
    raise AssertionError(f"exam not assessed: {data.get('status')} {data.get('sites')}")


def test_four_site_exam_offline_first(clinic: Clinic, db: firestore.Client) -> None:  # noqa: F811
    offline = {**clinic.env(), "STETH_API_URL": f"http://127.0.0.1:{free_port()}"}
    recorded = CliRunner().invoke(
        app,
        [
            "exam",
            "--patient",
            "p1",
            "--protocol",
            "heart-4",
            "--simulate",
            "--seconds",
            "12",
            "--simulate-finding-at",
            "mitral",
        ],
        env=offline,
    )
    assert recorded.exit_code == EXIT_OFFLINE, recorded.output
    assert "place the chest piece: mitral" in recorded.output
    with Outbox(clinic.config.outbox_dir) as box:
        [exam] = box.exams(ExamState.NEW_COMPLETE)
        takes = box.exam_items(exam.id)
        assert [t.site for t in takes] == ["aortic", "pulmonic", "tricuspid", "mitral"]
        assert all(t.state == State.QUEUED for t in takes), "kept while offline"

    synced = CliRunner().invoke(app, ["sync"], env=clinic.env())
    assert synced.exit_code == 0, synced.output
    with Outbox(clinic.config.outbox_dir) as box:
        assert box.exam(exam.id).state == ExamState.COMPLETED
        assert all(t.state == State.VERIFIED for t in box.exam_items(exam.id))

    final = wait_for_exam(db, exam.id)
    assessment = final["assessment"]
    assert {s["status"] for s in final["sites"].values()} == {"analyzed"}
    assert assessment["heartRateBpm"] == pytest.approx(78, abs=5)
    assert assessment["murmur"] == "present"
    assert assessment["murmurSites"][0] == "mitral"
    assert assessment["mostAudibleSite"] == "mitral"
    assert final["reRecord"] == []
