"""What the clinician web app needs from the API: compact traces for drawing, and short-lived
media links for `<audio>`/`<img>`/downloads. Real emulators, recordings analysed by the real
pipeline (the `world` fixture), the `api` function through functions-framework."""

from __future__ import annotations

import base64
import gzip
import json
import time
from typing import Any

import pytest

from backend.documents import Member

from ..conftest import patched_env
from ..tokens import bearer
from .conftest import NOW, World

pytestmark = pytest.mark.emulators
CLIN = bearer("u-clin")
ADMIN = bearer("u-admin")


def stored_traces(clinic: str, recording: str) -> list[str]:
    from backend.clients import firestore_client

    ref = firestore_client().document(f"clinics/{clinic}/recordings/{recording}")
    return [s.id for s in ref.collection("traces").stream()]


def audit_actions(world: World, uid: str) -> list[dict[str, Any]]:
    page = world.client.get(
        "/v1/clinics/c1/audit", query_string={"limit": 100, "uid": uid}, headers=ADMIN
    ).get_json()
    return list(page["items"])


def check_trace(body: dict[str, Any], kind: str, max_freq_hz: float, duration_s: float) -> None:
    assert body["kind"] == kind and body["durationS"] == pytest.approx(duration_s, abs=0.01)
    env = body["envelope"]
    assert 0 < len(env["min"]) == len(env["max"]) <= 4000
    assert len(env["min"]) * env["binS"] == pytest.approx(duration_s, abs=env["binS"])
    assert all(-1.0 <= lo <= hi <= 1.0 for lo, hi in zip(env["min"], env["max"], strict=True))
    assert max(max(env["max"]), -min(env["min"])) == 1.0
    assert all(round(v, 3) == v for v in env["max"][:50])
    spec = body["spectrogram"]
    cells = base64.b64decode(spec["db"])
    n_freqs = len(spec["freqsHz"])
    assert 0 < n_freqs <= 64 and len(cells) % n_freqs == 0
    frames = len(cells) // n_freqs
    assert frames <= 1500 and 0.02 <= spec["frameS"] <= 0.05
    assert frames * spec["frameS"] == pytest.approx(duration_s, abs=spec["frameS"])
    assert spec["freqsHz"][0] >= 50.0 and spec["freqsHz"][-1] <= max_freq_hz
    assert spec["dbMin"] < spec["dbMax"] and max(cells) > 200


def test_heart_and_lung_traces_are_stored_at_analysis_time(world: World) -> None:
    heart = world.client.get("/v1/clinics/c1/recordings/r1/trace", headers=CLIN)
    assert heart.status_code == 200, heart.get_json()
    assert heart.headers["Cache-Control"] == "private, no-store"
    check_trace(heart.get_json(), "heart", 1000.0, 10.0)  # heart runs at 2 kHz
    lung = world.client.get("/v1/clinics/c1/recordings/l1/trace", headers=CLIN)
    check_trace(lung.get_json(), "lung", 2000.0, 20.0)
    zipped = world.client.get(
        "/v1/clinics/c1/recordings/l1/trace", headers={**CLIN, "Accept-Encoding": "gzip, br"}
    )
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert len(zipped.data) < 0.8 * len(lung.data)
    assert json.loads(gzip.decompress(zipped.data)) == lung.get_json()
    assert lung.get_json()["recordingId"] == "l1"
    recording = world.client.get("/v1/clinics/c1/recordings/r1", headers=CLIN).get_json()
    assert stored_traces("c1", "r1") == [recording["generation"]], "written by the pipeline"
    entries = audit_actions(world, "u-clin")
    assert any(e["action"] == "recording.trace" and e["target"].startswith("recordings/r1")
               for e in entries)  # fmt: skip


def test_a_recording_without_a_stored_trace_is_drawn_from_its_object_and_stored(
    world: World,
) -> None:
    from backend.clients import firestore_client

    stored = world.client.get("/v1/clinics/c1/recordings/l1/trace", headers=CLIN).get_json()
    ref = firestore_client().document("clinics/c1/recordings/l1")
    for snapshot in ref.collection("traces").stream():  # as for a recording analysed before
        snapshot.reference.delete()
    redrawn = world.client.get("/v1/clinics/c1/recordings/l1/trace", headers=CLIN)
    assert redrawn.status_code == 200 and redrawn.get_json() == stored
    assert len(stored_traces("c1", "l1")) == 1, "stored for the next time"


def links_for(world: World, recording: str = "r1", headers: dict[str, str] = CLIN) -> Any:
    response = world.client.post(f"/v1/clinics/c1/recordings/{recording}/links", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_media_links_work_without_a_token_and_stream_ranges(world: World) -> None:
    before = time.time()
    links = links_for(world)
    assert set(links) == {"expiresAt", "audio", "reportPdf", "reportPng", "fhir", "trace"}
    from datetime import datetime

    expires = datetime.fromisoformat(links["expiresAt"]).timestamp()
    assert before + 590 <= expires <= time.time() + 601
    assert links["audio"].startswith("/v1/clinics/c1/recordings/r1/audio?access=")
    whole = world.client.get(links["audio"])
    assert whole.status_code == 200 and whole.headers["Accept-Ranges"] == "bytes"
    part = world.client.get(links["audio"], headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and len(part.data) == 100
    assert part.headers["Content-Range"] == f"bytes 0-99/{len(whole.data)}"
    assert part.data == whole.data[:100]
    assert world.client.get(links["trace"]).get_json()["recordingId"] == "r1"
    png = world.client.get(links["reportPng"])
    assert png.status_code == 200 and png.data[:4] == b"\x89PNG"
    pdf = world.client.get(links["reportPdf"] + "&download=1")
    assert pdf.status_code == 200 and pdf.data[:4] == b"%PDF"
    assert pdf.headers["Content-Disposition"] == 'attachment; filename="r1-report.pdf"'
    fhir = world.client.get(links["fhir"] + "&download=1")
    assert fhir.get_json()["resourceType"] == "Bundle"
    assert fhir.headers["Content-Disposition"] == 'attachment; filename="r1-fhir.json"'
    assert "Content-Disposition" not in world.client.get(links["fhir"]).headers
    via_link = [
        e for e in audit_actions(world, "u-clin") if (e.get("detail") or "").endswith("via link")
    ]
    assert {"recording.audio", "recording.report", "recording.fhir", "recording.trace"} <= {
        e["action"] for e in via_link
    }
    assert all(e["role"] == "clinician" for e in via_link)


def problem(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.get_json()["code"] == code


def test_expired_forged_and_misdirected_links_are_refused(world: World) -> None:
    from backend.api import links as media_links

    token = links_for(world)["audio"].split("access=")[1]
    base = "/v1/clinics/c1/recordings"
    payload, signature = token.split(".")
    forged = f"{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    problem(world.client.get(f"{base}/r1/audio?access={forged}"), 401, "invalid_link")
    problem(world.client.get(f"{base}/r1/audio?access=garbage"), 401, "invalid_link")
    # a token signed with the server's key for another user's purpose cannot be edited either
    other_payload = base64.urlsafe_b64encode(b"recording:c1:r1:u-admin:9999999999").decode()
    problem(world.client.get(f"{base}/r1/audio?access={other_payload}.{signature}"), 401,
            "invalid_link")  # fmt: skip
    problem(world.client.get(f"{base}/l1/audio?access={token}"), 403, "link_mismatch")
    problem(world.client.get(f"/v1/clinics/c1/exams/r1/fhir?access={token}"), 403, "link_mismatch")
    old, _ = media_links.issue("recording", "c1", "r1", "u-clin", now=time.time() - 601)
    problem(world.client.get(f"{base}/r1/audio?access={old}"), 401, "link_expired")
    # the token is the only credential: no fallback to a bearer token of someone else
    problem(world.client.get(f"{base}/r1/audio?access=garbage", headers=CLIN), 401, "invalid_link")


def test_removing_a_member_revokes_their_links(world: World) -> None:
    from backend.clients import firestore_client

    members = firestore_client().collection("clinics/c1/members")
    members.document("u-temp").set(Member(role="clinician", added_at=NOW).to_firestore())
    links = links_for(world, headers=bearer("u-temp"))
    assert world.client.get(links["trace"]).status_code == 200
    members.document("u-temp").set(Member(role="uploader", added_at=NOW).to_firestore())
    problem(world.client.get(links["trace"]), 403, "link_revoked")
    members.document("u-temp").delete()
    problem(world.client.get(links["audio"]), 403, "link_revoked")


def test_uploaders_get_no_links_and_no_traces(world: World) -> None:
    upl = bearer("u-upl")
    problem(world.client.post("/v1/clinics/c1/recordings/r1/links", headers=upl), 403, "forbidden")
    problem(world.client.get("/v1/clinics/c1/recordings/r1/trace", headers=upl), 403, "forbidden")
    problem(world.client.post("/v1/clinics/c1/recordings/nope/links", headers=CLIN), 404,
            "not_found")  # fmt: skip


def test_exam_links(world: World) -> None:
    created = world.client.post(
        "/v1/clinics/c1/exams", json={"patientId": "p1", "protocol": "heart-4"}, headers=CLIN
    )
    assert created.status_code == 201, created.get_json()
    exam = created.get_json()["id"]
    links = world.client.post(f"/v1/clinics/c1/exams/{exam}/links", headers=CLIN).get_json()
    assert set(links) == {"expiresAt", "reportPdf", "fhir"}
    pdf = world.client.get(links["reportPdf"] + "&download=1")
    assert pdf.status_code == 200 and pdf.data[:4] == b"%PDF"
    assert pdf.headers["Content-Disposition"] == f'attachment; filename="{exam}-report.pdf"'
    problem(world.client.get(links["fhir"]), 409, "not_assessed")  # passed auth: nothing yet
    token = links["reportPdf"].split("access=")[1].split("&")[0]
    problem(world.client.get(f"/v1/clinics/c1/recordings/r1/audio?access={token}"), 403,
            "link_mismatch")  # fmt: skip


def test_links_fail_closed_on_google_cloud_without_a_secret(world: World) -> None:
    from backend.settings import Settings

    assert Settings.from_env({"K_SERVICE": "api"}).link_secret is None
    assert Settings.from_env({}).link_secret, "a random key off Google Cloud"
    token = links_for(world)["trace"].split("access=")[1]
    with patched_env(K_SERVICE="api", STETH_LINK_SECRET=""):
        problem(world.client.post("/v1/clinics/c1/recordings/r1/links", headers=CLIN), 503,
                "links_unavailable")  # fmt: skip
        problem(world.client.get(f"/v1/clinics/c1/recordings/r1/trace?access={token}"), 503,
                "links_unavailable")  # fmt: skip
    with patched_env(STETH_LINK_SECRET="another key of more than thirty-two characters"):
        problem(world.client.get(f"/v1/clinics/c1/recordings/r1/trace?access={token}"), 401,
                "invalid_link")  # fmt: skip


def test_the_openapi_document_types_the_new_answers(world: World) -> None:
    spec = world.client.get("/v1/openapi.json").get_json()
    trace_200 = spec["paths"]["/v1/clinics/{clinic_id}/recordings/{recording_id}/trace"]["get"][
        "responses"
    ]["200"]
    assert trace_200["content"]["application/json"]["schema"]["$ref"].endswith("/RecordingTrace")
    for name in ("RecordingTrace", "MediaLinks", "ExamLinks", "Me", "PendingInvitation"):
        assert name in spec["components"]["schemas"], name
