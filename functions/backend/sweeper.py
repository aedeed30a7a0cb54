"""Re-drive analyses that failed or stalled: Python storage triggers get no platform retry.

Run on a schedule. Picks `failed` recordings whose retry time has come and `analyzing` ones whose
lease expired (the run died or timed out), and runs the pipeline on them again. Attempts are
bounded and backed off in `recordings.finish_failed`; exhausted recordings have no retry time and
are never picked again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from backend import blobs
from backend.clients import firestore_client
from backend.documents import Recording, RecordingStatus
from backend.logs import log
from backend.objects import StoredObject
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
    due = recordings.where(filter=FieldFilter("status", "==", RecordingStatus.FAILED.value)).where(
        filter=FieldFilter("nextAttemptAt", "<=", now)
    )
    stalled = recordings.where(
        filter=FieldFilter("status", "==", RecordingStatus.ANALYZING.value)
    ).where(filter=FieldFilter("leaseUntil", "<", now))
    report = SweepReport()
    for query in (due, stalled):
        for snapshot in query.limit(settings.sweep_batch_size).stream():
            recording = Recording.model_validate(snapshot.to_dict())
            key = snapshot.reference.path
            if recording.generation is None:
                continue
            generation = int(recording.generation)
            # a vanished object still goes through the pipeline, which rejects it as missing
            obj = blobs.stored_object(
                settings.bucket, recording.storage_path, generation
            ) or StoredObject(
                settings.bucket, recording.storage_path, generation, recording.size_bytes or 0
            )
            report.outcomes[key] = process_object(obj, redrive=True, settings=settings)
    log("swept", count=len(report.outcomes))
    return report
