"""The clinic's audit trail, for its admins: who did what to which patient's data, and when."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from backend import audit
from backend.api.auth import ADMIN, ClinicAccess
from backend.api.paging import decode_token, encode_token
from backend.api.params import PatientIdQuery
from backend.api.problems import Problem
from backend.api.schemas import AuditEntryOut, AuditPage
from backend.clients import firestore_client
from backend.documents import valid_id
from backend.paging import start_after
from backend.settings import get_settings

router = APIRouter(tags=["audit"])
PROBLEMS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem} for code in (401, 403, 404, 422)
}


@router.get("/clinics/{clinic_id}/audit", response_model=AuditPage, responses=PROBLEMS)
def read_audit(
    access: Annotated[ClinicAccess, Depends(ADMIN)],
    patient_id: PatientIdQuery = None,
    uid: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
    page_token: Annotated[str | None, Query(alias="pageToken", max_length=200)] = None,
) -> AuditPage:
    """Entries newest first, optionally for one patient or one user. Reading is audited too."""
    from google.cloud import firestore
    from google.cloud.firestore_v1.base_query import FieldFilter

    settings = get_settings()
    size = min(limit or settings.default_page_size, settings.max_page_size)
    db = firestore_client()
    collection = audit.audit_collection(db, access.clinic_id)
    query: Any = collection
    if patient_id:
        query = query.where(filter=FieldFilter("patientId", "==", patient_id))
    if uid:
        query = query.where(filter=FieldFilter("uid", "==", valid_id(uid)))
    query = query.order_by("at", direction=firestore.Query.DESCENDING).limit(size + 1)
    query = start_after(query, collection, decode_token(page_token) if page_token else None)
    snapshots = list(query.stream())
    items = [AuditEntryOut.model_validate({**s.to_dict(), "id": s.id}) for s in snapshots[:size]]
    token = encode_token(snapshots[size - 1].id) if len(snapshots) > size else None
    audit.record(
        db,
        access,
        "audit.read",
        "audit",
        patient_id=patient_id,
        detail=f"uid={uid}" if uid else None,
    )
    return AuditPage(items=items, next_page_token=token)
