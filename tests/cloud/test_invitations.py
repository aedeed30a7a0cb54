"""Members and invitations against the real Auth emulator: a uid that is no account is refused,
an admin invites an email address, the invitee (a real emulator account, signed in through the
Auth REST API as the web app does) sees it in /v1/me and accepts it; revoked, expired, unverified
and foreign invitations are refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from ..conftest import Emulators, patched_env, sign_up
from ..tokens import bearer
from .conftest import World

pytestmark = pytest.mark.emulators
ADMIN = bearer("u-admin")
PASSWORD = "a-long-test-password"


def id_token_of(emulators: Emulators, email: str, password: str = PASSWORD) -> dict[str, str]:
    """Sign in with email and password (the Auth emulator's REST API, as the web app's SDK)."""
    response = httpx.post(
        f"http://{emulators.auth.host}/identitytoolkit.googleapis.com/v1/accounts:signInWithPassword",
        params={"key": "local-dev-key"},
        json={"email": email, "password": password, "returnSecureToken": True},
        timeout=30,
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['idToken']}"}


def invite(world: World, email: str, role: str = "clinician", headers: Any = ADMIN) -> Any:
    return world.client.post(
        "/v1/clinics/c1/invitations", json={"email": email, "role": role}, headers=headers
    )


def problem(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.get_json()["code"] == code


def test_a_uid_that_is_no_account_is_refused(world: World, emulators: Emulators) -> None:
    problem(
        world.client.put(
            "/v1/clinics/c1/members/u-ghost", json={"role": "uploader"}, headers=ADMIN
        ),
        422,
        "unknown_user",
    )
    uid = sign_up(emulators.auth, "real.person@clinic.example", PASSWORD)
    put = world.client.put(
        f"/v1/clinics/c1/members/{uid}",
        json={"role": "uploader", "email": "made-up@elsewhere.example"},
        headers=ADMIN,
    )
    assert put.status_code == 200, put.get_json()
    assert put.get_json()["email"] == "real.person@clinic.example", "the account's email"
    listed = world.client.get("/v1/clinics/c1/members", headers=ADMIN).get_json()
    assert {"uid": uid, "email": "real.person@clinic.example", "role": "uploader"}.items() <= next(
        m for m in listed if m["uid"] == uid
    ).items()


def test_invitation_of_an_existing_account_end_to_end(world: World, emulators: Emulators) -> None:
    uid = sign_up(emulators.auth, "nurse.one@clinic.example", PASSWORD)
    before = datetime.now(UTC)
    made = invite(world, "Nurse.One@Clinic.example ")
    assert made.status_code == 422, "whitespace is not an address"
    made = invite(world, "Nurse.One@Clinic.example")
    assert made.status_code == 201, made.get_json()
    invitation = made.get_json()
    assert invitation["email"] == "nurse.one@clinic.example" and invitation["role"] == "clinician"
    assert invitation["status"] == "pending" and invitation["signInLink"] is None
    assert invitation["clinicId"] == "c1" and invitation["createdBy"] == "u-admin"
    expires = datetime.fromisoformat(invitation["expiresAt"])
    assert (
        timedelta(days=7) - timedelta(minutes=1) < expires - before < timedelta(days=7, minutes=1)
    )
    problem(invite(world, "nurse.one@clinic.example", "admin"), 409, "already_invited")
    problem(invite(world, "x@clinic.example", headers=bearer("u-clin")), 403, "forbidden")

    listed = world.client.get("/v1/clinics/c1/invitations", headers=ADMIN)
    assert invitation["id"] in [i["id"] for i in listed.get_json()]
    problem(world.client.get("/v1/clinics/c1/invitations", headers=bearer("u-clin")), 403,
            "forbidden")  # fmt: skip

    nurse = id_token_of(emulators, "nurse.one@clinic.example")
    me = world.client.get("/v1/me", headers=nurse).get_json()
    assert me["uid"] == uid and me["clinics"] == []
    assert me["invitations"] == [
        {
            "id": invitation["id"],
            "clinicId": "c1",
            "clinicName": "Clinic c1",
            "role": "clinician",
            "expiresAt": invitation["expiresAt"],
        }
    ]
    # someone else cannot take it up, nor learn that it exists
    sign_up(emulators.auth, "someone.else@clinic.example", PASSWORD)
    thief = id_token_of(emulators, "someone.else@clinic.example")
    accept_url = f"/v1/invitations/{invitation['id']}/accept"
    problem(world.client.post(accept_url, headers=thief), 404, "not_found")
    assert world.client.get("/v1/me", headers=thief).get_json()["invitations"] == []

    accepted = world.client.post(accept_url, headers=nurse)
    assert accepted.status_code == 200, accepted.get_json()
    body = accepted.get_json()
    assert body["status"] == "accepted" and body["acceptedBy"] == uid and body["acceptedAt"]
    me = world.client.get("/v1/me", headers=nurse).get_json()
    assert me["clinics"] == [{"clinicId": "c1", "name": "Clinic c1", "role": "clinician"}]
    assert me["invitations"] == []
    assert world.client.get("/v1/clinics/c1/recordings", headers=nurse).status_code == 200
    problem(world.client.post(accept_url, headers=nurse), 409, "invitation_closed")
    problem(invite(world, "nurse.one@clinic.example"), 409, "already_member")
    problem(world.client.delete(f"/v1/clinics/c1/invitations/{invitation['id']}", headers=ADMIN),
            409, "invitation_closed")  # fmt: skip
    trail = world.client.get(
        "/v1/clinics/c1/audit", query_string={"uid": uid}, headers=ADMIN
    ).get_json()["items"]
    assert ("invitation.accept", "clinician") in [(e["action"], e["role"]) for e in trail]


def test_an_address_without_an_account_gets_one_and_a_sign_in_link(
    world: World, emulators: Emulators
) -> None:
    made = invite(world, "new.doctor@clinic.example", "admin")
    assert made.status_code == 201, made.get_json()
    link = made.get_json()["signInLink"]
    assert link, "a password-reset link for the created account"
    # the invitee follows the link: sets a password with its one-time code (Auth REST API)
    code = parse_qs(urlparse(link).query)["oobCode"][0]
    reset = httpx.post(
        f"http://{emulators.auth.host}/identitytoolkit.googleapis.com/v1/accounts:resetPassword",
        params={"key": "local-dev-key"},
        json={"oobCode": code, "newPassword": PASSWORD},
        timeout=30,
    )
    assert reset.status_code == 200, reset.text
    doctor = id_token_of(emulators, "new.doctor@clinic.example")
    # the account the invitation made is trusted even where verified emails are required
    with patched_env(STETH_INVITES_REQUIRE_VERIFIED_EMAIL="true"):
        invitation = world.client.get("/v1/me", headers=doctor).get_json()["invitations"][0]
        accepted = world.client.post(f"/v1/invitations/{invitation['id']}/accept", headers=doctor)
        assert accepted.status_code == 200, accepted.get_json()
    assert world.client.get("/v1/me", headers=doctor).get_json()["clinics"][0]["role"] == "admin"


def test_verification_revocation_and_expiry(world: World, emulators: Emulators) -> None:
    from firebase_admin import auth

    from backend.clients import firestore_client

    uid = sign_up(emulators.auth, "locum@clinic.example", PASSWORD)
    first = invite(world, "locum@clinic.example", "uploader").get_json()
    locum = id_token_of(emulators, "locum@clinic.example")
    accept_url = f"/v1/invitations/{first['id']}/accept"
    with patched_env(STETH_INVITES_REQUIRE_VERIFIED_EMAIL="true"):
        assert world.client.get("/v1/me", headers=locum).get_json()["invitations"] == []
        problem(world.client.post(accept_url, headers=locum), 403, "email_not_verified")
    revoke_url = f"/v1/clinics/c1/invitations/{first['id']}"
    assert world.client.delete(revoke_url, headers=ADMIN).status_code == 204
    assert world.client.delete(revoke_url, headers=ADMIN).status_code == 204, "idempotent"
    problem(world.client.delete("/v1/clinics/c1/invitations/inv_none", headers=ADMIN), 404,
            "not_found")  # fmt: skip
    problem(world.client.post(accept_url, headers=locum), 409, "invitation_closed")
    assert world.client.get("/v1/me", headers=locum).get_json()["invitations"] == []

    second = invite(world, "locum@clinic.example", "uploader").get_json()
    assert second["id"] != first["id"]
    firestore_client().document(f"clinics/c1/invitations/{second['id']}").update(
        {"expiresAt": datetime.now(UTC) - timedelta(seconds=1)}
    )
    statuses = {
        i["id"]: i["status"]
        for i in world.client.get("/v1/clinics/c1/invitations", headers=ADMIN).get_json()
    }
    assert statuses[first["id"]] == "revoked" and statuses[second["id"]] == "expired"
    problem(world.client.post(f"/v1/invitations/{second['id']}/accept", headers=locum), 410,
            "invitation_expired")  # fmt: skip

    third = invite(world, "locum@clinic.example", "uploader").get_json()
    auth.update_user(uid, email_verified=True)
    verified = id_token_of(emulators, "locum@clinic.example")
    with patched_env(STETH_INVITES_REQUIRE_VERIFIED_EMAIL="true"):
        accepted = world.client.post(f"/v1/invitations/{third['id']}/accept", headers=verified)
        assert accepted.status_code == 200, accepted.get_json()
    listed = world.client.get("/v1/clinics/c1/invitations", headers=ADMIN).get_json()
    pending_first = [i["status"] == "pending" for i in listed]
    assert pending_first == sorted(pending_first, reverse=True)
