"""The storage-triggered pipeline against the real Firestore emulator and fake-gcs-server.

Events are delivered the way the platform delivers them: a raw CloudEvent into the decorated
function, and an HTTP CloudEvent through functions-framework's app for the target.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cloudevents.conversion import to_binary, to_structured
from google.cloud import firestore, storage

from backend import paths
from backend.documents import Analysis, RecordingStatus
from backend.objects import StoredObject
from backend.pipeline import process_object
from scripts.stack import BUCKET
from stethoscope import ANALYSIS_VERSION

from ..helpers import (
    finalized_event,
    get_lease,
    get_recording,
    heart_wav,
    lung_wav,
    object_metadata,
    seed_recording,
    set_lease,
    upload,
)

pytestmark = pytest.mark.emulators


@pytest.fixture(scope="module")
def main_module():  # type: ignore[no-untyped-def]
    import main

    return main


def analyses(db: firestore.Client, clinic: str, recording: str) -> list[Analysis]:
    ref = db.collection("clinics").document(clinic).collection("recordings").document(recording)
    return [Analysis.model_validate(s.to_dict()) for s in ref.collection("analyses").stream()]


def test_heart_recording_is_analysed(
    db: firestore.Client, bucket: storage.Bucket, main_module
) -> None:  # type: ignore[no-untyped-def]
    seed_recording(db, "c1", "r1")
    blob = upload(bucket, "c1", "r1", heart_wav(12.0, 84.0), object_metadata())
    main_module.analyze_recording(finalized_event(blob))

    rec = get_recording(db, "c1", "r1")
    assert rec.status == RecordingStatus.ANALYZED
    assert rec.generation == str(blob.generation)
    assert rec.size_bytes == blob.size and rec.crc32c == blob.crc32c
    assert rec.sample_rate_hz == 4000 and rec.duration_s == pytest.approx(12.0)
    assert rec.analysis_version == ANALYSIS_VERSION and rec.analysis_id == ANALYSIS_VERSION
    assert rec.summary is not None and rec.summary.usable
    assert rec.summary.heart_rate_bpm == pytest.approx(84, abs=5)
    assert rec.summary.murmur is False and rec.summary.respiratory_rate_bpm is None
    assert rec.analyzed_at is not None and rec.error is None
    lease = get_lease(db, "c1", "r1")
    assert lease.lease_token is None and lease.lease_until is None and lease.attempts == 1
    [analysis] = analyses(db, "c1", "r1")
    assert analysis.generation == str(blob.generation)
    assert analysis.result["heart"]["heartRateBpm"] == rec.summary.heart_rate_bpm
    assert len(analysis.result["heart"]["beats"]) >= 14
    # the original object is untouched
    assert bucket.get_blob(blob.name).generation == blob.generation


def test_lung_recording_is_analysed(
    db: firestore.Client, bucket: storage.Bucket, main_module
) -> None:  # type: ignore[no-untyped-def]
    seed_recording(db, "c1", "lung1", kind="lung", site="posterior-left-lower")
    blob = upload(
        bucket, "c1", "lung1", lung_wav(24.0, 20.0), object_metadata("lung", "posterior-left-lower")
    )
    main_module.analyze_recording(finalized_event(blob))
    rec = get_recording(db, "c1", "lung1")
    assert rec.status == RecordingStatus.ANALYZED
    assert rec.summary is not None and rec.summary.heart_rate_bpm is None
    assert rec.summary.respiratory_rate_bpm == pytest.approx(20, abs=3)
    assert isinstance(rec.summary.wheeze, bool) and isinstance(rec.summary.crackle, bool)
    [analysis] = analyses(db, "c1", "lung1")
    assert analysis.result["lung"]["respiratoryRateBpm"] == rec.summary.respiratory_rate_bpm
    assert len(analysis.result["lung"]["cycles"]) >= 5


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"\x00\x01garbage" * 1000, "not_audio"),
        (b"", "not_audio"),
        (b"patient: 1234, notes only\n" * 50, "not_audio"),
        (heart_wav(10.0)[:20_000], "truncated"),
        (heart_wav(0.2), "too_short"),
    ],
    ids=["corrupt", "empty", "text", "truncated", "too-short"],
)
def test_bad_input_is_rejected_with_a_code(  # type: ignore[no-untyped-def]
    db: firestore.Client, bucket: storage.Bucket, main_module, payload: bytes, code: str
) -> None:
    seed_recording(db, "c1", "bad")
    blob = upload(bucket, "c1", "bad", payload, object_metadata())
    main_module.analyze_recording(finalized_event(blob))
    rec = get_recording(db, "c1", "bad")
    assert rec.status == RecordingStatus.REJECTED
    assert rec.error is not None and rec.error.code == code and rec.error.message
    assert get_lease(db, "c1", "bad").next_attempt_at is None, "bad input is never retried"
    assert analyses(db, "c1", "bad") == []


def test_oversized_object_is_rejected_without_download(
    db: firestore.Client, bucket: storage.Bucket, main_module
) -> None:  # type: ignore[no-untyped-def]
    seed_recording(db, "c1", "big")
    blob = upload(bucket, "c1", "big", heart_wav(5.0), object_metadata())
    main_module.analyze_recording(finalized_event(blob, size=str(10 * 1024**3)))
    rec = get_recording(db, "c1", "big")
    assert rec.status == RecordingStatus.REJECTED and rec.error is not None
    assert rec.error.code == "too_large"


def test_other_paths_are_ignored(db: firestore.Client, bucket: storage.Bucket, main_module) -> None:  # type: ignore[no-untyped-def]
    blob = bucket.blob("exports/c1/report.wav")
    blob.upload_from_string(heart_wav(3.0), content_type="audio/wav")
    blob.reload()
    main_module.analyze_recording(finalized_event(blob))
    assert list(db.collection_group("recordings").stream()) == []


def test_duplicate_event_changes_nothing(
    db: firestore.Client, bucket: storage.Bucket, main_module
) -> None:  # type: ignore[no-untyped-def]
    seed_recording(db, "c1", "dup")
    blob = upload(bucket, "c1", "dup", heart_wav(8.0), object_metadata())
    event = finalized_event(blob)
    main_module.analyze_recording(event)
    first = get_recording(db, "c1", "dup")
    main_module.analyze_recording(event)
    assert get_recording(db, "c1", "dup") == first
    assert len(analyses(db, "c1", "dup")) == 1


def test_event_for_an_older_generation_changes_nothing(
    db: firestore.Client, bucket: storage.Bucket
) -> None:
    seed_recording(db, "c1", "gen")
    blob = upload(bucket, "c1", "gen", heart_wav(8.0), object_metadata())
    obj = StoredObject(
        blob.bucket.name, blob.name, int(blob.generation), int(blob.size), metadata=blob.metadata
    )
    assert process_object(obj) == "analyzed"
    before = get_recording(db, "c1", "gen")
    older = StoredObject(obj.bucket, obj.name, obj.generation - 1, obj.size, metadata=obj.metadata)
    assert process_object(older) == "older_generation"
    assert get_recording(db, "c1", "gen") == before


def seed_clinic(db: firestore.Client, clinic: str, uploader: str = "uid-uploader") -> None:
    """A clinic with one uploader member and patient p1 (what copied-in objects must name)."""
    from backend.documents import Clinic, Member, Patient

    now = datetime.now(UTC)
    ref = db.collection("clinics").document(clinic)
    ref.set(Clinic(name=clinic, created_at=now).to_firestore())
    ref.collection("members").document(uploader).set(
        Member(role="uploader", added_at=now).to_firestore()
    )
    ref.collection("patients").document("p1").set(
        Patient(label="Bed 1", created_at=now, created_by=uploader).to_firestore()
    )


def test_object_without_document_is_registered_from_its_metadata(
    db: firestore.Client, bucket: storage.Bucket, main_module
) -> None:  # type: ignore[no-untyped-def]
    seed_clinic(db, "c2")
    blob = upload(bucket, "c2", "copied", heart_wav(8.0, 95.0), object_metadata(site="aortic"))
    main_module.analyze_recording(finalized_event(blob))
    rec = get_recording(db, "c2", "copied")
    assert rec.status == RecordingStatus.ANALYZED
    assert (rec.patient_id, rec.site, rec.kind, rec.device_id) == (
        "p1",
        "aortic",
        "heart",
        "steth-01",
    )
    assert rec.created_by == "uid-uploader"


@pytest.mark.parametrize(
    "metadata",
    [None, {"patientId": "p1", "site": "mitral"}, {**object_metadata(), "site": "trachea"}],
    ids=["none", "incomplete", "site-of-wrong-kind"],
)
def test_object_without_document_or_metadata_is_rejected(  # type: ignore[no-untyped-def]
    db: firestore.Client, bucket: storage.Bucket, main_module, metadata: dict[str, str] | None
) -> None:
    blob = upload(bucket, "c2", "orphan", heart_wav(5.0), metadata)
    main_module.analyze_recording(finalized_event(blob))
    rec = get_recording(db, "c2", "orphan")
    assert rec.status == RecordingStatus.REJECTED
    assert rec.error is not None and rec.error.code == "missing_metadata"


def test_concurrent_events_analyse_once(db: firestore.Client, bucket: storage.Bucket) -> None:
    seed_recording(db, "c1", "race")
    blob = upload(bucket, "c1", "race", heart_wav(10.0), object_metadata())
    obj = StoredObject(
        blob.bucket.name, blob.name, int(blob.generation), int(blob.size), metadata=blob.metadata
    )
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def deliver() -> None:
        barrier.wait()
        outcomes.append(process_object(obj))

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # every delivery ends with an outcome, none with an exception (a claim that loses every
    # commit attempt to the others is "contended"; the emulator's lock timeouts make that happen
    # on a loaded machine)
    assert len(outcomes) == 4 and outcomes.count("analyzed") == 1, outcomes
    assert set(outcomes) <= {"analyzed", "in_progress", "duplicate", "contended"}
    assert len(analyses(db, "c1", "race")) == 1
    assert get_lease(db, "c1", "race").attempts == 1


def test_through_functions_framework(db: firestore.Client, bucket: storage.Bucket) -> None:
    import functions_framework

    source = str(Path(__file__).resolve().parents[2] / "functions/main.py")
    client = functions_framework.create_app(
        target="analyze_recording", source=source, signature_type="cloudevent"
    ).test_client()
    seed_recording(db, "c1", "ff1")
    seed_recording(db, "c1", "ff2")
    for recording, encode in (("ff1", to_structured), ("ff2", to_binary)):
        blob = upload(bucket, "c1", recording, heart_wav(6.0), object_metadata())
        headers, body = encode(finalized_event(blob))
        assert client.post("/", headers=headers, data=body).status_code == 200
        assert get_recording(db, "c1", recording).status == RecordingStatus.ANALYZED


def test_stalled_analysis_is_taken_over_by_the_sweeper(
    db: firestore.Client, bucket: storage.Bucket
) -> None:
    from backend.sweeper import sweep

    seed_recording(db, "c1", "stall")
    blob = upload(bucket, "c1", "stall", heart_wav(6.0), object_metadata())
    ref = db.collection("clinics").document("c1").collection("recordings").document("stall")
    # a run that claimed the recording and then died (its lease ran out)
    ref.update({"status": "analyzing", "generation": str(blob.generation)})
    set_lease(
        db,
        "c1",
        "stall",
        generation=str(blob.generation),
        lease_token="dead-run",
        lease_until=datetime.now(UTC) - timedelta(minutes=1),
        attempts=1,
    )
    report = sweep()
    assert report.outcomes == {ref.path: "analyzed"}
    rec = get_recording(db, "c1", "stall")
    assert rec.status == RecordingStatus.ANALYZED and get_lease(db, "c1", "stall").attempts == 2
    assert sweep().outcomes == {}


@pytest.mark.parametrize(
    ("metadata", "code"),
    [
        ({**object_metadata(), "uploadedBy": "stranger"}, "not_a_member"),
        (object_metadata(patient="someone-elses"), "unknown_patient"),
        ({**object_metadata(), "uploadedBy": "a/b"}, "missing_metadata"),
    ],
    ids=["non-member-uploader", "unknown-patient", "uploader-id-breaks-the-id-rule"],
)
def test_object_without_document_must_name_a_member_and_a_patient(  # type: ignore[no-untyped-def]
    db: firestore.Client, bucket: storage.Bucket, main_module, metadata: dict[str, str], code: str
) -> None:
    seed_clinic(db, "c2")
    blob = upload(bucket, "c2", "smuggled", heart_wav(5.0), metadata)
    main_module.analyze_recording(finalized_event(blob))
    rec = get_recording(db, "c2", "smuggled")
    assert rec.status == RecordingStatus.REJECTED
    assert rec.error is not None and rec.error.code == code


def test_object_in_a_clinic_that_does_not_exist_is_rejected(  # type: ignore[no-untyped-def]
    db: firestore.Client, bucket: storage.Bucket, main_module
) -> None:
    blob = upload(bucket, "nowhere", "r1", heart_wav(5.0), object_metadata())
    main_module.analyze_recording(finalized_event(blob))
    rec = get_recording(db, "nowhere", "r1")
    assert rec.status == RecordingStatus.REJECTED
    assert rec.error is not None and rec.error.code == "not_a_member"


@pytest.mark.parametrize("name", ["__r__", "__name__"])
def test_reserved_ids_in_the_object_name_are_ignored(  # type: ignore[no-untyped-def]
    db: firestore.Client, bucket: storage.Bucket, main_module, name: str
) -> None:
    blob = upload(bucket, "c1", name, heart_wav(5.0), object_metadata())
    main_module.analyze_recording(finalized_event(blob))  # must not raise
    assert (
        process_object(StoredObject(BUCKET, blob.name, int(blob.generation), int(blob.size)))
        == "ignored"
    )


@pytest.mark.parametrize(
    "damage",
    [{"status": "bogus"}, {"createdAt": "yesterday"}, {"storagePath": None}, {"sizeBytes": "x"}],
    ids=["status", "createdAt", "storagePath", "sizeBytes"],
)
def test_malformed_document_ends_rejected_not_stuck(  # type: ignore[no-untyped-def]
    db: firestore.Client, bucket: storage.Bucket, main_module, damage: dict[str, object]
) -> None:
    seed_recording(db, "c1", "broken")
    ref = db.collection("clinics").document("c1").collection("recordings").document("broken")
    ref.update(damage)
    blob = upload(bucket, "c1", "broken", heart_wav(5.0), object_metadata())
    main_module.analyze_recording(finalized_event(blob))  # must not raise
    stored = ref.get().to_dict()
    assert stored["status"] == "rejected"
    assert stored["error"]["code"] == "invalid_document"
    # the sweeper leaves it alone: a final status
    from backend.sweeper import sweep

    assert ref.path not in sweep().outcomes


def test_stalled_runs_are_bounded_like_failed_ones(
    db: firestore.Client, bucket: storage.Bucket
) -> None:
    from backend.settings import get_settings
    from backend.sweeper import sweep

    seed_recording(db, "c1", "stuck")
    blob = upload(bucket, "c1", "stuck", heart_wav(5.0), object_metadata())
    ref = db.collection("clinics").document("c1").collection("recordings").document("stuck")
    ref.update({"status": "analyzing", "generation": str(blob.generation)})
    set_lease(
        db,
        "c1",
        "stuck",
        generation=str(blob.generation),
        lease_token="dead-run",
        lease_until=datetime.now(UTC) - timedelta(minutes=1),
        attempts=get_settings().sweep_max_attempts,
    )
    assert sweep().outcomes == {ref.path: "stalled"}
    rec = get_recording(db, "c1", "stuck")
    lease = get_lease(db, "c1", "stuck")
    assert rec.status == RecordingStatus.FAILED and lease.next_attempt_at is None
    assert lease.lease_until is None and lease.lease_token is None
    assert rec.error is not None and rec.error.code == "stalled"
    assert sweep().outcomes == {}


def test_sweeper_finds_a_lost_event(db: firestore.Client, bucket: storage.Bucket) -> None:
    from backend.settings import get_settings
    from backend.sweeper import sweep

    seed_recording(db, "c1", "lost")
    seed_recording(db, "c1", "never-uploaded")
    upload(bucket, "c1", "lost", heart_wav(6.0, 70.0), object_metadata())  # no event delivered
    lost = db.collection("clinics").document("c1").collection("recordings").document("lost")
    assert sweep().outcomes == {}, "within the grace period nothing is touched"
    later = datetime.now(UTC) + timedelta(seconds=get_settings().sweep_lost_event_grace_s + 60)
    assert sweep(now=later).outcomes == {lost.path: "analyzed"}
    assert get_recording(db, "c1", "lost").status == RecordingStatus.ANALYZED
    assert get_recording(db, "c1", "never-uploaded").status == RecordingStatus.AWAITING_UPLOAD


def test_sweeper_rejects_a_malformed_failed_document(
    db: firestore.Client, bucket: storage.Bucket
) -> None:
    from backend.sweeper import sweep

    seed_recording(db, "c1", "mangled")
    blob = upload(bucket, "c1", "mangled", heart_wav(5.0), object_metadata())
    ref = db.collection("clinics").document("c1").collection("recordings").document("mangled")
    ref.update(
        {
            "status": "failed",
            "generation": str(blob.generation),
            "recordedAt": "last tuesday",  # does not validate
        }
    )
    set_lease(
        db,
        "c1",
        "mangled",
        generation=str(blob.generation),
        attempts=1,
        next_attempt_at=datetime.now(UTC) - timedelta(minutes=1),
    )
    assert sweep().outcomes == {ref.path: "invalid_document"}
    stored = ref.get().to_dict()
    assert stored["status"] == "rejected" and stored["error"]["code"] == "invalid_document"
    assert not paths.lease_of(ref).get().exists, "a final status keeps no lease"
    assert sweep().outcomes == {}


def test_flac_upload_is_analysed(db: firestore.Client, bucket: storage.Bucket) -> None:
    """Takes arrive as FLAC by default (lossless, about half the bytes of WAV)."""
    import io

    import soundfile as sf

    from stethoscope.simulate import simulate_heart

    buffer = io.BytesIO()
    sf.write(
        buffer,
        simulate_heart(10.0, 70.0, 4000.0, seed=3).samples,
        4000,
        format="FLAC",
        subtype="PCM_16",
    )
    seed_recording(db, "c1", "lossless")
    ref = db.collection("clinics").document("c1").collection("recordings").document("lossless")
    ref.update({"storagePath": "recordings/c1/lossless.flac"})
    blob = bucket.blob("recordings/c1/lossless.flac")
    blob.metadata = object_metadata()
    blob.upload_from_string(buffer.getvalue(), content_type="audio/flac")
    blob.reload()
    obj = StoredObject(
        BUCKET, blob.name, int(blob.generation), int(blob.size), metadata=blob.metadata
    )
    assert process_object(obj) == "analyzed"
    rec = get_recording(db, "c1", "lossless")
    assert rec.summary is not None and abs((rec.summary.heart_rate_bpm or 0) - 70) <= 5


def test_object_differing_from_the_declared_checksum_is_rejected(
    db: firestore.Client, bucket: storage.Bucket
) -> None:
    """The uploader declares the take's CRC32C at registration; an object that differs (a
    corrupted or substituted upload) is refused with a code, never analysed."""
    seed_recording(db, "c1", "tampered")
    ref = db.collection("clinics").document("c1").collection("recordings").document("tampered")
    ref.update({"declaredCrc32c": "AAAAAA=="})
    blob = upload(bucket, "c1", "tampered", heart_wav(6.0), object_metadata())
    obj = StoredObject(
        BUCKET,
        blob.name,
        int(blob.generation),
        int(blob.size),
        crc32c=blob.crc32c,
        metadata=blob.metadata,
    )
    assert process_object(obj) == "rejected"
    rec = get_recording(db, "c1", "tampered")
    assert rec.error is not None and rec.error.code == "checksum_mismatch"
