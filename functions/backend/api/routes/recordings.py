"""Recordings: register (upload slot), read, list, re-analyse."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from starlette.concurrency import run_in_threadpool

from backend import audit, blobs, exams, paths
from backend.api.auth import ADMIN, ANY_MEMBER, CLINICAL, ClinicAccess
from backend.api.paging import decode_token, encode_token
from backend.api.params import PatientIdQuery, RecordingId
from backend.api.problems import ApiError, Problem, not_found
from backend.api.schemas import (
    BulkReanalysisOut,
    ReanalysisOut,
    RecordingOut,
    RecordingPage,
    StoredObjectOut,
    UploadSlot,
    UploadSlotRequest,
)
from backend.clients import firestore_client
from backend.documents import RecordingStatus
from backend.paging import start_after
from backend.reanalysis import NotReanalysableError, enqueue_clinic_reanalysis, reanalyze
from backend.registration import RecordingRequest, RegistrationConflictError, register
from backend.settings import get_settings

router = APIRouter(tags=["recordings"])
PROBLEMS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem} for code in (401, 403, 404, 422)
}


def load_recording(clinic_id: str, recording_id: str) -> RecordingOut:
    snapshot = paths.recording(firestore_client(), clinic_id, recording_id).get()
    if not snapshot.exists:
        raise not_found("recording")
    return RecordingOut.model_validate({**(snapshot.to_dict() or {}), "id": snapshot.id})


@router.post(
    "/clinics/{clinic_id}/recordings",
    response_model=UploadSlot,
    status_code=201,
    responses={
        200: {"model": UploadSlot, "description": "already registered"},
        409: {"model": Problem},
        413: {"model": Problem},
        **PROBLEMS,
    },
)
def create_upload_slot(
    body: UploadSlotRequest,
    response: Response,
    access: Annotated[ClinicAccess, Depends(ANY_MEMBER)],
) -> UploadSlot:
    """Register a recording and get a create-only resumable upload URL for it (idempotent per
    `deviceId` + `clientRecordingId`)."""
    settings = get_settings()
    if body.size_bytes > settings.max_upload_bytes:
        raise ApiError(
            413,
            "too_large",
            "Recording too large",
            f"The limit is {settings.max_upload_bytes} bytes.",
        )
    patient = paths.patient(firestore_client(), access.clinic_id, body.patient_id).get()
    if not patient.exists:
        raise ApiError(
            422,
            "unknown_patient",
            "Unknown patient",
            f"No patient {body.patient_id} in this clinic.",
        )
    if (patient.to_dict() or {}).get("status", "active") != "active":
        raise ApiError(
            410,
            "patient_erased",
            "Patient erased",
            f"Patient {body.patient_id}'s data was erased; nothing more is accepted.",
        )
    request = RecordingRequest(
        clinic_id=access.clinic_id,
        client_recording_id=body.client_recording_id,
        device_id=body.device_id,
        patient_id=body.patient_id,
        site=body.site,
        kind=body.kind,
        recorded_at=body.recorded_at,
        size_bytes=body.size_bytes,
        created_by=access.caller.uid,
        exam_id=body.exam_id,
        audio_format=body.format,
        crc32c=body.crc32c,
    )
    db = firestore_client()
    if body.exam_id is not None:
        try:
            exams.check_take(
                exams.get_exam(db, access.clinic_id, body.exam_id),
                body.patient_id,
                body.site,
                body.kind,
            )
        except exams.ExamError as exc:
            raise ApiError(422, exc.code, "Take does not fit the exam", str(exc)) from exc
    try:
        registration = register(request, settings)
    except RegistrationConflictError as exc:
        raise ApiError(409, "conflict", "Client recording id reused", str(exc)) from exc
    if body.exam_id is not None:
        exams.attach(db, access.clinic_id, body.exam_id, body.site, registration.recording_id)
    if not registration.created:
        response.status_code = 200
    audit.record(
        firestore_client(),
        access,
        "recording.create",
        f"recordings/{registration.recording_id}",
        patient_id=body.patient_id,
    )
    return UploadSlot(
        recording_id=registration.recording_id,
        status=registration.recording.status,
        upload_url=registration.upload_url,
        expires_at=registration.expires_at,
    )


@router.get(
    "/clinics/{clinic_id}/recordings/{recording_id}",
    response_model=RecordingOut,
    responses=PROBLEMS,
)
def get_recording(
    recording_id: RecordingId, access: Annotated[ClinicAccess, Depends(ANY_MEMBER)]
) -> RecordingOut:
    """One recording: status, summary, error."""
    recording = load_recording(access.clinic_id, recording_id)
    audit.record(
        firestore_client(),
        access,
        "recording.read",
        f"recordings/{recording_id}",
        patient_id=recording.patient_id,
    )
    return recording


@router.get(
    "/clinics/{clinic_id}/recordings/{recording_id}/object",
    response_model=StoredObjectOut,
    responses=PROBLEMS,
)
def get_stored_object(
    recording_id: RecordingId, access: Annotated[ClinicAccess, Depends(ANY_MEMBER)]
) -> StoredObjectOut:
    """The uploaded object's size and CRC32C (404 until the upload is complete)."""
    recording = load_recording(access.clinic_id, recording_id)
    obj = blobs.stored_object(get_settings().bucket, recording.storage_path)
    if obj is None:
        raise not_found("uploaded object")
    audit.record(
        firestore_client(),
        access,
        "recording.object",
        f"recordings/{recording_id}/object",
        patient_id=recording.patient_id,
    )
    return StoredObjectOut(
        size_bytes=obj.size,
        crc32c=obj.crc32c or "",
        generation=str(obj.generation),
        content_type=obj.content_type,
        time_created=obj.time_created,
    )


@router.get("/clinics/{clinic_id}/recordings", response_model=RecordingPage, responses=PROBLEMS)
def list_recordings(
    access: Annotated[ClinicAccess, Depends(ANY_MEMBER)],
    patient_id: PatientIdQuery = None,
    status: Annotated[RecordingStatus | None, Query()] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
    page_token: Annotated[str | None, Query(alias="pageToken", max_length=200)] = None,
) -> RecordingPage:
    """Recordings of the clinic, newest first, optionally for one patient and/or one status."""
    from google.cloud import firestore
    from google.cloud.firestore_v1.base_query import FieldFilter

    settings = get_settings()
    size = min(limit or settings.default_page_size, settings.max_page_size)
    collection = paths.recordings(firestore_client(), access.clinic_id)
    query: Any = collection
    if patient_id:
        query = query.where(filter=FieldFilter("patientId", "==", patient_id))
    if status:
        query = query.where(filter=FieldFilter("status", "==", status.value))
    query = query.order_by("createdAt", direction=firestore.Query.DESCENDING).limit(size + 1)
    query = start_after(query, collection, decode_token(page_token) if page_token else None)
    snapshots = list(query.stream())
    items = [RecordingOut.model_validate({**s.to_dict(), "id": s.id}) for s in snapshots[:size]]
    token = encode_token(snapshots[size - 1].id) if len(snapshots) > size else None
    audit.record(
        firestore_client(),
        access,
        "recording.list",
        "recordings",
        patient_id=patient_id,
        detail=f"{len(items)} listed",
    )
    return RecordingPage(items=items, next_page_token=token)


@router.post(
    "/clinics/{clinic_id}/recordings/{recording_id}:reanalyze",
    response_model=ReanalysisOut,
    responses={409: {"model": Problem}, **PROBLEMS},
)
async def reanalyze_recording(
    recording_id: RecordingId, access: Annotated[ClinicAccess, Depends(CLINICAL)]
) -> ReanalysisOut:
    """Run the analysis again now, into a new analysis document."""
    try:
        done = await run_in_threadpool(reanalyze, access.clinic_id, recording_id)
    except LookupError as exc:
        raise not_found("recording") from exc
    except NotReanalysableError as exc:
        raise ApiError(409, "not_reanalysable", "Cannot re-analyse yet", str(exc)) from exc
    recording = done.recording
    await run_in_threadpool(
        audit.record,
        firestore_client(),
        access,
        "recording.reanalyze",
        f"recordings/{recording_id}",
        patient_id=recording.patient_id,
    )
    return ReanalysisOut(
        recording_id=recording_id,
        outcome=done.outcome,
        status=recording.status,
        analysis_id=recording.analysis_id,
    )


@router.post(
    "/clinics/{clinic_id}:reanalyze",
    response_model=BulkReanalysisOut,
    status_code=202,
    responses=PROBLEMS,
)
async def reanalyze_clinic(access: Annotated[ClinicAccess, Depends(ADMIN)]) -> BulkReanalysisOut:
    """Queue a re-analysis of every analysed or rejected recording of the clinic (Cloud Tasks)."""
    enqueued = await run_in_threadpool(enqueue_clinic_reanalysis, access.clinic_id)
    await run_in_threadpool(
        audit.record,
        firestore_client(),
        access,
        "clinic.reanalyze",
        "recordings",
        detail=f"{enqueued} enqueued",
    )
    return BulkReanalysisOut(enqueued=enqueued)
