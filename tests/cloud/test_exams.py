"""Exams on the local stack: takes join their exam at registration, the assessment is recomputed
in a transaction as each site's analysis lands (also many at once, also on re-analysis), unusable
sites are named for re-recording, and the exam's FHIR report validates."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

from backend.objects import StoredObject
from backend.pipeline import process_object
from scripts.stack import BUCKET

from ..helpers import heart_wav, lung_wav, object_metadata, upload, wav_bytes
from ..tokens import bearer
from .conftest import World

pytestmark = pytest.mark.emulators
CLIN = bearer("u-clin")


def open_exam(world: World, **body: Any) -> dict[str, Any]:
    response = world.client.post(
        "/v1/clinics/c1/exams", json={"patientId": "p1", **body}, headers=CLIN
    )
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def take(world: World, exam_id: str, site: str, kind: str, data: bytes, n: int) -> StoredObject:
    """Register a take of the exam through the API and upload its audio (no event yet)."""
    from backend.clients import storage_client

    slot = world.client.post(
        "/v1/clinics/c1/recordings",
        headers=CLIN,
        json={
            "clientRecordingId": f"{exam_id}-{n}",
            "patientId": "p1",
            "site": site,
            "kind": kind,
            "recordedAt": "2026-12-01T09:00:00+00:00",
            "sizeBytes": len(data),
            "deviceId": "steth-01",
            "examId": exam_id,
        },
    )
    assert slot.status_code == 201, slot.get_json()
    recording_id = slot.get_json()["recordingId"]
    blob = upload(
        storage_client().bucket(BUCKET), "c1", recording_id, data, object_metadata(kind, site)
    )
    return StoredObject(
        BUCKET, blob.name, int(blob.generation), int(blob.size), metadata=blob.metadata
    )


def get_exam(world: World, exam_id: str) -> dict[str, Any]:
    return dict(world.client.get(f"/v1/clinics/c1/exams/{exam_id}", headers=CLIN).get_json())


def noise_wav(seconds: float = 10.0, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    return wav_bytes((0.3 * rng.standard_normal(int(4000 * seconds))).astype(np.float32), 4000)


def test_unusable_sites_are_named_and_the_exam_is_assessed(world: World) -> None:
    exam = open_exam(world, protocol="heart-4")
    assert exam["sites"].keys() == {"aortic", "pulmonic", "tricuspid", "mitral"}
    data = {"aortic": heart_wav(10.0, 72.0, seed=1), "pulmonic": noise_wav(seed=2),
            "tricuspid": noise_wav(seed=3), "mitral": heart_wav(10.0, 72.0, seed=4)}  # fmt: skip
    for n, (site, wav) in enumerate(data.items()):
        process_object(take(world, exam["id"], site, "heart", wav, n))
    open_state = get_exam(world, exam["id"])
    assert open_state["status"] == "open", "not assessed before it is completed"
    assert open_state["assessment"] is not None, "but assessed live as sites arrive"
    done = world.client.post(f"/v1/clinics/c1/exams/{exam['id']}:complete", headers=CLIN)
    assert done.status_code == 200, done.get_json()
    final = get_exam(world, exam["id"])
    assert final["status"] == "assessed"
    assert sorted(final["reRecord"]) == ["pulmonic", "tricuspid"]
    assessment = final["assessment"]
    assert set(assessment["uninterpretableSites"]) >= {"pulmonic", "tricuspid"}
    assert assessment["heartRateBpm"] == pytest.approx(72.0, abs=5.0)
    assert {s["status"] for s in final["sites"].values()} <= {"analyzed", "rejected"}


def test_concurrent_site_results_never_lose_an_update(world: World) -> None:
    exam = open_exam(world, protocol="lung-6")
    objects = [
        take(world, exam["id"], site, "lung", lung_wav(12.0, 18.0, seed=n), n)
        for n, site in enumerate(exam["siteOrder"])
    ]
    threads = [threading.Thread(target=process_object, args=(obj,)) for obj in objects]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final = get_exam(world, exam["id"])
    assert all(s["status"] == "analyzed" for s in final["sites"].values()), final["sites"]
    assert all(s["usable"] is not None for s in final["sites"].values())


def test_reanalysis_updates_the_exam(world: World) -> None:
    exam = open_exam(world, sites=["mitral", "aortic"])
    objects = [
        take(world, exam["id"], site, "heart", heart_wav(8.0, 80.0, seed=n), n)
        for n, site in enumerate(exam["siteOrder"])
    ]
    for obj in objects:
        process_object(obj)
    before = get_exam(world, exam["id"])
    mitral = before["sites"]["mitral"]["recordingId"]
    again = world.client.post(f"/v1/clinics/c1/recordings/{mitral}:reanalyze", headers=CLIN)
    assert again.status_code == 200, again.get_json()
    after = get_exam(world, exam["id"])
    assert after["updatedAt"] > before["updatedAt"]
    assert after["assessment"] == before["assessment"], "same results, same assessment"


def test_takes_must_fit_their_exam(world: World) -> None:
    exam = open_exam(world, protocol="heart-4")
    body = {"clientRecordingId": "misfit", "patientId": "p1", "site": "posterior-left-lower",
            "kind": "lung", "recordedAt": "2026-12-01T09:00:00+00:00", "sizeBytes": 1000,
            "deviceId": "steth-01", "examId": exam["id"]}  # fmt: skip
    wrong_site = world.client.post("/v1/clinics/c1/recordings", json=body, headers=CLIN)
    assert wrong_site.status_code == 422 and wrong_site.get_json()["code"] == "site_not_in_exam"
    unknown = world.client.post(
        "/v1/clinics/c1/recordings",
        headers=CLIN,
        json={**body, "site": "mitral", "kind": "heart", "examId": "exm_nope"},
    )
    assert unknown.get_json()["code"] == "unknown_exam"
    cancelled = world.client.post(f"/v1/clinics/c1/exams/{exam['id']}:cancel", headers=CLIN)
    assert cancelled.get_json()["status"] == "cancelled"
    closed = world.client.post(
        "/v1/clinics/c1/recordings", headers=CLIN, json={**body, "site": "mitral", "kind": "heart"}
    )
    assert closed.get_json()["code"] == "exam_closed"


def test_client_made_exam_ids_are_idempotent(world: World) -> None:
    url = "/v1/clinics/c1/exams/exm_fromlaptop01"
    body = {"patientId": "p1", "protocol": "heart-4"}
    assert world.client.put(url, json=body, headers=CLIN).status_code == 201
    assert world.client.put(url, json=body, headers=CLIN).status_code == 200
    other = world.client.put(url, json={**body, "protocol": "lung-6"}, headers=CLIN)
    assert other.status_code == 409 and other.get_json()["code"] == "exam_conflict"
    listed = world.client.get(
        "/v1/clinics/c1/exams", query_string={"patientId": "p1"}, headers=bearer("u-upl")
    ).get_json()
    assert "exm_fromlaptop01" in [e["id"] for e in listed["items"]]


def test_exam_fhir_report_validates(world: World) -> None:
    from fhir.resources.R4B.bundle import Bundle

    exam = open_exam(world, sites=["mitral", "tricuspid"])
    for n, site in enumerate(exam["siteOrder"]):
        process_object(take(world, exam["id"], site, "heart", heart_wav(10.0, 66.0, seed=n), n))
    world.client.post(f"/v1/clinics/c1/exams/{exam['id']}:complete", headers=CLIN)
    response = world.client.get(f"/v1/clinics/c1/exams/{exam['id']}/fhir", headers=CLIN)
    assert response.status_code == 200, response.get_json()
    bundle = Bundle.model_validate(response.get_json())
    kinds = [e.resource.get_resource_type() for e in bundle.entry]
    assert kinds.count("DiagnosticReport") == 1 and "Patient" in kinds
    report = next(
        e.resource for e in bundle.entry if e.resource.get_resource_type() == "DiagnosticReport"
    )
    assert report.presentedForm[0].url.endswith(f"/exams/{exam['id']}/report.pdf")
    rates = [
        e.resource
        for e in bundle.entry
        if e.resource.get_resource_type() == "Observation"
        and e.resource.code.coding[0].code == "8867-4"
    ]
    assert rates and float(rates[0].valueQuantity.value) == pytest.approx(66.0, abs=5.0)
    assert world.client.get(f"/v1/clinics/c1/exams/{exam['id']}/fhir",
                            headers=bearer("u-upl")).status_code == 403  # fmt: skip
    pdf = world.client.get(f"/v1/clinics/c1/exams/{exam['id']}/report.pdf", headers=CLIN)
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert b"heart rate 6" in pdf.data, "the assessment is in the PDF's metadata"
    assert len(pdf.data) < 1_000_000
    history = world.client.get("/v1/clinics/c1/patients/p1/history", headers=CLIN).get_json()
    listed = {e["examId"]: e for e in history["exams"]}
    assert listed[exam["id"]]["status"] == "assessed"
    assert listed[exam["id"]]["assessment"]["heartRateBpm"] == pytest.approx(66.0, abs=5.0)
    patient_bundle = Bundle.model_validate(
        world.client.get("/v1/clinics/c1/patients/p1/fhir", headers=CLIN).get_json()
    )
    report_ids = [
        e.resource.id
        for e in patient_bundle.entry
        if e.resource.get_resource_type() == "DiagnosticReport"
    ]
    assert f"{exam['id']}-report".replace("_", "-") in report_ids, "the exam's report is in it"
