"""Registering a recording before its upload: the document and a create-only upload session.

The same (device, client recording id) always maps to the same recording id, so a retried or
replayed registration returns the recording already registered (with a fresh upload URL while
nothing has been uploaded) instead of registering it twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from backend import blobs, paths
from backend.clients import firestore_client
from backend.documents import Recording, RecordingStatus
from backend.objects import AudioFormat, ObjectMetadata, recording_path
from backend.recordings import now_utc
from backend.settings import Settings
from stethoscope.sites import Kind, Site


class RegistrationConflictError(Exception):
    """The client recording id was already used for a different recording."""


@dataclass(frozen=True)
class Registration:
    recording_id: str
    recording: Recording
    created: bool
    upload_url: str | None
    expires_at: datetime | None


@dataclass(frozen=True)
class RecordingRequest:
    clinic_id: str
    client_recording_id: str
    device_id: str
    patient_id: str
    site: Site
    kind: Kind
    recorded_at: datetime
    size_bytes: int
    created_by: str
    exam_id: str | None = None
    audio_format: AudioFormat = "wav"
    crc32c: str | None = None


def recording_id_for(clinic_id: str, device_id: str, client_recording_id: str) -> str:
    digest = hashlib.sha256(f"{clinic_id}\0{device_id}\0{client_recording_id}".encode()).hexdigest()
    return f"rec_{digest[:24]}"


def register(request: RecordingRequest, settings: Settings) -> Registration:
    """Create (or find) the recording and hand out an upload session if it still needs one."""
    from google.cloud import firestore

    db = firestore_client()
    recording_id = recording_id_for(
        request.clinic_id, request.device_id, request.client_recording_id
    )
    ref = paths.recording(db, request.clinic_id, recording_id)
    now = now_utc()

    @firestore.transactional
    def create_or_get(transaction: firestore.Transaction) -> tuple[Recording, bool]:
        snapshot = ref.get(transaction=transaction)
        if snapshot.exists:
            return Recording.model_validate(snapshot.to_dict()), False
        recording = Recording(
            patient_id=request.patient_id,
            site=request.site,
            kind=request.kind,
            device_id=request.device_id,
            client_recording_id=request.client_recording_id,
            exam_id=request.exam_id,
            declared_crc32c=request.crc32c,
            recorded_at=request.recorded_at,
            created_at=now,
            created_by=request.created_by,
            storage_path=recording_path(request.clinic_id, recording_id, request.audio_format),
            status=RecordingStatus.AWAITING_UPLOAD,
            size_bytes=request.size_bytes,
            updated_at=now,
        )
        transaction.create(ref, recording.to_firestore())
        return recording, True

    recording, created = create_or_get(db.transaction())
    if not created and (
        recording.patient_id,
        recording.site,
        recording.kind,
        recording.size_bytes,
    ) != (request.patient_id, request.site, request.kind, request.size_bytes):
        raise RegistrationConflictError(
            f"client recording id {request.client_recording_id!r} of device {request.device_id!r} "
            "was registered for a different recording"
        )
    if recording.status != RecordingStatus.AWAITING_UPLOAD or blobs.stored_object(
        settings.bucket, recording.storage_path
    ):
        return Registration(recording_id, recording, created, None, None)
    url = blobs.create_upload_session(
        settings.bucket,
        recording.storage_path,
        request.size_bytes,
        ObjectMetadata(
            patientId=request.patient_id,
            site=request.site,
            kind=request.kind,
            deviceId=request.device_id,
            recordedAt=request.recorded_at,
            uploadedBy=request.created_by,
            clientRecordingId=request.client_recording_id,
            examId=request.exam_id,
        ).to_gcs(),
    )
    return Registration(
        recording_id, recording, created, url, now + timedelta(seconds=settings.upload_url_ttl_s)
    )
