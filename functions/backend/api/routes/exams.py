"""Exams: a patient's multi-site auscultation, created before its takes are uploaded, completed
by the person recording, assessed in the cloud as its sites' analyses arrive."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from backend import audit, exams
from backend.api import links
from backend.api.auth import ANY_MEMBER, CLINICAL, ClinicAccess, exam_media
from backend.api.paging import decode_token, encode_token
from backend.api.params import ExamId, PatientIdQuery
from backend.api.problems import ApiError, Problem, not_found
from backend.api.routes.outputs import Download, attachment
from backend.api.schemas import ExamIn, ExamLinks, ExamOut, ExamPage
from backend.clients import firestore_client
from backend.documents import AuditAction, Exam, Patient
from backend.patients import get_patient
from backend.settings import get_settings

router = APIRouter(tags=["exams"])
PROBLEMS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem} for code in (401, 403, 404, 409, 410, 422)
}
MediaAccess = Annotated[ClinicAccess, Depends(exam_media)]


def _exam(access: ClinicAccess, exam_id: str) -> Exam:
    exam = exams.get_exam(firestore_client(), access.clinic_id, exam_id)
    if exam is None:
        raise not_found("exam")
    return exam


@router.post(
    "/clinics/{clinic_id}/exams", response_model=ExamOut, status_code=201, responses=PROBLEMS
)
def create_exam(body: ExamIn, access: Annotated[ClinicAccess, Depends(ANY_MEMBER)]) -> ExamOut:
    """Open an exam of a patient: `protocol` heart-4, lung-6 or lung-12, or explicit `sites`."""
    exam_id, exam, _ = _create(access, body, None)
    return ExamOut(id=exam_id, **exam.model_dump())


@router.put(
    "/clinics/{clinic_id}/exams/{exam_id}",
    response_model=ExamOut,
    status_code=201,
    responses=PROBLEMS,
)
def put_exam(
    exam_id: ExamId,
    body: ExamIn,
    response: Response,
    access: Annotated[ClinicAccess, Depends(ANY_MEMBER)],
) -> ExamOut:
    """Open an exam under an id the client made (the uploader does, to record offline): 201
    created, 200 if it exists with the same patient and sites, 409 if it holds another exam."""
    exam_id, exam, created = _create(access, body, exam_id)
    if not created:
        response.status_code = 200
    return ExamOut(id=exam_id, **exam.model_dump())


def _create(access: ClinicAccess, body: ExamIn, exam_id: str | None) -> tuple[str, Exam, bool]:
    db = firestore_client()
    patient = get_patient(db, access.clinic_id, body.patient_id)
    if patient is None:
        raise ApiError(422, "unknown_patient", "Unknown patient", "No such patient in this clinic.")
    if patient.status != "active":
        raise ApiError(410, "patient_erased", "Patient erased", "The patient's data was erased.")
    try:
        exam_id, exam, created = exams.create_exam(
            db,
            access.clinic_id,
            body.patient_id,
            body.protocol,
            body.sites,
            access.caller.uid,
            exam_id,
        )
    except exams.ExamError as exc:
        status = 409 if exc.code == "exam_conflict" else 422
        raise ApiError(status, exc.code, "Invalid exam", str(exc)) from exc
    if created:
        audit.record(db, access, "exam.create", f"exams/{exam_id}", patient_id=body.patient_id)
    return exam_id, exam, created


@router.get("/clinics/{clinic_id}/exams/{exam_id}", response_model=ExamOut, responses=PROBLEMS)
def get_exam(exam_id: ExamId, access: Annotated[ClinicAccess, Depends(ANY_MEMBER)]) -> ExamOut:
    """One exam: its sites, their takes and statuses, the assessment, what to re-record."""
    exam = _exam(access, exam_id)
    audit.record(
        firestore_client(), access, "exam.read", f"exams/{exam_id}", patient_id=exam.patient_id
    )
    return ExamOut(id=exam_id, **exam.model_dump())


@router.get("/clinics/{clinic_id}/exams", response_model=ExamPage, responses=PROBLEMS)
def list_exams(
    access: Annotated[ClinicAccess, Depends(ANY_MEMBER)],
    patient_id: PatientIdQuery = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
    page_token: Annotated[str | None, Query(alias="pageToken", max_length=200)] = None,
) -> ExamPage:
    """Exams newest first, optionally of one patient."""
    settings = get_settings()
    size = min(limit or settings.default_page_size, settings.max_page_size)
    after = decode_token(page_token) if page_token else None
    db = firestore_client()
    found = exams.list_exams(db, access.clinic_id, patient_id, size + 1, after)
    token = encode_token(found[size - 1][0]) if len(found) > size else None
    items = [ExamOut(id=eid, **e.model_dump()) for eid, e in found[:size]]
    audit.record(
        db, access, "exam.list", "exams", patient_id=patient_id, detail=f"{len(items)} listed"
    )
    return ExamPage(items=items, next_page_token=token)


@router.post(
    "/clinics/{clinic_id}/exams/{exam_id}:complete", response_model=ExamOut, responses=PROBLEMS
)
def complete_exam(exam_id: ExamId, access: Annotated[ClinicAccess, Depends(ANY_MEMBER)]) -> ExamOut:
    """No more takes: sites never recorded are skipped, and the exam is assessed as soon as every
    recorded site has its result (at once if they all have)."""
    return _set_status(access, exam_id, "complete", "exam.complete")


@router.post(
    "/clinics/{clinic_id}/exams/{exam_id}:cancel", response_model=ExamOut, responses=PROBLEMS
)
def cancel_exam(exam_id: ExamId, access: Annotated[ClinicAccess, Depends(ANY_MEMBER)]) -> ExamOut:
    """Abandon an open exam (its takes stay recordings of the patient)."""
    return _set_status(access, exam_id, "cancelled", "exam.cancel")


def _set_status(access: ClinicAccess, exam_id: str, status: str, action: AuditAction) -> ExamOut:
    db = firestore_client()
    try:
        exam = exams.set_status(db, access.clinic_id, exam_id, status, access.caller.uid)
    except exams.ExamError as exc:
        if exc.code == "unknown_exam":
            raise not_found("exam") from exc
        raise ApiError(409, exc.code, "Exam closed", str(exc)) from exc
    audit.record(db, access, action, f"exams/{exam_id}", patient_id=exam.patient_id)
    return ExamOut(id=exam_id, **exam.model_dump())


@router.get(
    "/clinics/{clinic_id}/exams/{exam_id}/report.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}, **PROBLEMS},
)
async def exam_report(exam_id: ExamId, access: MediaAccess, download: Download = False) -> Response:
    """One PDF for the exam: a row per site (a short waveform and its findings), the
    assessment, what to re-record, the analysis version and the decision-support note."""
    pdf = await run_in_threadpool(_render_exam, access, exam_id)
    return Response(
        pdf, media_type="application/pdf", headers=attachment(f"{exam_id}-report.pdf", download)
    )


def _render_exam(access: ClinicAccess, exam_id: str) -> bytes:
    from stethoscope.exam_report import SiteTrace, render_exam_report
    from stethoscope.fhir import exam_conclusion
    from stethoscope.result import AnalysisResult

    db = firestore_client()
    exam = _exam(access, exam_id)
    traces = []
    for site in exam.site_order:
        entry = exam.sites[site]
        result = None if entry.result is None else AnalysisResult.model_validate(entry.result)
        samples, rate = (
            _site_audio(access.clinic_id, entry.recording_id, exam.kind)
            if entry.recording_id and entry.status == "analyzed"
            else (None, 0.0)
        )
        traces.append(SiteTrace(site, entry.status, samples, rate, result))
    patient = get_patient(db, access.clinic_id, exam.patient_id)
    who = (patient.display_name or patient.label or patient.mrn) if patient else None
    title = f"{exam.kind.capitalize()} exam ({exam.protocol}), {who or exam.patient_id}"
    pdf = render_exam_report(
        traces,
        exam_conclusion(exam.assessment or {}),
        exam.re_record,
        title=title,
        version=exam.analysis_version,
    )
    audit.record(
        db, access, "exam.report", f"exams/{exam_id}/report.pdf", patient_id=exam.patient_id
    )
    return pdf


def _site_audio(clinic_id: str, recording_id: str, kind: str) -> tuple[Any, float]:
    """A site's audio at the analysis rate, streamed (bounded memory); (None, 0) if gone."""
    from google.api_core import exceptions as gcloud_errors

    from backend import blobs
    from backend.recordings import recording_ref
    from stethoscope import AnalysisInputError
    from stethoscope.analysis import analysis_rate_hz
    from stethoscope.audio import read_recording

    snapshot = recording_ref(firestore_client(), clinic_id, recording_id).get()
    raw = snapshot.to_dict() or {}
    path, generation = raw.get("storagePath"), raw.get("generation")
    if not isinstance(path, str) or not generation:
        return None, 0.0
    try:
        with blobs.open_for_reading(get_settings().bucket, path, int(generation)) as reader:
            audio = read_recording(reader, target_rate_hz=analysis_rate_hz(kind))  # type: ignore[arg-type]
    except (gcloud_errors.NotFound, AnalysisInputError):
        return None, 0.0
    return audio.samples, audio.sample_rate_hz


@router.get(
    "/clinics/{clinic_id}/exams/{exam_id}/fhir",
    response_class=Response,
    responses={200: {"content": {"application/fhir+json": {}}}, **PROBLEMS},
)
def exam_fhir(
    exam_id: ExamId, request: Request, access: MediaAccess, download: Download = False
) -> Response:
    """A FHIR R4 Bundle: the Patient, the exam's DiagnosticReport (its conclusion is the
    assessment) with an Observation per site finding, and each site's Media."""
    db = firestore_client()
    exam = _exam(access, exam_id)
    if exam.assessment is None:
        raise ApiError(
            409, "not_assessed", "Not assessed yet", "No site of the exam has been analysed yet."
        )
    patient = get_patient(db, access.clinic_id, exam.patient_id)
    report_url = str(request.url).split("?")[0].removesuffix("/fhir") + "/report.pdf"
    bundle = exam_fhir_bundle(access.clinic_id, exam_id, exam, patient, report_url)
    audit.record(db, access, "exam.fhir", f"exams/{exam_id}/fhir", patient_id=exam.patient_id)
    return Response(
        json.dumps(bundle),
        media_type="application/fhir+json",
        headers=attachment(f"{exam_id}-fhir.json", download),
    )


@router.post(
    "/clinics/{clinic_id}/exams/{exam_id}/links",
    response_model=ExamLinks,
    responses={**PROBLEMS, 503: {"model": Problem}},
)
def exam_links(exam_id: ExamId, access: Annotated[ClinicAccess, Depends(CLINICAL)]) -> ExamLinks:
    """Links to the exam's PDF report and FHIR bundle that work without an Authorization header
    for 10 minutes (as for recordings: POST …/recordings/{id}/links)."""
    exam = _exam(access, exam_id)
    token, expires_at = links.issue("exam", access.clinic_id, exam_id, access.caller.uid)
    base = f"/v1/clinics/{access.clinic_id}/exams/{exam_id}"
    audit.record(
        firestore_client(),
        access,
        "exam.links",
        f"exams/{exam_id}/links",
        patient_id=exam.patient_id,
        detail=f"until {expires_at.isoformat()}",
    )
    return ExamLinks(
        expires_at=expires_at,
        report_pdf=f"{base}/report.pdf?access={token}",
        fhir=f"{base}/fhir?access={token}",
    )


def exam_fhir_bundle(
    clinic_id: str, exam_id: str, exam: Exam, patient: Patient | None, report_url: str | None
) -> dict[str, Any]:
    """The exam's FHIR Bundle (the exam route, and each exam in a patient's export)."""
    from stethoscope.fhir import exam_bundle

    assert exam.assessment is not None
    return exam_bundle(
        clinic_id=clinic_id,
        exam_id=exam_id,
        patient_id=exam.patient_id,
        patient_sex=patient.sex if patient else None,
        patient_birth_year=patient.birth_year if patient else None,
        patient_mrn=patient.mrn if patient else None,
        patient_name=patient.display_name if patient else None,
        kind=exam.kind,
        assessed_at=(exam.assessed_at or exam.updated_at).isoformat(),
        assessment=exam.assessment,
        analysis_version=exam.analysis_version,
        report_url=report_url,
    )
