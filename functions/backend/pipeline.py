"""The storage-triggered analysis: a finalized upload becomes a result in Firestore, exactly once.

Stop conditions first (not a recording path, a duplicate or late event, an older generation), then
the work: stream the object into the decoder, analyse it, and store the outcome — `analyzed`,
`rejected` for input that can never be analysed, or `failed` for faults worth retrying (the
sweeper re-drives those: Python storage triggers get no platform retry).
"""

from __future__ import annotations

import traceback
from typing import TYPE_CHECKING, Any, cast

from backend import blobs, recordings
from backend.clients import firestore_client
from backend.logs import log
from backend.objects import StoredObject
from backend.recordings import Claim, Skip
from backend.settings import Settings, get_settings

if TYPE_CHECKING:
    from backend.documents import ExamSiteStatus
    from stethoscope.arrays import FloatArray
    from stethoscope.result import AnalysisResult
    from stethoscope.sites import Kind


def process_storage_event(data: Any) -> str:
    """Entry from the storage trigger (`StorageObjectData`); returns the outcome, for logs."""
    return process_object(StoredObject.from_event_data(data))


def process_object(
    obj: StoredObject, *, redrive: bool = False, settings: Settings | None = None
) -> str:
    """Analyse one object generation if it is a recording and nobody has (or is) already."""
    settings = settings or get_settings()
    location = obj.location()
    if location is None:
        log("ignored", message=f"not a recording path: {obj.name}", path=obj.name)
        return "ignored"
    clinic_id, recording_id = location
    context = {
        "clinicId": clinic_id,
        "recordingId": recording_id,
        "generation": str(obj.generation),
    }
    log("event", size=obj.size, redrive=redrive, context=context)
    db = firestore_client()
    claimed = recordings.claim(
        db, clinic_id, recording_id, obj, redrive=redrive, max_attempts=settings.sweep_max_attempts
    )
    if isinstance(claimed, Skip):
        log("skipped", message=f"skipped: {claimed.reason}", reason=claimed.reason, context=context)
        if claimed.reason == "patient_erased":  # erasure is final: late uploads are deleted too
            from backend.patients import delete_objects

            delete_objects(obj.bucket, obj.name)
        return claimed.reason
    log("claimed", attempt=claimed.recording.attempts, context=context)
    declared = claimed.recording.declared_crc32c
    if declared and obj.crc32c and declared != obj.crc32c:
        outcome = _reject(
            claimed,
            "checksum_mismatch",
            "The uploaded audio differs from what the recording laptop sent (CRC32C "
            f"{obj.crc32c}, declared {declared}); upload the take again.",
            context,
        )
        result = None
    elif obj.size > settings.max_upload_bytes:
        outcome = _reject(
            claimed,
            "too_large",
            f"{obj.size} bytes; the limit is {settings.max_upload_bytes}",
            context,
        )
        result = None
    else:
        outcome, result = _analyse(claimed, obj, settings, context)
    if claimed.recording.exam_id and outcome in ("analyzed", "rejected", "failed"):
        exhausted = claimed.recording.attempts >= settings.sweep_max_attempts
        status: ExamSiteStatus = (
            "rejected" if outcome == "failed" and exhausted else cast("ExamSiteStatus", outcome)
        )
        _update_exam(claimed, status, result, context)
    return outcome


def _update_exam(
    claimed: Claim,
    status: ExamSiteStatus,
    result: AnalysisResult | None,
    context: dict[str, str],
) -> None:
    """Store this site's outcome in its exam and recompute the assessment (a failure here is
    logged: the recording's own outcome is already stored; completing the exam reassesses)."""
    from backend.exams import record_site_result

    exam_id = str(claimed.recording.exam_id)
    try:
        exam = record_site_result(
            firestore_client(),
            claimed.clinic_id,
            exam_id,
            str(claimed.recording.site),
            claimed.recording_id,
            status,
            result if status == "analyzed" else None,
        )
    except Exception:
        log(
            "exam_error",
            severity="ERROR",
            traceback=traceback.format_exc(limit=8),
            examId=exam_id,
            context=context,
        )
        return
    if exam is not None:
        log("exam_assessed", examId=exam_id, status=exam.status, context=context)


def _analyse(
    claimed: Claim, obj: StoredObject, settings: Settings, context: dict[str, str]
) -> tuple[str, AnalysisResult | None]:
    """Decode, analyse and store; the outcome and, when analysed, the result."""
    from google.api_core import exceptions as gcloud_errors

    from stethoscope import AnalysisInputError
    from stethoscope.analysis import analyze_file_detailed

    kind = claimed.recording.kind or "heart"
    db = firestore_client()
    try:
        with blobs.open_for_reading(obj.bucket, obj.name, obj.generation) as reader:
            detailed = analyze_file_detailed(reader, kind)  # decoded straight to the analysis rate
        result = detailed.result
    except AnalysisInputError as exc:
        return _reject(claimed, exc.code, exc.message, context), None
    except gcloud_errors.NotFound:
        missing = "the uploaded object no longer exists"
        return _reject(claimed, "object_missing", missing, context), None
    except (gcloud_errors.GoogleAPIError, OSError, TimeoutError) as exc:
        log(
            "storage_error",
            severity="WARNING",
            message=f"{type(exc).__name__}: {exc}",
            context=context,
        )
        message = "The recording could not be read from storage; the analysis will be retried."
        return _fail(claimed, "storage_unavailable", message, settings, context), None
    except Exception:
        log("error", severity="ERROR", traceback=traceback.format_exc(limit=8), context=context)
        message = "The analysis stopped on an internal error (logged); it will be retried."
        return _fail(claimed, "internal", message, settings, context), None
    _store_trace(claimed, obj, kind, detailed.samples, detailed.rate_hz, context)
    analysis_id = recordings.finish_analyzed(db, claimed, result)
    if analysis_id is None:
        log(
            "lease_lost",
            severity="WARNING",
            message="another run owns this recording now",
            context=context,
        )
        return "lease_lost", None
    log(
        "analyzed",
        analysisId=analysis_id,
        durationS=result.duration_s,
        usable=result.quality.usable,
        context=context,
    )
    return "analyzed", result


def _store_trace(
    claimed: Claim,
    obj: StoredObject,
    kind: Kind,
    samples: FloatArray,
    rate_hz: float,
    context: dict[str, str],
) -> None:
    """Draw and store the browser's trace from the signal already decoded, before the result is
    visible (a page that sees `analyzed` finds its trace). A failure is logged, not fatal: the
    API then draws the trace from the object."""
    from backend import traces
    from stethoscope.trace import compute_trace

    try:
        trace = traces.recording_trace(claimed.recording_id, kind, compute_trace(samples, rate_hz))
        traces.store_trace(
            firestore_client(), claimed.clinic_id, claimed.recording_id, obj.generation, trace
        )
    except Exception:
        log(
            "trace_error",
            severity="WARNING",
            traceback=traceback.format_exc(limit=8),
            context=context,
        )


def _reject(claimed: Claim, code: str, message: str, context: dict[str, str]) -> str:
    recordings.finish_rejected(firestore_client(), claimed, code, message)
    log(
        "rejected",
        severity="WARNING",
        message=f"rejected: {code}: {message}",
        code=code,
        context=context,
    )
    return "rejected"


def _fail(
    claimed: Claim, code: str, message: str, settings: Settings, context: dict[str, str]
) -> str:
    recordings.finish_failed(
        firestore_client(),
        claimed,
        code,
        message,
        max_attempts=settings.sweep_max_attempts,
        backoff_base_s=settings.sweep_backoff_base_s,
    )
    log(
        "failed", severity="ERROR", message=f"failed: {code}: {message}", code=code, context=context
    )
    return "failed"
