"""Clinic members and their roles, managed by the clinic's admins."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Response

from backend import audit, paths
from backend.api.auth import ADMIN, ClinicAccess
from backend.api.params import MemberUid
from backend.api.problems import ApiError, Problem, not_found
from backend.api.schemas import MemberIn, MemberOut
from backend.clients import firestore_client
from backend.documents import Member
from backend.recordings import now_utc

if TYPE_CHECKING:
    from firebase_admin.auth import UserRecord

router = APIRouter(tags=["members"])
PROBLEMS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem} for code in (401, 403, 404, 409, 422)
}


@router.get("/clinics/{clinic_id}/members", response_model=list[MemberOut], responses=PROBLEMS)
def list_members(access: Annotated[ClinicAccess, Depends(ADMIN)]) -> list[MemberOut]:
    """Everyone in the clinic and their role."""
    members = [
        MemberOut(**{**Member.model_validate(s.to_dict()).model_dump(), "uid": s.id})
        for s in paths.members(firestore_client(), access.clinic_id).stream()
    ]
    audit.record(firestore_client(), access, "member.list", "members", detail=f"{len(members)}")
    return sorted(members, key=lambda m: (m.role, m.email or m.uid))


@router.put(
    "/clinics/{clinic_id}/members/{uid}",
    response_model=MemberOut,
    responses={**PROBLEMS, 503: {"model": Problem}},
)
def put_member(
    uid: MemberUid, body: MemberIn, access: Annotated[ClinicAccess, Depends(ADMIN)]
) -> MemberOut:
    """Add a member or change their role. The uid must be an existing account (422
    `unknown_user` otherwise; invite people without an account by email instead); the member's
    email is taken from the account."""
    account = account_of(uid)
    if account is None:
        raise ApiError(
            422,
            "unknown_user",
            "Unknown user",
            f"No account has the user id {uid!r}; invite the person by email instead.",
        )
    if uid == access.caller.uid and body.role != "admin":
        _require_another_admin(access.clinic_id, uid)
    member = Member(
        role=body.role,
        uid=uid,
        email=account.email,
        added_at=now_utc(),
        added_by=access.caller.uid,
    )
    paths.member(firestore_client(), access.clinic_id, uid).set(member.to_firestore())
    audit.record(firestore_client(), access, "member.update", f"members/{uid}", detail=body.role)
    return MemberOut(**member.model_dump())


@router.delete("/clinics/{clinic_id}/members/{uid}", status_code=204, responses=PROBLEMS)
def delete_member(uid: MemberUid, access: Annotated[ClinicAccess, Depends(ADMIN)]) -> Response:
    """Remove a member (the last admin cannot be removed)."""
    ref = paths.member(firestore_client(), access.clinic_id, uid)
    snapshot = ref.get()
    if not snapshot.exists:
        raise not_found("member")
    if Member.model_validate(snapshot.to_dict()).role == "admin":
        _require_another_admin(access.clinic_id, uid)
    ref.delete()
    audit.record(firestore_client(), access, "member.delete", f"members/{uid}")
    return Response(status_code=204)


def account_of(uid: str) -> UserRecord | None:
    """The Firebase Auth account with this uid, or None; 503 if Auth cannot be reached."""
    from firebase_admin import auth, exceptions

    try:
        return auth.get_user(uid)
    except auth.UserNotFoundError:
        return None
    except (exceptions.FirebaseError, ValueError) as exc:
        raise auth_unavailable() from exc


def auth_unavailable() -> ApiError:
    return ApiError(
        503, "auth_unavailable", "Accounts unavailable", "Firebase Auth could not be reached."
    )


def _require_another_admin(clinic_id: str, uid: str) -> None:
    from google.cloud.firestore_v1.base_query import FieldFilter

    admins = (
        paths.members(firestore_client(), clinic_id)
        .where(filter=FieldFilter("role", "==", "admin"))
        .select([])
        .stream()
    )
    if not any(snapshot.id != uid for snapshot in admins):
        raise ApiError(409, "last_admin", "Last admin", "A clinic must keep at least one admin.")
