"""Re-analysing recordings: one now (in the request), or a whole clinic through Cloud Tasks.

A re-analysis writes a new analysis document (`analyses/<version>-<n>`), never over an old one.
Bulk re-analysis (e.g. after an algorithm update) enqueues one task per recording on the
`reanalysis` queue function; locally, where there is no Cloud Tasks, the tasks are
POSTed to that same function served by functions-framework (`STETH_LOCAL_TASKS_URL`).
"""

from __future__ import annotations

import json
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from backend import blobs, paths
from backend.clients import firestore_client
from backend.documents import Recording, RecordingStatus
from backend.logs import log
from backend.objects import StoredObject
from backend.pipeline import process_object
from backend.settings import Settings, get_settings

REANALYSABLE = (RecordingStatus.ANALYZED, RecordingStatus.REJECTED, RecordingStatus.FAILED)


class NotReanalysableError(Exception):
    """The recording has no uploaded object yet, or an analysis is running."""


@dataclass(frozen=True)
class Reanalysis:
    outcome: str
    recording: Recording


def reanalyze(clinic_id: str, recording_id: str, settings: Settings | None = None) -> Reanalysis:
    """Run the analysis again now, into a new analysis document."""
    from google.cloud import firestore

    settings = settings or get_settings()
    db = firestore_client()
    ref = paths.recording(db, clinic_id, recording_id)

    @firestore.transactional
    def mark(transaction: firestore.Transaction) -> Recording | None:
        snapshot = ref.get(transaction=transaction)
        if not snapshot.exists:
            return None
        recording = Recording.model_validate(snapshot.to_dict())
        if recording.status not in REANALYSABLE or recording.generation is None:
            raise NotReanalysableError(f"the recording is {recording.status.value}")
        transaction.update(ref, Recording.fields(reanalysis_requested=True))
        return recording

    recording = mark(db.transaction())
    if recording is None:
        raise LookupError(recording_id)
    assert recording.generation is not None
    generation = int(recording.generation)
    obj = blobs.stored_object(settings.bucket, recording.storage_path, generation) or StoredObject(
        settings.bucket, recording.storage_path, generation, recording.size_bytes or 0
    )
    outcome = process_object(obj, redrive=True, settings=settings)
    return Reanalysis(outcome, Recording.model_validate(ref.get().to_dict()))


def enqueue_clinic_reanalysis(clinic_id: str, settings: Settings | None = None) -> int:
    """One task per analysed or rejected recording of the clinic; returns how many."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    settings = settings or get_settings()
    recordings = paths.recordings(firestore_client(), clinic_id)
    statuses = [s.value for s in (RecordingStatus.ANALYZED, RecordingStatus.REJECTED)]
    query = recordings.where(filter=FieldFilter("status", "in", statuses)).select([])
    ids = [snapshot.id for snapshot in query.stream()]
    enqueue = _local_enqueue(settings) if settings.local_tasks_url else _cloud_enqueue(settings)
    for recording_id in ids:
        enqueue({"clinicId": clinic_id, "recordingId": recording_id})
    log("reanalysis_enqueued", clinicId=clinic_id, count=len(ids))
    return len(ids)


def reanalyze_from_task(data: dict[str, Any]) -> None:
    """The queue function's body."""
    clinic_id, recording_id = str(data["clinicId"]), str(data["recordingId"])
    try:
        result = reanalyze(clinic_id, recording_id)
    except (LookupError, NotReanalysableError) as exc:
        log("reanalysis_skipped", clinicId=clinic_id, recordingId=recording_id, reason=str(exc))
        return
    log("reanalysed", clinicId=clinic_id, recordingId=recording_id, outcome=result.outcome)


def _cloud_enqueue(settings: Settings) -> Any:
    from firebase_admin import functions

    queue = functions.task_queue(
        f"locations/{settings.region}/functions/{settings.reanalyze_task_function}"
    )
    return queue.enqueue


_local_dispatcher = ThreadPoolExecutor(max_workers=2, thread_name_prefix="local-tasks")


def _local_enqueue(settings: Settings) -> Any:
    """Stand-in for Cloud Tasks on the local stack: deliver in the background, like a queue."""

    def post(data: dict[str, Any]) -> None:
        request = urllib.request.Request(
            str(settings.local_tasks_url),
            data=json.dumps({"data": data}).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=300) as response:
            response.read()

    def enqueue(data: dict[str, Any]) -> None:
        _local_dispatcher.submit(post, data)

    return enqueue
