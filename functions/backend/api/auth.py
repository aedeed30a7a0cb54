"""Who is calling: Firebase ID tokens (verified by firebase-admin) and clinic roles.

A caller who is not a member of the clinic gets 404 for everything under it, exactly as if the
clinic did not exist (no existence leak); a member whose role is not allowed gets 403.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Query, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from backend import paths
from backend.api import links
from backend.api.links import LinkScope
from backend.api.params import ClinicId, ExamId, RecordingId
from backend.api.problems import ApiError, not_found
from backend.clients import firestore_client
from backend.documents import Invitation, Member, Role, is_valid_id

if TYPE_CHECKING:
    from backend.api.schemas import Me

CLOCK_SKEW_S = 5.0


@dataclass(frozen=True)
class Caller:
    uid: str
    email: str | None
    email_verified: bool = False


@dataclass(frozen=True)
class ClinicAccess:
    clinic_id: str
    caller: Caller
    role: Role
    via_link: bool = False  # authorised by a media link (`?access=`), not an ID token


def _unauthenticated(detail: str) -> ApiError:
    return ApiError(401, "unauthenticated", "Authentication required", detail)


_bearer = HTTPBearer(auto_error=False, description="A Firebase ID token")


async def current_caller(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> Caller:
    """The verified Firebase user behind `Authorization: Bearer <ID token>`."""
    from firebase_admin import auth

    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise _unauthenticated("Send a Firebase ID token as `Authorization: Bearer <token>`.")
    token = credentials.credentials.strip()
    try:
        claims = await run_in_threadpool(auth.verify_id_token, token)
    except (ValueError, auth.InvalidIdTokenError, auth.CertificateFetchError,
            auth.UserDisabledError) as exc:  # fmt: skip
        raise _unauthenticated(f"The ID token was not accepted ({type(exc).__name__}).") from exc
    # firebase-admin skips the expiry check for emulator tokens; check it everywhere
    if float(claims.get("exp", 0)) < time.time() - CLOCK_SKEW_S:
        raise _unauthenticated("The ID token has expired; refresh it.")
    uid = str(claims.get("uid", ""))
    if not is_valid_id(uid):  # Firebase uids are 1-128 chars; ours must also be usable as doc ids
        raise _unauthenticated("This account's user id cannot be used here; ask an admin.")
    return Caller(
        uid=uid, email=claims.get("email"), email_verified=claims.get("email_verified") is True
    )


def member_role(clinic_id: str, uid: str) -> Role | None:
    snapshot = paths.member(firestore_client(), clinic_id, uid).get()
    if not snapshot.exists:
        return None
    return Member.model_validate(snapshot.to_dict()).role


async def _access(clinic_id: str, caller: Caller, roles: tuple[Role, ...]) -> ClinicAccess:
    role = await run_in_threadpool(member_role, clinic_id, caller.uid)
    if role is None:
        raise not_found("clinic")
    if role not in roles:
        raise ApiError(
            403, "forbidden", "Not allowed", f"This needs one of the roles: {', '.join(roles)}."
        )
    return ClinicAccess(clinic_id, caller, role)


def require_role(*roles: Role) -> Callable[..., object]:
    """Dependency: the caller is a member of `clinic_id` with one of `roles`."""

    async def dependency(
        clinic_id: ClinicId,
        caller: Annotated[Caller, Depends(current_caller)],
    ) -> ClinicAccess:
        return await _access(clinic_id, caller, roles)

    return dependency


ANY_MEMBER = require_role("admin", "clinician", "uploader")
CLINICAL = require_role("admin", "clinician")
ADMIN = require_role("admin")
CLINICAL_ROLES: tuple[Role, ...] = ("admin", "clinician")

_ACCESS_QUERY = Query(
    description="a media link's token (POST …/links) in place of the Authorization header"
)


async def _media_access(
    clinic_id: str,
    scope: LinkScope,
    target_id: str,
    token: str | None,
    credentials: HTTPAuthorizationCredentials | None,
) -> ClinicAccess:
    """A clinician or admin, by ID token or by a media link for this target; a link's user must
    still be a clinician or admin of the clinic (removal revokes their links)."""
    if token is None:
        return await _access(clinic_id, await current_caller(credentials), CLINICAL_ROLES)
    grant = links.verify(token, scope, clinic_id, target_id)
    role = await run_in_threadpool(member_role, clinic_id, grant.uid)
    if role not in CLINICAL_ROLES:
        raise ApiError(
            403, "link_revoked", "Link revoked", "The link's user no longer has access here."
        )
    return ClinicAccess(clinic_id, Caller(uid=grant.uid, email=None), role, via_link=True)


async def recording_media(
    clinic_id: ClinicId,
    recording_id: RecordingId,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    access: Annotated[str | None, _ACCESS_QUERY] = None,
) -> ClinicAccess:
    """Dependency of a recording's media routes: ID token or `?access=` link."""
    return await _media_access(clinic_id, "recording", recording_id, access, credentials)


async def exam_media(
    clinic_id: ClinicId,
    exam_id: ExamId,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    access: Annotated[str | None, _ACCESS_QUERY] = None,
) -> ClinicAccess:
    """Dependency of an exam's media routes: ID token or `?access=` link."""
    return await _media_access(clinic_id, "exam", exam_id, access, credentials)


def memberships_of(caller: Caller) -> Me:
    """Every clinic whose members/ holds the caller (members carry their uid as a field), and
    the pending invitations of the caller's email address to other clinics."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    from backend import invitations
    from backend.api.schemas import ClinicMembership, Me, PendingInvitation

    db = firestore_client()
    found = []
    query = db.collection_group("members").where(filter=FieldFilter("uid", "==", caller.uid))
    for snapshot in query.stream():
        clinic_ref = snapshot.reference.parent.parent
        if clinic_ref is None:
            continue
        role = Member.model_validate(snapshot.to_dict()).role
        found.append(
            ClinicMembership(clinic_id=clinic_ref.id, name=_clinic_name(clinic_ref.id), role=role)
        )
    member_of = {c.clinic_id for c in found}
    pending = [
        PendingInvitation(
            id=item.invitation_id,
            clinic_id=item.clinic_id,
            clinic_name=_clinic_name(item.clinic_id),
            role=item.invitation.role,
            expires_at=item.invitation.expires_at,
        )
        for item in (invitations.for_email(db, caller.email) if caller.email else [])
        if item.clinic_id not in member_of
        and invitations.status_of(item.invitation) == "pending"
        and may_accept(caller, item.invitation)
    ]
    return Me(
        uid=caller.uid,
        email=caller.email,
        clinics=sorted(found, key=lambda c: c.clinic_id),
        invitations=sorted(pending, key=lambda i: i.expires_at),
    )


def may_accept(caller: Caller, invitation: Invitation) -> bool:
    """Whether the caller's email address is good enough to take up an invitation sent to it:
    verified, or the account the invitation created (only the mailbox's owner can set its
    password), or anything where the settings do not ask for verification (local stack)."""
    from backend.documents import normal_email
    from backend.settings import get_settings

    if not caller.email or normal_email(caller.email) != invitation.email:
        return False
    return (
        caller.email_verified
        or invitation.invited_uid == caller.uid
        or not get_settings().invitations_require_verified_email
    )


def _clinic_name(clinic_id: str) -> str | None:
    clinic = paths.clinic(firestore_client(), clinic_id).get()
    name = (clinic.to_dict() or {}).get("name") if clinic.exists else None
    return name if isinstance(name, str) else None
