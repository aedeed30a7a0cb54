"""Bad input at the API: ids that Firestore or a path could misread, oversized headers, dates out
of range, a deleted object, chunked bodies. Every answer is a problem document, never a 5xx."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest

from backend.objects import StoredObject
from backend.pipeline import process_object
from scripts.stack import BUCKET, FunctionServer

from ..helpers import heart_wav, object_metadata, seed_recording, upload
from ..tokens import bearer
from .conftest import World
from .test_api import slot_body

pytestmark = pytest.mark.emulators

BAD_IDS = [".", "..", "%2e", "%2E%2E", "__r__", "__name__", "a%2Fb", "x" * 129, "%00", "a b"]
ROUTES = [
    "/v1/clinics/{id}/recordings",
    "/v1/clinics/c1/recordings/{id}",
    "/v1/clinics/c1/recordings/{id}/object",
    "/v1/clinics/c1/recordings/{id}/report.png",
    "/v1/clinics/c1/recordings/{id}/fhir",
    "/v1/clinics/c1/recordings/{id}/audio",
]


def _is_problem(response: object, *statuses: int) -> None:
    status = response.status_code  # type: ignore[attr-defined]
    assert status in statuses, f"{status}: {response.get_data(as_text=True)[:200]}"  # type: ignore[attr-defined]
    assert response.headers["Content-Type"] == "application/problem+json"  # type: ignore[attr-defined]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("bad", BAD_IDS)
def test_malformed_ids_are_refused_with_a_problem(world: World, route: str, bad: str) -> None:
    response = world.client.get(route.format(id=bad), headers=bearer("u-admin"))
    _is_problem(response, 404, 422)


@pytest.mark.parametrize("bad", ["__r__", "__name__", "a/b"])
def test_malformed_ids_in_member_routes_and_queries(world: World, bad: str) -> None:
    admin = bearer("u-admin")
    member = world.client.put(
        f"/v1/clinics/c1/members/{bad}", json={"role": "clinician"}, headers=admin
    )
    _is_problem(member, 404, 422)
    listed = world.client.get(
        "/v1/clinics/c1/recordings", query_string={"patientId": bad}, headers=admin
    )
    _is_problem(listed, 422)
    import base64

    token = base64.urlsafe_b64encode(bad.encode()).decode().rstrip("=")
    paged = world.client.get(
        "/v1/clinics/c1/recordings", query_string={"pageToken": token}, headers=admin
    )
    _is_problem(paged, 422)


LISTS = [
    "/v1/clinics/c1/recordings",
    "/v1/clinics/c1/patients",
    "/v1/clinics/c1/patients?q=bed",
    "/v1/clinics/c1/exams",
    "/v1/clinics/c1/audit",
]


@pytest.mark.parametrize("route", LISTS)
def test_every_list_pages_the_same_way(world: World, route: str) -> None:
    """One keyset-paging helper (backend/paging.py): a first page gives a token the next page
    accepts, and a well-formed token naming nothing that exists is 422, never a silent restart."""
    from backend.api.paging import encode_token

    admin = bearer("u-admin")
    sep = "&" if "?" in route else "?"
    first = world.client.get(f"{route}{sep}limit=1", headers=admin)
    assert first.status_code == 200, first.get_data(as_text=True)[:200]
    token = first.get_json()["nextPageToken"]
    if token is not None:
        following = world.client.get(f"{route}{sep}limit=1&pageToken={token}", headers=admin)
        assert following.status_code == 200
        assert following.get_json()["items"] != first.get_json()["items"]
    gone = world.client.get(f"{route}{sep}pageToken={encode_token('no-such-item')}", headers=admin)
    _is_problem(gone, 422)
    assert gone.get_json()["code"] == "invalid_page_token"


@pytest.mark.parametrize("uid", ["a/b", "..", "__r__"])
def test_token_uids_that_cannot_be_ids_are_unauthenticated(world: World, uid: str) -> None:
    response = world.client.get("/v1/clinics/c1/recordings", headers=bearer(uid))
    _is_problem(response, 401)


def test_absurd_range_header_is_416(world: World) -> None:
    recording = world.analyzed["c1"]
    response = world.client.get(
        f"/v1/clinics/c1/recordings/{recording}/audio",
        headers={**bearer("u-admin"), "Range": "bytes=" + "9" * 4300 + "-"},
    )
    _is_problem(response, 416)


@pytest.mark.parametrize(
    "when", ["9999-12-31T00:00:00+00:00", "0001-01-01T00:00:00+00:00", "1970-01-01T00:00:00+00:00"]
)
def test_recording_dates_out_of_range_are_refused(world: World, when: str) -> None:
    response = world.client.post(
        "/v1/clinics/c1/recordings",
        json=slot_body(client_id=f"date-{when[:4]}", recordedAt=when),
        headers=bearer("u-admin"),
    )
    _is_problem(response, 422)


def test_report_of_a_deleted_object_is_410(world: World) -> None:
    from backend.clients import firestore_client, storage_client

    db, bucket = firestore_client(), storage_client().bucket(BUCKET)
    seed_recording(db, "c1", "gone1")
    blob = upload(bucket, "c1", "gone1", heart_wav(6.0, 70.0), object_metadata())
    obj = StoredObject(
        BUCKET, blob.name, int(blob.generation), int(blob.size), metadata=blob.metadata
    )
    assert process_object(obj) == "analyzed"
    blob.delete()
    for fmt in ("png", "pdf"):
        response = world.client.get(
            f"/v1/clinics/c1/recordings/gone1/report.{fmt}", headers=bearer("u-admin")
        )
        _is_problem(response, 410)
        assert response.get_json()["code"] == "audio_gone"


@pytest.fixture(scope="module")
def api_server(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The `api` function under functions-framework's gunicorn, as the platform serves it."""
    server = FunctionServer("api", "http", dict(os.environ), tmp_path_factory.mktemp("api"))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def test_chunked_bodies_reach_the_api_and_keep_alive_survives(api_server: str) -> None:
    import json

    body = json.dumps(slot_body(client_id="chunked-1")).encode()

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(body), 17):
            yield body[i : i + 17]

    with httpx.Client(base_url=api_server, headers=bearer("u-upl"), timeout=30) as client:
        for attempt in range(5):
            created = client.post(
                "/v1/clinics/c1/recordings",
                content=chunks(),
                headers={"Content-Type": "application/json"},
            )
            assert "content-length" not in created.request.headers  # really chunked
            assert created.status_code in (200, 201), created.text
            # the next request on the same keep-alive connection is answered normally
            listed = client.get("/v1/clinics/c1/recordings", params={"limit": 1})
            assert listed.status_code == 200, f"attempt {attempt}: {listed.text[:200]}"


#: Paths holding control characters (percent-encoded, as a client sends them): the router in
#: front of the app cannot match a line feed at all; the others reach the app's id rule.
CONTROL_PATHS = [
    "/v1/clinics/c1/recordings/a%0Ab",
    "/v1/clinics/c1%0A/recordings",
    "/v1/%0A",
    "/%0A",
    "/v1/clinics/c1/recordings/a%0Db",
    "/v1/clinics/c1/recordings/a%09b",
    "/v1/clinics/c1/recordings/a%7Fb",
    "/v1/clinics/c1/recordings/a%00b",
    "/v1/clinics/c1/recordings/%0A/report.png",
    "/v1/clinics/c1/patients/%0A",
]


@pytest.mark.parametrize("path", CONTROL_PATHS)
def test_control_characters_in_the_path_get_a_problem(world: World, path: str) -> None:
    response = world.client.get(path, headers=bearer("u-admin"))
    _is_problem(response, 404, 422)


def test_control_characters_through_the_real_server(api_server: str) -> None:
    """The same paths through functions-framework under gunicorn, as the platform serves them."""
    with httpx.Client(base_url=api_server, headers=bearer("u-admin"), timeout=30) as client:
        for path in CONTROL_PATHS:
            response = client.get(path)
            assert response.status_code in (404, 422), f"{path}: {response.status_code}"
            assert response.headers["content-type"] == "application/problem+json", path
            assert response.json()["code"] in ("not_found", "validation_error"), path
        assert client.get("/v1/healthz").status_code == 200, "the connection is still good"


def test_is_valid_id_rule() -> None:
    from backend.documents import is_valid_id

    for good in ("c1", "pat_a6a2e9e5f67a88cf", "A-b_C", "_x", "x__", "__x", "x" * 128):
        assert is_valid_id(good), good
    for bad in (".", "..", "", "__r__", "__", "___", "a/b", "a\nb", "x" * 129, "é"):
        assert not is_valid_id(bad), bad
