"""Test helpers: WAV bytes, recording objects and documents shaped the way the API makes them."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import soundfile as sf

from backend import paths
from backend.documents import Recording, RecordingLease, RecordingStatus
from backend.objects import recording_path
from scripts.relay import storage_cloudevent
from scripts.stack import BUCKET
from stethoscope.simulate import simulate_heart, simulate_lung

if TYPE_CHECKING:
    from cloudevents.http import CloudEvent
    from google.cloud import firestore, storage

RECORDED_AT = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)


def wav_bytes(samples: np.ndarray, rate: float, subtype: str = "PCM_16") -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, int(rate), format="WAV", subtype=subtype)
    return buffer.getvalue()


def heart_wav(seconds: float = 10.0, rate_bpm: float = 72.0, seed: int = 0) -> bytes:
    return wav_bytes(simulate_heart(seconds, rate_bpm, 4000.0, seed=seed).samples, 4000)


def lung_wav(
    seconds: float = 20.0, rate_bpm: float = 18.0, wheeze_hz: float | None = None, seed: int = 0
) -> bytes:
    sim = simulate_lung(seconds, rate_bpm, 4000.0, wheeze_hz=wheeze_hz, seed=seed)
    return wav_bytes(sim.samples, 4000)


def object_metadata(
    kind: str = "heart", site: str = "mitral", patient: str = "p1"
) -> dict[str, str]:
    return {
        "patientId": patient,
        "site": site,
        "kind": kind,
        "deviceId": "steth-01",
        "recordedAt": RECORDED_AT.isoformat(),
        "uploadedBy": "uid-uploader",
    }


def upload(
    bucket: storage.Bucket,
    clinic: str,
    recording: str,
    data: bytes,
    metadata: dict[str, str] | None,
) -> storage.Blob:
    blob = bucket.blob(recording_path(clinic, recording))
    blob.metadata = metadata
    blob.upload_from_string(data, content_type="audio/wav")
    blob.reload()
    return blob


def finalized_event(blob: storage.Blob, **overrides: Any) -> CloudEvent:
    """The CloudEvent the platform sends for this object (raw form, as the runtime passes it)."""
    from cloudevents.http import CloudEvent

    resource = {**blob._properties, **overrides}
    event = storage_cloudevent(BUCKET, resource)
    data = event.pop("data")
    return CloudEvent(event, data)


def seed_recording(
    db: firestore.Client,
    clinic: str,
    recording: str,
    kind: str = "heart",
    site: str = "mitral",
    patient: str = "p1",
) -> Recording:
    """The awaiting_upload document the API creates before an upload."""
    now = datetime.now(UTC)
    doc = Recording(
        patient_id=patient,
        site=site,  # type: ignore[arg-type]
        kind=kind,  # type: ignore[arg-type]
        device_id="steth-01",
        recorded_at=RECORDED_AT,
        created_at=now,
        created_by="uid-uploader",
        storage_path=recording_path(clinic, recording),
        status=RecordingStatus.AWAITING_UPLOAD,
        updated_at=now,
    )
    paths.recording(db, clinic, recording).set(doc.to_firestore())
    return doc


def get_recording(db: firestore.Client, clinic: str, recording: str) -> Recording:
    snapshot = paths.recording(db, clinic, recording).get()
    assert snapshot.exists, f"no document for {clinic}/{recording}"
    raw = snapshot.to_dict() or {}
    leaked = set(raw) & {"leaseToken", "leaseUntil", "attempts", "nextAttemptAt"}
    assert not leaked, f"lease internals on the client-readable document: {leaked}"
    return Recording.model_validate(raw)


def get_lease(db: firestore.Client, clinic: str, recording: str) -> RecordingLease:
    """The recording's private lease (an empty one if there is none)."""
    snapshot = paths.recording_lease(db, clinic, recording).get()
    return (
        RecordingLease.model_validate(snapshot.to_dict()) if snapshot.exists else RecordingLease()
    )


def set_lease(db: firestore.Client, clinic: str, recording: str, **fields: Any) -> None:
    """Put the recording's private lease in a given state (a run that died, a due retry)."""
    paths.recording_lease(db, clinic, recording).set(RecordingLease(**fields).to_firestore())


def seed_worklist(db: firestore.Client, clinic: str, patient_id: str, count: int) -> list[str]:
    """`count` analysed recordings of one patient, one a minute back from now, written in batches
    the way the pipeline leaves them (a worklist's load; no audio behind them). Newest first."""
    from backend.documents import RecordingSummary

    now = datetime.now(UTC)
    ids = []
    batch = db.batch()
    for n in range(count):
        at = now - timedelta(minutes=n + 1)
        recording_id = f"rec_seed{n:05d}"
        heart = n % 2 == 0
        recording = Recording(
            patient_id=patient_id,
            site="mitral" if heart else "posterior-left-lower",
            kind="heart" if heart else "lung",
            device_id="steth-seed",
            recorded_at=at,
            created_at=at,
            created_by="seed",
            storage_path=f"recordings/{clinic}/{recording_id}.wav",
            status=RecordingStatus.ANALYZED,
            updated_at=at,
            duration_s=20.0,
            summary=RecordingSummary(
                usable=n % 7 != 0,
                quality_score=0.8,
                heart_rate_bpm=70.0 + n % 20 if heart else None,
                rhythm="regular" if heart else None,
                murmur=n % 5 == 0 if heart else None,
                respiratory_rate_bpm=None if heart else 16.0 + n % 6,
                wheeze=None if heart else n % 3 == 0,
                crackle=None if heart else False,
            ),
        )
        batch.set(
            db.document(f"clinics/{clinic}/recordings/{recording_id}"), recording.to_firestore()
        )
        ids.append(recording_id)
        if n % 400 == 399:
            batch.commit()
            batch = db.batch()
    batch.commit()
    return ids
