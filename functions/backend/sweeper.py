"""Re-drive analyses that failed or stalled: Python storage triggers get no platform retry.

Run on a schedule. Picks `failed` recordings whose retry time has come and `analyzing` ones whose
lease expired (the run died or timed out) — both found through the recordings' private lease
documents (`RecordingLease`, `recordings/{id}/private/lease`) — and runs the pipeline on them
again. Attempts are bounded for both (backed off in `recordings.finish_failed`; a run that
stalled `max_attempts` times is marked failed by `recordings.claim`); exhausted recordings have
no retry time and are never picked again. It also finds lost events: recordings still
`awaiting_upload` a while after their object arrived in the bucket.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from backend import blobs, paths
from backend.clients import firestore_client
from backend.documents import RecordingStatus
from backend.logs import log
from backend.objects import RECORDING_PATH, StoredObject, recording_path
from backend.pipeline import process_object
from backend.recordings import now_utc
from backend.settings import Settings, get_settings


@dataclass
class SweepReport:
    outcomes: dict[str, str] = field(default_factory=dict)  # recording path -> outcome


def sweep(settings: Settings | None = None, now: datetime | None = None) -> SweepReport:
    from google.cloud.firestore_v1.base_query import FieldFilter

    settings = settings or get_settings()
    now = now or now_utc()
    db = firestore_client()
    recordings = db.collection_group("recordings")
    leases = db.collection_group(paths.PRIVATE)  # recordings/{id}/private/lease, server only
    due = leases.where(filter=FieldFilter("nextAttemptAt", "<=", now))
    stalled = leases.where(filter=FieldFilter("leaseUntil", "<", now))
    report = SweepReport()
    for query in (due, stalled):
        for lease in query.limit(settings.sweep_batch_size).stream():
            snapshot = _recording_of(lease)
            obj = _object_of(snapshot, settings) if snapshot is not None else None
            if snapshot is not None and obj is not None:
                key = snapshot.reference.path
                report.outcomes[key] = process_object(obj, redrive=True, settings=settings)
    _sweep_lost_events(recordings, settings, now, report)
    _resume_erasures(db, settings, report)
    log("swept", count=len(report.outcomes))
    return report


def _resume_erasures(db: Any, settings: Settings, report: SweepReport) -> None:
    """Patients left `erasing` (a crash, or a request whose time budget ran out): go on."""
    from backend import patients

    for clinic_id, patient_id in patients.pending_erasures(db, settings.sweep_batch_size):
        progress = patients.continue_erasure(db, settings.bucket, clinic_id, patient_id)
        report.outcomes[f"clinics/{clinic_id}/patients/{patient_id}"] = progress.status
        if progress.status == "erased":
            patients.audit_completion(db, clinic_id, patient_id, progress.erasure)


def _recording_of(lease: Any) -> Any | None:
    """The recording document a lease belongs to; a lease left without one (its recording was
    deleted) is deleted too."""
    ref = lease.reference.parent.parent
    if ref is None or ref.parent.id != "recordings" or lease.id != paths.LEASE:
        return None
    snapshot = ref.get()
    if not snapshot.exists:
        lease.reference.delete()
        return None
    return snapshot


def _object_of(snapshot: Any, settings: Settings) -> StoredObject | None:
    """The object generation a recording document points at, read from the raw document so a
    malformed one still reaches the pipeline (whose claim then rejects it with a code)."""
    raw = snapshot.to_dict() or {}
    clinic_id, recording_id = snapshot.reference.parent.parent.id, snapshot.reference.id
    stored_path = raw.get("storagePath")
    name = recording_path(clinic_id, recording_id)
    if isinstance(stored_path, str) and RECORDING_PATH.match(stored_path):
        name = stored_path
    try:
        generation = int(raw.get("generation") or 0) or None
    except (TypeError, ValueError):
        generation = None
    found = blobs.stored_object(settings.bucket, name, generation)
    if found is not None:
        return found
    if generation is None:
        log("sweep_skipped", message=f"no object for {snapshot.reference.path}")
        return None
    # a vanished object still goes through the pipeline, which rejects it as missing
    size = raw.get("sizeBytes")
    return StoredObject(settings.bucket, name, generation, size if isinstance(size, int) else 0)


def _sweep_lost_events(
    recordings: Any, settings: Settings, now: datetime, report: SweepReport
) -> None:
    """`awaiting_upload` recordings whose upload window is still open or just closed and whose
    object exists: their finalize event was lost, so run the pipeline as the event would have."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    newest = now - timedelta(seconds=settings.sweep_lost_event_grace_s)
    oldest = now - timedelta(seconds=settings.upload_url_ttl_s + 3600)
    waiting = (
        recordings.where(filter=FieldFilter("status", "==", RecordingStatus.AWAITING_UPLOAD.value))
        .where(filter=FieldFilter("updatedAt", "<=", newest))
        .where(filter=FieldFilter("updatedAt", ">=", oldest))
    )
    # never-uploaded slots are scanned too (one metadata read each), so look a few batches deep
    for snapshot in waiting.limit(4 * settings.sweep_batch_size).stream():
        storage_path = (snapshot.to_dict() or {}).get("storagePath")
        if not isinstance(storage_path, str):
            continue
        obj = blobs.stored_object(settings.bucket, storage_path)
        if obj is not None:
            key = snapshot.reference.path
            report.outcomes[key] = process_object(obj, redrive=True, settings=settings)
