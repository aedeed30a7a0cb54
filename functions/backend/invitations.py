"""Invitations by email: an admin invites an address to the clinic with a role; the person signs
in with that address and accepts, which makes them a member.

`clinics/{c}/invitations/{id}` (ids `inv_…`, unique across clinics). An invitation is found for
its invitee by a collection-group query on `email` (firestore.indexes.json), so `GET /v1/me` can
list them and `POST /v1/invitations/{id}/accept` needs no clinic id. Acceptance runs in one
transaction: still pending, not expired, the caller not yet a member → the member document is
created and the invitation marked accepted. Whether the caller's address is trustworthy (a
verified email, or the account the invitation itself created) is the API's decision
(backend/api/routes/invitations.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from backend import paths
from backend.documents import Invitation, InvitationStatus, Member, Role, normal_email
from backend.recordings import now_utc

if TYPE_CHECKING:
    from google.cloud import firestore

LIST_LIMIT = 200


class InvitationError(Exception):
    """An invitation cannot do what was asked; `code` is the API's problem code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class FoundInvitation:
    clinic_id: str
    invitation_id: str
    invitation: Invitation


def status_of(invitation: Invitation, now: datetime | None = None) -> InvitationStatus:
    """The status to report: a pending invitation past its expiry is `expired`."""
    if invitation.status == "pending" and invitation.expires_at <= (now or now_utc()):
        return "expired"
    return invitation.status


def pending_in_clinic(db: firestore.Client, clinic_id: str, email: str) -> str | None:
    """The id of a pending, unexpired invitation of `email` to the clinic, if any."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = paths.invitations(db, clinic_id).where(
        filter=FieldFilter("email", "==", normal_email(email))
    )
    for snapshot in query.stream():
        if status_of(Invitation.model_validate(snapshot.to_dict())) == "pending":
            return str(snapshot.id)
    return None


def create_invitation(
    db: firestore.Client,
    clinic_id: str,
    email: str,
    role: Role,
    created_by: str,
    ttl: timedelta,
    invited_uid: str | None = None,
) -> tuple[str, Invitation]:
    now = now_utc()
    invitation = Invitation(
        email=normal_email(email),
        role=role,
        created_at=now,
        created_by=created_by,
        expires_at=now + ttl,
        invited_uid=invited_uid,
    )
    invitation_id = f"inv_{uuid.uuid4().hex[:20]}"
    paths.invitation(db, clinic_id, invitation_id).create(invitation.to_firestore())
    return invitation_id, invitation


def list_invitations(db: firestore.Client, clinic_id: str) -> list[tuple[str, Invitation]]:
    """The clinic's latest invitations: pending ones first, then newest first."""
    from google.cloud import firestore as fs

    query = (
        paths.invitations(db, clinic_id)
        .order_by("createdAt", direction=fs.Query.DESCENDING)
        .limit(LIST_LIMIT)
    )
    found = [(s.id, Invitation.model_validate(s.to_dict())) for s in query.stream()]
    now = now_utc()
    return sorted(found, key=lambda item: status_of(item[1], now) != "pending")  # stable


def revoke(db: firestore.Client, clinic_id: str, invitation_id: str, uid: str) -> Invitation | None:
    """Revoke a pending (or expired) invitation; None if there is none with this id.
    Idempotent; an accepted invitation cannot be revoked (remove the member instead)."""
    ref = paths.invitation(db, clinic_id, invitation_id)
    snapshot = ref.get()
    if not snapshot.exists:
        return None
    invitation = Invitation.model_validate(snapshot.to_dict())
    if invitation.status == "accepted":
        raise InvitationError(
            "invitation_closed", "The invitation was accepted; remove the member instead."
        )
    if invitation.status == "revoked":
        return invitation
    now = now_utc()
    ref.update(Invitation.fields(status="revoked", revoked_at=now, revoked_by=uid))
    return invitation.model_copy(update={"status": "revoked", "revoked_at": now, "revoked_by": uid})


def for_email(db: firestore.Client, email: str) -> list[FoundInvitation]:
    """Every invitation of this address, in any clinic."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = db.collection_group("invitations").where(
        filter=FieldFilter("email", "==", normal_email(email))
    )
    found = []
    for snapshot in query.stream():
        clinic = snapshot.reference.parent.parent
        if clinic is not None:
            found.append(
                FoundInvitation(
                    clinic.id, snapshot.id, Invitation.model_validate(snapshot.to_dict())
                )
            )
    return found


def accept(db: firestore.Client, found: FoundInvitation, uid: str, email: str) -> Invitation:
    """Make `uid` a member with the invitation's role and mark it accepted, in one transaction."""
    from google.cloud import firestore as fs

    ref = paths.invitation(db, found.clinic_id, found.invitation_id)
    member_ref = paths.member(db, found.clinic_id, uid)

    @fs.transactional
    def run(transaction: fs.Transaction) -> Invitation:
        snapshot = ref.get(transaction=transaction)
        if not snapshot.exists:
            raise InvitationError("not_found", "No such invitation.")
        invitation = Invitation.model_validate(snapshot.to_dict())
        now = now_utc()
        status = status_of(invitation, now)
        if status == "expired":
            raise InvitationError(
                "invitation_expired", "The invitation has expired; ask an admin for a new one."
            )
        if status != "pending":
            raise InvitationError("invitation_closed", f"The invitation was {status}.")
        if member_ref.get(transaction=transaction).exists:
            raise InvitationError(
                "already_member", "You are already a member of this clinic; ask an admin to "
                "change your role instead."
            )  # fmt: skip
        member = Member(
            role=invitation.role,
            uid=uid,
            email=normal_email(email),
            added_at=now,
            added_by=invitation.created_by,
        )
        transaction.create(member_ref, member.to_firestore())
        transaction.update(
            ref, Invitation.fields(status="accepted", accepted_at=now, accepted_by=uid)
        )
        return invitation.model_copy(
            update={"status": "accepted", "accepted_at": now, "accepted_by": uid}
        )

    accepted: Invitation = run(db.transaction())
    return accepted
