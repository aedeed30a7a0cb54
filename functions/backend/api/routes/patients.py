"""Patients: create, edit, find (record number or name prefix), history, FHIR export, erasure.

Every read and change is written to the audit trail. Any member may find a patient (staff who
record need the id); editing is for clinicians and admins; erasure for admins.
"""

from __future__ import annotations

import json
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from starlette.concurrency import run_in_threadpool

from backend import audit
from backend import patients as repo
from backend.api.auth import ADMIN, ANY_MEMBER, CLINICAL, ClinicAccess
from backend.api.paging import decode_token, encode_token
from backend.api.params import PatientId
from backend.api.problems import ApiError, Problem, not_found
from backend.api.schemas import (
    ErasureOut,
    ErasureRequest,
    ExamHistoryEntry,
    HistoryEntry,
    PatientHistory,
    PatientIn,
    PatientOut,
    PatientPage,
    PatientPatch,
)
from backend.clients import firestore_client
from backend.documents import Exam, Patient
from backend.recordings import now_utc
from backend.settings import get_settings

router = APIRouter(tags=["patients"])
PROBLEMS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem} for code in (401, 403, 404, 409, 410, 422)
}


def _duplicate(exc: repo.DuplicateMrnError) -> ApiError:
    return ApiError(
        409,
        "duplicate_mrn",
        "Record number in use",
        f"This medical record number belongs to patient {exc.existing_patient_id}.",
    )


def _active(access: ClinicAccess, patient_id: str) -> Patient:
    """The patient, or 404; an erased patient is 410 (its tombstone is not patient data)."""
    patient = repo.get_patient(firestore_client(), access.clinic_id, patient_id)
    if patient is None:
        raise not_found("patient")
    if patient.status != "active":
        raise ApiError(
            410,
            "patient_erased",
            "Patient erased",
            f"The patient's data was erased ({patient.status}).",
        )
    return patient


@router.post(
    "/clinics/{clinic_id}/patients", response_model=PatientOut, status_code=201, responses=PROBLEMS
)
def create_patient(
    body: PatientIn, access: Annotated[ClinicAccess, Depends(CLINICAL)]
) -> PatientOut:
    """Add a patient; a record number already used in the clinic is refused (409 names the
    patient who has it)."""
    db = firestore_client()
    patient_id = f"pat_{secrets.token_hex(8)}"
    patient = Patient(**body.model_dump(), created_at=now_utc(), created_by=access.caller.uid)
    try:
        patient = repo.create_patient(db, access.clinic_id, patient_id, patient)
    except repo.DuplicateMrnError as exc:
        raise _duplicate(exc) from exc
    audit.record(db, access, "patient.create", f"patients/{patient_id}", patient_id=patient_id)
    return PatientOut(id=patient_id, **patient.model_dump())


@router.get("/clinics/{clinic_id}/patients", response_model=PatientPage, responses=PROBLEMS)
def find_patients(
    access: Annotated[ClinicAccess, Depends(ANY_MEMBER)],
    mrn: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=100, description="name prefix")] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
    page_token: Annotated[str | None, Query(alias="pageToken", max_length=200)] = None,
) -> PatientPage:
    """Find patients: `mrn` exact, or `q` a prefix of the name (case and accents ignored), or
    all (newest first). Erased patients are not listed."""
    db = firestore_client()
    settings = get_settings()
    size = min(limit or settings.default_page_size, settings.max_page_size)
    after = decode_token(page_token) if page_token else None
    if mrn is not None:
        found = repo.find_by_mrn(db, access.clinic_id, mrn)
    elif q is not None:
        found = repo.search_by_name(db, access.clinic_id, q, size + 1, after)
    else:
        found = repo.list_patients(db, access.clinic_id, size + 1, after)
    page = found[:size]
    token = encode_token(page[-1][0]) if len(found) > size else None
    items = [PatientOut(id=pid, **p.model_dump()) for pid, p in page if p.status != "erased"]
    query = f"mrn={mrn}" if mrn is not None else f"q={q}" if q is not None else "all"
    audit.record(db, access, "patient.search", "patients", detail=f"{query}; {len(items)} found")
    return PatientPage(items=items, next_page_token=token)


@router.get(
    "/clinics/{clinic_id}/patients/{patient_id}", response_model=PatientOut, responses=PROBLEMS
)
def get_patient(
    patient_id: PatientId, access: Annotated[ClinicAccess, Depends(ANY_MEMBER)]
) -> PatientOut:
    """One patient."""
    patient = _active(access, patient_id)
    audit.record(
        firestore_client(), access, "patient.read", f"patients/{patient_id}", patient_id=patient_id
    )
    return PatientOut(id=patient_id, **patient.model_dump())


@router.patch(
    "/clinics/{clinic_id}/patients/{patient_id}", response_model=PatientOut, responses=PROBLEMS
)
def edit_patient(
    patient_id: PatientId, body: PatientPatch, access: Annotated[ClinicAccess, Depends(CLINICAL)]
) -> PatientOut:
    """Change a patient's fields (a record number must stay unique)."""
    db = firestore_client()
    changes = body.model_dump(exclude_unset=True)
    try:
        patient = repo.update_patient(db, access.clinic_id, patient_id, changes, access.caller.uid)
    except LookupError as exc:
        raise not_found("patient") from exc
    except repo.PatientNotActiveError as exc:
        raise ApiError(410, "patient_erased", "Patient erased", "The patient was erased.") from exc
    except repo.DuplicateMrnError as exc:
        raise _duplicate(exc) from exc
    except ValueError as exc:  # the edited patient does not validate as a whole
        raise ApiError(422, "validation_error", "Invalid patient", str(exc)[:300]) from exc
    audit.record(
        db,
        access,
        "patient.update",
        f"patients/{patient_id}",
        patient_id=patient_id,
        detail=", ".join(sorted(changes)),
    )
    return PatientOut(id=patient_id, **patient.model_dump())


@router.get(
    "/clinics/{clinic_id}/patients/{patient_id}/history",
    response_model=PatientHistory,
    responses=PROBLEMS,
)
def patient_history(
    patient_id: PatientId, access: Annotated[ClinicAccess, Depends(CLINICAL)]
) -> PatientHistory:
    """The patient's recordings and exams over time, oldest first, with the figures a trend chart
    needs (heart rate, murmur, respiratory rate, wheeze, crackle, quality; exam assessments)."""
    db = firestore_client()
    patient = _active(access, patient_id)
    entries = [
        HistoryEntry(
            recording_id=rid,
            recorded_at=rec.recorded_at,
            kind=rec.kind,
            site=rec.site,
            status=rec.status,
            analysis_version=rec.analysis_version,
            summary=rec.summary,
        )
        for rid, rec in repo.patient_recordings(db, access.clinic_id, patient_id)
    ]
    exam_entries = [
        ExamHistoryEntry(
            exam_id=eid,
            created_at=exam.created_at,
            kind=exam.kind,
            protocol=exam.protocol,
            status=exam.status,
            assessment=exam.assessment,
            re_record=exam.re_record,
        )
        for eid, exam in reversed(_patient_exams(db, access.clinic_id, patient_id))
    ]
    audit.record(
        db, access, "patient.history", f"patients/{patient_id}/history", patient_id=patient_id
    )
    return PatientHistory(
        patient=PatientOut(id=patient_id, **patient.model_dump()),
        recordings=entries,
        exams=exam_entries,
    )


def _patient_exams(db: Any, clinic_id: str, patient_id: str) -> list[tuple[str, Exam]]:
    """The patient's exams, newest first (a patient has a bounded number of visits)."""
    from backend.exams import list_exams

    return list_exams(db, clinic_id, patient_id, 1000, None)


@router.get(
    "/clinics/{clinic_id}/patients/{patient_id}/fhir",
    response_class=Response,
    responses={200: {"content": {"application/fhir+json": {}}}, **PROBLEMS},
)
def patient_fhir(
    patient_id: PatientId, access: Annotated[ClinicAccess, Depends(CLINICAL)]
) -> Response:
    """A FHIR R4 Bundle: the Patient, one DiagnosticReport per analysed recording (with its
    Observations and the Media of its audio) and one per assessed exam (with its findings)."""
    from backend.api.routes.outputs import recording_fhir_resources
    from stethoscope.fhir import fhir_id

    db = firestore_client()
    patient = _active(access, patient_id)
    entries: list[dict[str, Any]] = []
    seen: set[str] = set()
    for rid, rec in repo.patient_recordings(db, access.clinic_id, patient_id):
        if rec.analysis_id is None:
            continue
        for resource in recording_fhir_resources(access.clinic_id, rid, rec, patient):
            key = f"{resource['resourceType']}/{resource['id']}"
            if key not in seen:
                seen.add(key)
                entries.append(
                    {
                        "fullUrl": f"urn:uuid:{resource['resourceType']}-{resource['id']}",
                        "resource": resource,
                    }
                )
    from backend.api.routes.exams import exam_fhir_bundle

    for exam_id, exam in _patient_exams(db, access.clinic_id, patient_id):
        if exam.assessment is None or exam.status == "cancelled":
            continue
        bundle_of_exam = exam_fhir_bundle(access.clinic_id, exam_id, exam, patient, None)
        for entry in bundle_of_exam["entry"]:
            resource = entry["resource"]
            key = f"{resource['resourceType']}/{resource['id']}"
            if key not in seen:
                seen.add(key)
                entries.append(entry)
    if not entries:  # no analysed recording yet: the Patient alone
        from stethoscope.fhir import patient_resource

        resource = patient_resource(
            access.clinic_id,
            patient_id,
            patient.sex,
            patient.birth_year,
            patient.mrn,
            patient.display_name,
        )
        entries.append({"fullUrl": f"urn:uuid:Patient-{resource['id']}", "resource": resource})
    bundle = {
        "resourceType": "Bundle",
        "id": fhir_id(f"{patient_id}-history"),
        "type": "collection",
        "timestamp": now_utc().isoformat(),
        "entry": entries,
    }
    audit.record(db, access, "patient.fhir", f"patients/{patient_id}/fhir", patient_id=patient_id)
    return Response(json.dumps(bundle), media_type="application/fhir+json")


@router.delete(
    "/clinics/{clinic_id}/patients/{patient_id}", response_model=ErasureOut, responses=PROBLEMS
)
async def erase_patient(
    patient_id: PatientId,
    body: ErasureRequest,
    response: Response,
    access: Annotated[ClinicAccess, Depends(ADMIN)],
) -> ErasureOut:
    """Erase the patient and all its data (GDPR art. 17): recordings, analyses, exams, every
    generation of the audio. 200 when done, 202 while it goes on in the background (the sweeper
    resumes it). Idempotent: asking again reports the same outcome."""
    if body.confirm != patient_id:
        raise ApiError(
            422,
            "confirmation_mismatch",
            "Confirm the erasure",
            "`confirm` must repeat the patient id.",
        )
    db = firestore_client()
    try:
        started = await run_in_threadpool(
            repo.begin_erasure, db, access.clinic_id, patient_id, access.caller.uid
        )
    except LookupError as exc:
        raise not_found("patient") from exc
    if started.status == "erasing":
        await run_in_threadpool(
            audit.record,
            db,
            access,
            "patient.erase",
            f"patients/{patient_id}",
            patient_id=patient_id,
        )
    progress = await run_in_threadpool(
        repo.continue_erasure, db, get_settings().bucket, access.clinic_id, patient_id
    )
    if progress.status == "erased" and started.status == "erasing":
        await run_in_threadpool(
            repo.audit_completion, db, access.clinic_id, patient_id, progress.erasure
        )
    response.status_code = 200 if progress.status == "erased" else 202
    return ErasureOut(patient_id=patient_id, status=progress.status, erasure=progress.erasure)
