"""Invitations by email (admins) and their acceptance (the invitee, signed in with that address).

There is no mail service: the admin tells the invitee to sign in to the web app, where `GET
/v1/me` lists the invitation. An address without an account gets one (random password, never
shown) and the answer carries `signInLink`, a Firebase password-reset link the admin hands over
privately; setting a password through it proves the mailbox is the invitee's.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from starlette.concurrency import run_in_threadpool

from backend import audit, invitations, paths
from backend.api.auth import ADMIN, Caller, ClinicAccess, current_caller, may_accept
from backend.api.params import InvitationId
from backend.api.problems import ApiError, Problem, not_found
from backend.api.routes.members import auth_unavailable
from backend.api.schemas import InvitationIn, InvitationOut, NewInvitation
from backend.clients import firestore_client
from backend.documents import Invitation, Member, normal_email
from backend.settings import get_settings

router = APIRouter(tags=["members"])
PROBLEMS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem} for code in (401, 403, 404, 409, 410, 422)
}


def _out(clinic_id: str, invitation_id: str, invitation: Invitation) -> InvitationOut:
    return InvitationOut(
        **{
            **invitation.model_dump(),
            "id": invitation_id,
            "clinic_id": clinic_id,
            "status": invitations.status_of(invitation),
        }
    )


def _invitation_error(exc: invitations.InvitationError) -> ApiError:
    if exc.code == "not_found":
        return not_found("invitation")
    status = 410 if exc.code == "invitation_expired" else 409
    return ApiError(status, exc.code, "Invitation not usable", exc.message)


@router.post(
    "/clinics/{clinic_id}/invitations",
    response_model=NewInvitation,
    status_code=201,
    responses={**PROBLEMS, 503: {"model": Problem}},
)
def invite(body: InvitationIn, access: Annotated[ClinicAccess, Depends(ADMIN)]) -> NewInvitation:
    """Invite an email address with a role, valid 7 days. If no account has the address, one is
    created and `signInLink` lets the invitee set its password. 409 `already_member` or
    `already_invited` (a pending invitation of that address exists: revoke it first)."""
    from firebase_admin import auth, exceptions

    db = firestore_client()
    email = normal_email(body.email)
    existing = invitations.pending_in_clinic(db, access.clinic_id, email)
    if existing is not None:
        raise ApiError(
            409,
            "already_invited",
            "Already invited",
            f"Invitation {existing} of {email} is pending; revoke it to invite again.",
        )
    sign_in_link = invited_uid = None
    try:
        try:
            user = auth.get_user_by_email(email)
        except auth.UserNotFoundError:
            user = auth.create_user(email=email, password=secrets.token_urlsafe(24))
            invited_uid = user.uid
            sign_in_link = auth.generate_password_reset_link(email)
    except ValueError as exc:
        raise ApiError(422, "invalid_email", "Invalid email", str(exc)) from exc
    except exceptions.FirebaseError as exc:
        raise auth_unavailable() from exc
    member = paths.member(db, access.clinic_id, user.uid).get()
    if member.exists:
        role = Member.model_validate(member.to_dict()).role
        raise ApiError(
            409, "already_member", "Already a member", f"{email} is already {role} of the clinic."
        )
    ttl = timedelta(seconds=get_settings().invitation_ttl_s)
    invitation_id, invitation = invitations.create_invitation(
        db, access.clinic_id, email, body.role, access.caller.uid, ttl, invited_uid
    )
    audit.record(
        db,
        access,
        "invitation.create",
        f"invitations/{invitation_id}",
        detail=body.role + (" (account created)" if invited_uid else ""),
    )
    out = _out(access.clinic_id, invitation_id, invitation)
    return NewInvitation(**out.model_dump(), sign_in_link=sign_in_link)


@router.get(
    "/clinics/{clinic_id}/invitations", response_model=list[InvitationOut], responses=PROBLEMS
)
def list_invitations(access: Annotated[ClinicAccess, Depends(ADMIN)]) -> list[InvitationOut]:
    """The clinic's latest 200 invitations: pending first, then newest first."""
    db = firestore_client()
    found = invitations.list_invitations(db, access.clinic_id)
    audit.record(db, access, "invitation.list", "invitations", detail=f"{len(found)}")
    return [_out(access.clinic_id, i, inv) for i, inv in found]


@router.delete(
    "/clinics/{clinic_id}/invitations/{invitation_id}", status_code=204, responses=PROBLEMS
)
def revoke_invitation(
    invitation_id: InvitationId, access: Annotated[ClinicAccess, Depends(ADMIN)]
) -> Response:
    """Revoke an invitation (idempotent); an accepted one cannot be (remove the member)."""
    db = firestore_client()
    try:
        revoked = invitations.revoke(db, access.clinic_id, invitation_id, access.caller.uid)
    except invitations.InvitationError as exc:
        raise _invitation_error(exc) from exc
    if revoked is None:
        raise not_found("invitation")
    audit.record(db, access, "invitation.revoke", f"invitations/{invitation_id}")
    return Response(status_code=204)


@router.post(
    "/invitations/{invitation_id}/accept", response_model=InvitationOut, responses=PROBLEMS
)
async def accept_invitation(
    invitation_id: InvitationId, caller: Annotated[Caller, Depends(current_caller)]
) -> InvitationOut:
    """Accept an invitation sent to the caller's email address: the caller becomes a member
    with its role. 404 if there is no such invitation for this address; 403
    `email_not_verified` where verification is required; 409 `invitation_closed` or
    `already_member`; 410 `invitation_expired`."""
    return await run_in_threadpool(_accept, invitation_id, caller)


def _accept(invitation_id: str, caller: Caller) -> InvitationOut:
    db = firestore_client()
    mine = [
        found
        for found in (invitations.for_email(db, caller.email) if caller.email else [])
        if found.invitation_id == invitation_id
    ]
    if not mine:
        raise not_found("invitation")  # none for this address: no hint that it exists elsewhere
    found = mine[0]
    if not may_accept(caller, found.invitation):
        raise ApiError(
            403,
            "email_not_verified",
            "Email not verified",
            "Verify your email address (the link Firebase sends), then accept again.",
        )
    try:
        accepted = invitations.accept(db, found, caller.uid, str(caller.email))
    except invitations.InvitationError as exc:
        raise _invitation_error(exc) from exc
    audit.append(
        db,
        found.clinic_id,
        caller.uid,
        accepted.role,
        "invitation.accept",
        f"invitations/{invitation_id}",
        detail=accepted.role,
    )
    return _out(found.clinic_id, invitation_id, accepted)
