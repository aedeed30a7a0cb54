"""What a clinician takes away from a recording: report (PNG/PDF), FHIR bundle, the audio."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from backend import audit, blobs, paths
from backend.api import links
from backend.api.auth import CLINICAL, ClinicAccess, recording_media
from backend.api.params import RecordingId
from backend.api.problems import ApiError, Problem, not_found
from backend.api.routes.recordings import load_recording
from backend.api.schemas import MediaLinks, RecordingOut
from backend.clients import firestore_client
from backend.documents import Analysis, Patient, Recording, RecordingTrace
from backend.objects import content_type
from backend.patients import get_patient
from backend.settings import get_settings

if TYPE_CHECKING:
    from stethoscope.fhir import RecordingContext
    from stethoscope.sites import Kind

router = APIRouter(tags=["outputs"])
PROBLEMS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem} for code in (401, 403, 404, 409, 410)
}
MediaAccess = Annotated[ClinicAccess, Depends(recording_media)]
Download = Annotated[
    bool, Query(description="1: answer with Content-Disposition: attachment (a file download)")
]
NO_STORE = {"Cache-Control": "private, no-store"}


def attachment(filename: str, download: bool) -> dict[str, str]:
    """Response headers: never cached; a named attachment when a download was asked for."""
    if not download:
        return dict(NO_STORE)
    return {**NO_STORE, "Content-Disposition": f'attachment; filename="{filename}"'}


_RANGE = re.compile(r"^bytes=(\d{0,19})-(\d{0,19})$")  # 19 digits: beyond any object size


def _analysed(access: ClinicAccess, recording_id: str) -> tuple[RecordingOut, Analysis]:
    """The recording and its latest completed analysis (still served while a re-analysis runs)."""
    recording = load_recording(access.clinic_id, recording_id)
    if recording.analysis_id is None:
        raise ApiError(
            409, "not_analyzed", "Not analysed yet", f"The recording is {recording.status.value}."
        )
    snapshot = paths.analysis(
        firestore_client(), access.clinic_id, recording_id, recording.analysis_id
    ).get()
    if not snapshot.exists:
        raise not_found("analysis")
    return recording, Analysis.model_validate(snapshot.to_dict())


def _render(access: ClinicAccess, recording_id: str, fmt: str) -> bytes:
    from google.api_core import exceptions as gcloud_errors

    from stethoscope import AnalysisInputError
    from stethoscope.analysis import analyze_file_detailed
    from stethoscope.report import render_report
    from stethoscope.result import AnalysisResult

    recording, analysis = _analysed(access, recording_id)
    stored = AnalysisResult.model_validate(analysis.result)
    try:
        # streamed and decimated while decoding: memory grows with the analysis rate only
        with blobs.open_for_reading(
            get_settings().bucket, recording.storage_path, int(analysis.generation)
        ) as reader:
            detailed = analyze_file_detailed(reader, stored.kind)
    except gcloud_errors.NotFound as exc:
        raise ApiError(
            410,
            "audio_gone",
            "Audio no longer stored",
            "The analysed audio was deleted or replaced; the report cannot be drawn.",
        ) from exc
    except AnalysisInputError as exc:
        raise ApiError(
            409, "audio_unreadable", "Audio cannot be read", "The stored audio cannot be decoded."
        ) from exc
    # draw the stored figures (they are what the clinician saw), over freshly computed signals
    detailed = type(detailed)(
        stored, detailed.samples, detailed.rate_hz, detailed.heart, detailed.lung
    )
    db = firestore_client()
    patient = get_patient(db, access.clinic_id, str(recording.patient_id))
    who = _patient_title(patient) or f"patient {recording.patient_id}"
    title = f"{stored.kind.capitalize()} auscultation, {recording.site}, {who}"
    audit.record(
        db,
        access,
        "recording.report",
        f"recordings/{recording_id}/report.{fmt}",
        patient_id=recording.patient_id,
    )
    return render_report(detailed, fmt, title=title)  # type: ignore[arg-type]


def _patient_title(patient: Patient | None) -> str | None:
    """How the report names the patient: name and record number, else the clinic's label."""
    if patient is None:
        return None
    name = patient.display_name or patient.label
    if name and patient.mrn:
        return f"{name} (MRN {patient.mrn})"
    return name or (f"MRN {patient.mrn}" if patient.mrn else None)


@router.get(
    "/clinics/{clinic_id}/recordings/{recording_id}/report.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}, **PROBLEMS},
)
async def report_png(recording_id: RecordingId, access: MediaAccess) -> Response:
    """The report figure as PNG."""
    return Response(
        await run_in_threadpool(_render, access, recording_id, "png"),
        media_type="image/png",
        headers=dict(NO_STORE),
    )


@router.get(
    "/clinics/{clinic_id}/recordings/{recording_id}/report.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}, **PROBLEMS},
)
async def report_pdf(
    recording_id: RecordingId, access: MediaAccess, download: Download = False
) -> Response:
    """The report as a one-page PDF (A4 landscape)."""
    return Response(
        await run_in_threadpool(_render, access, recording_id, "pdf"),
        media_type="application/pdf",
        headers=attachment(f"{recording_id}-report.pdf", download),
    )


@router.get(
    "/clinics/{clinic_id}/recordings/{recording_id}/fhir",
    response_class=Response,
    responses={200: {"content": {"application/fhir+json": {}}}, **PROBLEMS},
)
def fhir_export(
    recording_id: RecordingId, access: MediaAccess, download: Download = False
) -> Response:
    """A FHIR R4 Bundle: Patient, Media (the audio), Observations (rates, findings) and the
    DiagnosticReport that groups them."""
    import json

    from stethoscope.fhir import fhir_bundle
    from stethoscope.result import AnalysisResult

    recording, analysis = _analysed(access, recording_id)
    db = firestore_client()
    patient = get_patient(db, access.clinic_id, str(recording.patient_id))
    context = _fhir_context(access.clinic_id, recording_id, recording, patient)
    bundle = fhir_bundle(AnalysisResult.model_validate(analysis.result), context)
    audit.record(
        db,
        access,
        "recording.fhir",
        f"recordings/{recording_id}/fhir",
        patient_id=recording.patient_id,
    )
    return Response(
        json.dumps(bundle),
        media_type="application/fhir+json",
        headers=attachment(f"{recording_id}-fhir.json", download),
    )


def recording_fhir_resources(
    clinic_id: str, recording_id: str, recording: Recording, patient: Patient | None
) -> list[dict[str, Any]]:
    """One analysed recording's FHIR resources (for a patient's export)."""
    from stethoscope.fhir import recording_resources
    from stethoscope.result import AnalysisResult

    snapshot = paths.analysis(
        firestore_client(), clinic_id, recording_id, str(recording.analysis_id)
    ).get()
    if not snapshot.exists:
        return []
    result = AnalysisResult.model_validate(Analysis.model_validate(snapshot.to_dict()).result)
    return recording_resources(result, _fhir_context(clinic_id, recording_id, recording, patient))


def _fhir_context(
    clinic_id: str, recording_id: str, recording: Recording, patient: Patient | None
) -> RecordingContext:
    from stethoscope.fhir import RecordingContext

    return RecordingContext(
        clinic_id=clinic_id,
        recording_id=recording_id,
        patient_id=str(recording.patient_id),
        recorded_at=recording.recorded_at or recording.created_at,
        site=str(recording.site),
        device_id=str(recording.device_id),
        audio_url=f"gs://{get_settings().bucket}/{recording.storage_path}",
        size_bytes=recording.size_bytes,
        patient_sex=patient.sex if patient else None,
        patient_birth_year=patient.birth_year if patient else None,
        patient_mrn=patient.mrn if patient else None,
        patient_name=patient.display_name if patient else None,
    )


@router.get(
    "/clinics/{clinic_id}/recordings/{recording_id}/audio",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"audio/wav": {}, "audio/flac": {}}},
        206: {"content": {"audio/wav": {}, "audio/flac": {}}},
        416: {"model": Problem},
        **PROBLEMS,
    },
)
def audio(
    recording_id: RecordingId,
    access: MediaAccess,
    range_header: Annotated[str | None, Header(alias="Range")] = None,
) -> Response:
    """The recording's audio for playback, streamed, with HTTP Range support."""
    recording = load_recording(access.clinic_id, recording_id)
    obj = blobs.stored_object(get_settings().bucket, recording.storage_path)
    if obj is None:
        raise not_found("audio")
    audit.record(
        firestore_client(),
        access,
        "recording.audio",
        f"recordings/{recording_id}/audio",
        patient_id=recording.patient_id,
        detail=range_header,
    )
    size = obj.size
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "private, no-store"}
    if range_header is None:
        headers["Content-Length"] = str(size)
        return StreamingResponse(
            _chunks(obj.bucket, obj.name, obj.generation, 0, size - 1),
            media_type=content_type(obj.name),
            headers=headers,
        )
    start, end = _parse_range(range_header, size)
    headers |= {
        "Content-Range": f"bytes {start}-{end}/{size}",
        "Content-Length": str(end - start + 1),
    }
    return StreamingResponse(
        _chunks(obj.bucket, obj.name, obj.generation, start, end),
        status_code=206,
        media_type=content_type(obj.name),
        headers=headers,
    )


def _parse_range(header: str, size: int) -> tuple[int, int]:
    match = _RANGE.match(header.strip())
    if not match or match.groups() == ("", ""):
        raise ApiError(
            416, "range_not_satisfiable", "Bad Range", "Use a single `bytes=start-end` range."
        )
    first, last = match.groups()
    if first == "":
        start, end = max(0, size - int(last)), size - 1
    else:
        start, end = int(first), min(int(last) if last else size - 1, size - 1)
    if start > end or start >= size:
        raise ApiError(
            416, "range_not_satisfiable", "Range not satisfiable", f"The object has {size} bytes."
        )
    return start, end


def _chunks(bucket: str, name: str, generation: int, start: int, end: int) -> Iterator[bytes]:
    with blobs.open_for_reading(bucket, name, generation) as reader:
        reader.seek(start)
        remaining = end - start + 1
        while remaining > 0:
            chunk = reader.read(min(remaining, blobs.READ_CHUNK_BYTES))
            if not chunk:
                return
            remaining -= len(chunk)
            yield chunk


@router.get(
    "/clinics/{clinic_id}/recordings/{recording_id}/trace",
    response_class=Response,
    responses={
        200: {"model": RecordingTrace, "content": {"application/json": {}}},
        **PROBLEMS,
    },
)
def trace(
    recording_id: RecordingId,
    access: MediaAccess,
    accept_encoding: Annotated[str | None, Header(alias="Accept-Encoding")] = None,
) -> Response:
    """A compact drawing of the analysed audio for a browser: min/max envelope (waveform) and a
    quantised spectrogram. Stored at analysis time; drawn from the object (and stored) for
    recordings analysed before traces existed. The events to overlay are in the analysis.
    Gzip-encoded for clients that accept it (50-100 kB instead of 100-180 kB)."""
    import gzip

    from backend import traces

    recording, analysis = _analysed(access, recording_id)
    db = firestore_client()
    generation = int(analysis.generation)
    kind = recording.kind or "heart"
    stored = traces.load_trace_gzip(db, access.clinic_id, recording_id, generation)
    if stored is None:
        drawn = _redraw_trace(recording, recording_id, generation, kind)
        stored = traces.store_trace(db, access.clinic_id, recording_id, generation, drawn)
    audit.record(
        db,
        access,
        "recording.trace",
        f"recordings/{recording_id}/trace",
        patient_id=recording.patient_id,
    )
    headers = {**NO_STORE, "Vary": "Accept-Encoding"}
    if "gzip" in (accept_encoding or "").lower():
        headers["Content-Encoding"] = "gzip"
        return Response(stored, media_type="application/json", headers=headers)
    return Response(gzip.decompress(stored), media_type="application/json", headers=headers)


def _redraw_trace(
    recording: RecordingOut, recording_id: str, generation: int, kind: Kind
) -> RecordingTrace:
    from google.api_core import exceptions as gcloud_errors

    from backend import traces
    from stethoscope import AnalysisInputError

    try:
        return traces.read_and_trace(
            get_settings().bucket, recording.storage_path, generation, recording_id, kind
        )
    except gcloud_errors.NotFound as exc:
        raise ApiError(
            410, "audio_gone", "Audio no longer stored", "The analysed audio was deleted."
        ) from exc
    except AnalysisInputError as exc:
        raise ApiError(
            409, "audio_unreadable", "Audio cannot be read", "The stored audio cannot be decoded."
        ) from exc


@router.post(
    "/clinics/{clinic_id}/recordings/{recording_id}/links",
    response_model=MediaLinks,
    responses={**PROBLEMS, 503: {"model": Problem}},
)
def media_links(
    recording_id: RecordingId, access: Annotated[ClinicAccess, Depends(CLINICAL)]
) -> MediaLinks:
    """Links to the recording's audio, reports, FHIR bundle and trace that work without an
    Authorization header for 10 minutes (for `<audio>`, `<img>` and downloads), bound to this
    recording and to the caller, who must still be a clinician or admin when one is used."""
    load_recording(access.clinic_id, recording_id)  # 404 for a recording that does not exist
    token, expires_at = links.issue("recording", access.clinic_id, recording_id, access.caller.uid)
    base = f"/v1/clinics/{access.clinic_id}/recordings/{recording_id}"
    audit.record(
        firestore_client(),
        access,
        "recording.links",
        f"recordings/{recording_id}/links",
        detail=f"until {expires_at.isoformat()}",
    )
    return MediaLinks(
        expires_at=expires_at,
        audio=f"{base}/audio?access={token}",
        report_pdf=f"{base}/report.pdf?access={token}",
        report_png=f"{base}/report.png?access={token}",
        fhir=f"{base}/fhir?access={token}",
        trace=f"{base}/trace?access={token}",
    )
