"""The HTTPS API through functions-framework's app for target `api` (the production entry path),
against the Firestore emulator and fake-gcs-server, with unsigned emulator ID tokens."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import google_crc32c
import httpx
import pytest
from PIL import Image

from scripts.stack import BUCKET
from stethoscope.version import ANALYSIS_VERSION

from ..helpers import heart_wav
from ..tokens import bearer
from .conftest import World

pytestmark = pytest.mark.emulators
USERS = {"admin": "u-admin", "clinician": "u-clin", "uploader": "u-upl", "outsider": "u-out"}


def slot_body(client_id: str = "take-1", size: int = 1000, **overrides: Any) -> dict[str, Any]:
    return {
        "clientRecordingId": client_id,
        "patientId": "p1",
        "site": "mitral",
        "kind": "heart",
        "recordedAt": "2026-11-27T09:30:00+00:00",
        "sizeBytes": size,
        "deviceId": "steth-01",
        **overrides,
    }


# --- the authorization matrix ------------------------------------------------------------------

ROLES = ("admin", "clinician", "uploader", "outsider", "anonymous", "bad_token")
#: (name, method, path, json body, expected for admin/clinician/uploader of c1; others below)
ROUTES: list[tuple[str, str, str, dict[str, Any] | None, tuple[int, int, int]]] = [
    ("upload slot", "POST", "/v1/clinics/c1/recordings", slot_body(), (201, 200, 200)),
    ("get recording", "GET", "/v1/clinics/c1/recordings/r1", None, (200, 200, 200)),
    ("list recordings", "GET", "/v1/clinics/c1/recordings", None, (200, 200, 200)),
    ("reanalyse one", "POST", "/v1/clinics/c1/recordings/r1:reanalyze", None, (200, 200, 403)),
    ("reanalyse clinic", "POST", "/v1/clinics/c1:reanalyze", None, (202, 403, 403)),
    ("report png", "GET", "/v1/clinics/c1/recordings/r1/report.png", None, (200, 200, 403)),
    ("report pdf", "GET", "/v1/clinics/c1/recordings/r1/report.pdf", None, (200, 200, 403)),
    ("fhir", "GET", "/v1/clinics/c1/recordings/r1/fhir", None, (200, 200, 403)),
    ("audio", "GET", "/v1/clinics/c1/recordings/r1/audio", None, (200, 200, 403)),
    ("trace", "GET", "/v1/clinics/c1/recordings/r1/trace", None, (200, 200, 403)),
    ("media links", "POST", "/v1/clinics/c1/recordings/r1/links", None, (200, 200, 403)),
    ("new patient", "POST", "/v1/clinics/c1/patients", {"label": "Cot 2"}, (201, 201, 403)),
    ("put member", "PUT", "/v1/clinics/c1/members/u-new", {"role": "uploader"}, (200, 403, 403)),
    ("list members", "GET", "/v1/clinics/c1/members", None, (200, 403, 403)),
]


def analysis_counts(clinic: str) -> dict[str, int]:
    from backend.clients import firestore_client

    recordings = firestore_client().collection(f"clinics/{clinic}/recordings").stream()
    return {
        r.id: int(r.get("analysisCount") or 0) for r in recordings if r.get("status") == "analyzed"
    }


def wait_for_reanalysis(clinic: str, before: dict[str, int], timeout_s: float = 60.0) -> None:
    """Wait until every recording analysed before has been analysed once more (the task queue
    runs the re-analyses in the background) and none is still running."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        now = analysis_counts(clinic)
        if all(now.get(rec, 0) > count for rec, count in before.items()):
            return
        time.sleep(0.2)
    raise AssertionError(
        f"queued re-analyses did not finish: {before} -> {analysis_counts(clinic)}"
    )


def headers_for(role: str) -> dict[str, str]:
    if role == "anonymous":
        return {}
    if role == "bad_token":
        return {"Authorization": "Bearer not-a-jwt"}
    return bearer(USERS[role])


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", ROUTES, ids=[r[0] for r in ROUTES])
def test_authorization_matrix(world: World, route: tuple[Any, ...], role: str) -> None:
    _, method, path, body, member_codes = route
    expected = {
        "admin": member_codes[0],
        "clinician": member_codes[1],
        "uploader": member_codes[2],
        "outsider": 404,  # admin of another clinic: c1 does not exist for them
        "anonymous": 401,
        "bad_token": 401,
    }[role]
    before = analysis_counts("c1")
    response = world.client.open(path, method=method, json=body, headers=headers_for(role))
    assert response.status_code == expected, response.get_data(as_text=True)[:300]
    if response.status_code == 202:
        wait_for_reanalysis("c1", before)
    if expected >= 400:
        assert response.headers["Content-Type"] == "application/problem+json"
        problem = response.get_json()
        assert problem["status"] == expected and problem["code"]


def test_other_clinics_resources_are_not_found(world: World) -> None:
    """c1's admin asking for c2's recording, and for a c2 recording under c1's path."""
    admin = bearer("u-admin")
    assert world.client.get("/v1/clinics/c2/recordings/r2", headers=admin).status_code == 404
    assert world.client.get("/v1/clinics/c1/recordings/r2", headers=admin).status_code == 404
    own = world.client.get("/v1/clinics/c2/recordings/r2", headers=bearer("u-out"))
    assert own.status_code == 200 and own.get_json()["id"] == "r2"


def test_health_and_openapi_need_no_token(world: World) -> None:
    health = world.client.get("/v1/healthz")
    assert health.status_code == 200 and health.get_json()["status"] == "ok"
    spec = world.client.get("/v1/openapi.json").get_json()
    assert "/v1/clinics/{clinic_id}/recordings" in spec["paths"]
    assert world.client.get("/v1/docs").status_code == 200


def test_expired_and_wrong_audience_tokens_are_refused(world: World) -> None:
    for headers in (
        bearer("u-admin", expires_in_s=-60),
        bearer("u-admin", project_id="someone-else"),
    ):
        response = world.client.get("/v1/clinics/c1/recordings", headers=headers)
        assert response.status_code == 401 and response.get_json()["code"] == "unauthenticated"


def test_errors_are_problem_documents(world: World) -> None:
    admin = bearer("u-admin")
    too_big = world.client.post(
        "/v1/clinics/c1/recordings", json=slot_body(size=10**12), headers=admin
    )
    assert too_big.status_code == 413 and too_big.get_json()["code"] == "too_large"
    invalid = world.client.post(
        "/v1/clinics/c1/recordings", json=slot_body(site="trachea"), headers=admin
    )
    assert invalid.status_code == 422 and invalid.get_json()["code"] == "validation_error"
    unknown = world.client.post(
        "/v1/clinics/c1/recordings", json=slot_body(patientId="nobody"), headers=admin
    )
    assert unknown.status_code == 422 and unknown.get_json()["code"] == "unknown_patient"
    huge_body = world.client.post(
        "/v1/clinics/c1/patients",
        data=json.dumps({"label": "x" * 100_000}),
        headers={**admin, "Content-Type": "application/json"},
    )
    assert huge_body.status_code == 413
    missing = world.client.get("/v1/clinics/c1/recordings/nope", headers=admin)
    assert missing.status_code == 404 and missing.get_json()["code"] == "not_found"


def test_upload_slot_is_idempotent_and_conflicts_are_refused(world: World) -> None:
    headers = bearer("u-upl")
    first = world.client.post(
        "/v1/clinics/c1/recordings", json=slot_body("idem-1"), headers=headers
    )
    again = world.client.post(
        "/v1/clinics/c1/recordings", json=slot_body("idem-1"), headers=headers
    )
    assert first.status_code == 201 and again.status_code == 200
    assert first.get_json()["recordingId"] == again.get_json()["recordingId"]
    assert again.get_json()["uploadUrl"] and again.get_json()["status"] == "awaiting_upload"
    clash = world.client.post(
        "/v1/clinics/c1/recordings", json=slot_body("idem-1", size=2000), headers=headers
    )
    assert clash.status_code == 409 and clash.get_json()["code"] == "conflict"


def test_upload_slot_end_to_end_with_a_plain_http_client(world: World) -> None:
    """No Google credentials on the uploader side: the session URL is all it gets."""
    data = heart_wav(30.0, 70.0)
    created = world.client.post(
        "/v1/clinics/c1/recordings",
        json=slot_body("e2e-1", size=len(data)),
        headers=bearer("u-upl"),
    ).get_json()
    chunk = 256 * 1024
    with httpx.Client() as http:
        for start in range(0, len(data), chunk):
            part = data[start : start + chunk]
            end = start + len(part) - 1
            response = http.put(
                created["uploadUrl"],
                content=part,
                headers={
                    "Content-Range": f"bytes {start}-{end}/{len(data)}",
                    "Content-Type": "audio/wav",
                },
            )
            assert response.status_code in ((200, 201) if end == len(data) - 1 else (308,))
    from backend.clients import storage_client

    blob = storage_client().bucket(BUCKET).get_blob(f"recordings/c1/{created['recordingId']}.wav")
    assert blob is not None and blob.size == len(data)
    assert blob.metadata["patientId"] == "p1" and blob.metadata["kind"] == "heart"
    assert blob.metadata["uploadedBy"] == "u-upl" and blob.metadata["deviceId"] == "steth-01"
    crc = google_crc32c.Checksum(data)
    import base64

    assert blob.crc32c == base64.b64encode(crc.digest()).decode()
    repeat = world.client.post(
        "/v1/clinics/c1/recordings",
        json=slot_body("e2e-1", size=len(data)),
        headers=bearer("u-upl"),
    ).get_json()
    assert repeat["recordingId"] == created["recordingId"] and repeat["uploadUrl"] is None


def test_list_filters_and_pages(world: World) -> None:
    admin = bearer("u-admin")
    everything = world.client.get("/v1/clinics/c1/recordings?limit=100", headers=admin).get_json()[
        "items"
    ]
    assert {"r1", "l1"} <= {item["id"] for item in everything}
    assert "leaseToken" not in everything[0]
    analysed = world.client.get(
        "/v1/clinics/c1/recordings?status=analyzed", headers=admin
    ).get_json()["items"]
    assert {item["id"] for item in analysed} == {"r1", "l1"}
    seen: list[str] = []
    url = "/v1/clinics/c1/recordings?patientId=p1&limit=1"
    while url:
        page = world.client.get(url, headers=admin).get_json()
        seen += [item["id"] for item in page["items"]]
        url = (
            f"/v1/clinics/c1/recordings?patientId=p1&limit=1&pageToken={page['nextPageToken']}"
            if page["nextPageToken"]
            else ""
        )
    assert len(seen) == len(set(seen)) and {"r1", "l1"} <= set(seen)
    created = [item["createdAt"] for item in everything]
    assert created == sorted(created, reverse=True)
    bad = world.client.get("/v1/clinics/c1/recordings?pageToken=%%%", headers=admin)
    assert bad.status_code == 422


def test_reanalysis_writes_a_new_analysis(world: World) -> None:
    clinician = bearer("u-clin")
    before = world.client.get("/v1/clinics/c1/recordings/r1", headers=clinician).get_json()
    done = world.client.post("/v1/clinics/c1/recordings/r1:reanalyze", headers=clinician).get_json()
    assert done["outcome"] == "analyzed" and done["status"] == "analyzed"
    assert done["analysisId"] != before["analysisId"]
    from backend.clients import firestore_client

    analyses = (
        firestore_client().document("clinics/c1/recordings/r1").collection("analyses").stream()
    )
    assert {before["analysisId"], done["analysisId"]} <= {a.id for a in analyses}


def test_bulk_reanalysis_runs_through_the_task_queue(world: World) -> None:
    from backend.clients import firestore_client

    def analysis_ids(clinic: str, recording: str) -> set[str]:
        ref = firestore_client().document(f"clinics/{clinic}/recordings/{recording}")
        return {a.id for a in ref.collection("analyses").stream()}

    before = {rec: analysis_ids("c1", rec) for rec in ("r1", world.lung)}
    counts = analysis_counts("c1")
    response = world.client.post("/v1/clinics/c1:reanalyze", headers=bearer("u-admin"))
    assert response.status_code == 202 and response.get_json()["enqueued"] >= 2
    wait_for_reanalysis("c1", counts)
    after = {rec: analysis_ids("c1", rec) for rec in before}
    assert all(len(after[rec]) > len(before[rec]) for rec in before), world.tasks.log_tail()
    assert analysis_ids("c2", "r2") == {ANALYSIS_VERSION}, "other clinics are untouched"


def test_report_and_fhir_carry_the_analysis_numbers(world: World) -> None:
    from fhir.resources.R4B.bundle import Bundle

    headers = bearer("u-clin")
    recording = world.client.get("/v1/clinics/c1/recordings/r1", headers=headers).get_json()
    rate = recording["summary"]["heartRateBpm"]
    png = world.client.get("/v1/clinics/c1/recordings/r1/report.png", headers=headers)
    assert png.headers["Content-Type"] == "image/png"
    description = Image.open(io.BytesIO(png.data)).text["Description"]
    assert f"Heart rate: {rate:.0f} bpm" in description
    pdf = world.client.get("/v1/clinics/c1/recordings/r1/report.pdf", headers=headers)
    assert pdf.data.startswith(b"%PDF") and f"Heart rate: {rate:.0f} bpm".encode() in pdf.data

    response = world.client.get("/v1/clinics/c1/recordings/r1/fhir", headers=headers)
    assert response.headers["Content-Type"] == "application/fhir+json"
    bundle = Bundle.model_validate(response.get_json())  # raises unless valid FHIR
    resources = {entry.resource.get_resource_type(): entry.resource for entry in bundle.entry}
    observations = [
        e.resource for e in bundle.entry if e.resource.get_resource_type() == "Observation"
    ]
    heart_rate = next(o for o in observations if o.code.coding[0].code == "8867-4")
    assert float(heart_rate.valueQuantity.value) == pytest.approx(rate)
    assert heart_rate.valueQuantity.unit == "/min" and heart_rate.subject.reference == "Patient/p1"
    murmur = next(o for o in observations if o.code.coding[0].code == "88610006")
    assert murmur.valueBoolean is recording["summary"]["murmur"]
    assert resources["Media"].content.contentType == "audio/wav"
    assert resources["Patient"].gender == "female"

    lung = world.client.get(
        f"/v1/clinics/c1/recordings/{world.lung}/fhir", headers=headers
    ).get_json()
    lung_rate = world.client.get(
        f"/v1/clinics/c1/recordings/{world.lung}", headers=headers
    ).get_json()
    codes = {
        e["resource"].get("code", {}).get("coding", [{}])[0].get("code"): e["resource"]
        for e in lung["entry"]
    }
    assert codes["9279-1"]["valueQuantity"]["value"] == pytest.approx(
        lung_rate["summary"]["respiratoryRateBpm"]
    )
    assert {"56018004", "48409008"} <= set(codes)


def test_audio_supports_ranges(world: World) -> None:
    headers = bearer("u-admin")
    whole = world.client.get("/v1/clinics/c1/recordings/r1/audio", headers=headers)
    assert whole.status_code == 200 and whole.data[:4] == b"RIFF"
    part = world.client.get(
        "/v1/clinics/c1/recordings/r1/audio", headers={**headers, "Range": "bytes=4-11"}
    )
    assert part.status_code == 206 and part.data == whole.data[4:12]
    assert part.headers["Content-Range"] == f"bytes 4-11/{len(whole.data)}"
    tail = world.client.get(
        "/v1/clinics/c1/recordings/r1/audio", headers={**headers, "Range": "bytes=-10"}
    )
    assert tail.data == whole.data[-10:]
    bad = world.client.get(
        "/v1/clinics/c1/recordings/r1/audio", headers={**headers, "Range": "bytes=999999999-"}
    )
    assert bad.status_code == 416


def test_members_management_keeps_an_admin(world: World) -> None:
    admin = bearer("u-admin")
    put = world.client.put(
        "/v1/clinics/c1/members/u-temp", json={"role": "clinician"}, headers=admin
    )
    assert put.status_code == 200 and put.get_json()["role"] == "clinician"
    assert world.client.delete("/v1/clinics/c1/members/u-temp", headers=admin).status_code == 204
    assert world.client.delete("/v1/clinics/c1/members/u-temp", headers=admin).status_code == 404
    last = world.client.delete("/v1/clinics/c1/members/u-admin", headers=admin)
    assert last.status_code == 409 and last.get_json()["code"] == "last_admin"


def test_cors_preflight_from_the_allowed_origin(world: World) -> None:
    preflight = world.client.options(
        "/v1/clinics/c1/recordings",
        headers={
            "Origin": "http://localhost:5173",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert preflight.headers.get("Access-Control-Allow-Origin") == "http://localhost:5173"
    other = world.client.options(
        "/v1/clinics/c1/recordings",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "Access-Control-Allow-Origin" not in other.headers
