"""The audit trail: one entry per API action on patient data or on the clinic, written only by the
backend (firestore.rules: admins read, no client writes), with the request id that ties it to the
request's logs. Entries survive a patient's erasure: they hold ids, not health data.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar
from datetime import datetime
from typing import TYPE_CHECKING

from backend.documents import AuditAction, AuditEntry, Role
from backend.logs import log

if TYPE_CHECKING:
    from google.cloud import firestore

    from backend.api.auth import ClinicAccess

#: The request being served (set by `RequestIdMiddleware`; "-" outside a request).
request_id: ContextVar[str] = ContextVar("request_id", default="-")
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:/-]{8,128}$")


def new_request_id(offered: str | None) -> str:
    """The caller's X-Request-Id if it is sane, else a fresh one."""
    if offered and _CLIENT_REQUEST_ID.fullmatch(offered):
        return offered
    return uuid.uuid4().hex


def audit_collection(db: firestore.Client, clinic_id: str) -> firestore.CollectionReference:
    collection: firestore.CollectionReference = (
        db.collection("clinics").document(clinic_id).collection("audit")
    )
    return collection


def record(
    db: firestore.Client,
    access: ClinicAccess,
    action: AuditAction,
    target: str,
    *,
    patient_id: str | None = None,
    detail: str | None = None,
) -> str:
    """Append one entry for the caller of this request (saying so when a media link authorised
    it). Returns the entry id."""
    if access.via_link:
        detail = "via link" if detail is None else f"{detail}; via link"
    return append(
        db,
        access.clinic_id,
        access.caller.uid,
        access.role,
        action,
        target,
        patient_id=patient_id,
        detail=detail,
    )


def append(
    db: firestore.Client,
    clinic_id: str,
    uid: str,
    role: Role,
    action: AuditAction,
    target: str,
    *,
    patient_id: str | None = None,
    detail: str | None = None,
    now: datetime | None = None,
) -> str:
    """Append one entry; its id sorts by time. Returns the entry id."""
    from backend.recordings import now_utc

    at = now or now_utc()
    entry = AuditEntry(
        at=at,
        uid=uid,
        role=role,
        action=action,
        target=target,
        patient_id=patient_id,
        request_id=request_id.get(),
        detail=detail,
    )
    entry_id = f"{at:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}"
    audit_collection(db, clinic_id).document(entry_id).create(entry.to_firestore())
    log(
        "audit",
        action=action,
        target=target,
        clinicId=clinic_id,
        uid=uid,
        requestId=entry.request_id,
    )
    return entry_id
