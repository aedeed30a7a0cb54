"""The uploader against the real local stack: Auth emulator sign-in, the API served by
functions-framework, fake-gcs-server sessions, the storage trigger through the relay."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from google.cloud import firestore, storage
from typer.testing import CliRunner

from backend.documents import Member, Patient, RecordingStatus
from edge_uploader import auth
from edge_uploader.cli import app
from edge_uploader.config import UploaderConfig
from edge_uploader.outbox import Outbox, State
from edge_uploader.uploader import Uploader
from scripts.emulators import AuthEmulator
from scripts.stack import BUCKET, LocalStack
from stethoscope.simulate import simulate_heart

from ..conftest import Emulators, sign_up
from ..helpers import get_recording, heart_wav, wav_bytes

pytestmark = pytest.mark.emulators
REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


@dataclass
class Clinic:
    config: UploaderConfig
    email: str
    password: str
    uid: str

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "STETH_API_URL": self.config.api_url,
            "STETH_CLINIC": self.config.clinic_id,
            "STETH_DEVICE_ID": self.config.device_id,
            "STETH_OUTBOX": str(self.config.outbox_dir),
            "STETH_AUTH_EMULATOR": str(self.config.auth_emulator),
            "STETH_FIREBASE_API_KEY": self.config.api_key,
        }


@pytest.fixture
def clinic(
    db: firestore.Client,
    bucket: storage.Bucket,
    functions_stack: LocalStack,
    auth_emulator: AuthEmulator,
    tmp_path: Path,
) -> Iterator[Clinic]:
    """A clinic with a signed-in uploader on this laptop and one patient."""
    email, password = f"upl-{uuid.uuid4().hex[:8]}@clinic.example", "correct horse battery"
    uid = sign_up(auth_emulator, email, password)
    ref = db.collection("clinics").document("c1")
    ref.set({"name": "Clinic 1", "createdAt": NOW})
    ref.collection("members").document(uid).set(
        Member(role="uploader", added_at=NOW).to_firestore()
    )
    ref.collection("patients").document("p1").set(
        Patient(label="Bed 1", created_at=NOW, created_by=uid).to_firestore()
    )
    assert functions_stack.api is not None
    config = UploaderConfig(
        api_url=functions_stack.api.url,
        clinic_id="c1",
        device_id="laptop-1",
        outbox_dir=tmp_path / "outbox",
        api_key="local-dev-key",
        auth_emulator=auth_emulator.host,
        chunk_bytes=256 * 1024,
    )
    auth.login(config, email, password)
    yield Clinic(config, email, password, uid)


def uploader(clinic: Clinic, box: Outbox, **kwargs: object) -> Uploader:
    return Uploader(
        clinic.config, box, lambda: auth.id_token(clinic.config), sleep=lambda s: None, **kwargs
    )  # type: ignore[arg-type]


def stored_bytes(recording_id: str, suffix: str = ".wav") -> bytes:
    from backend.clients import storage_client

    return (
        storage_client()
        .bucket(BUCKET)
        .blob(f"recordings/c1/{recording_id}{suffix}")
        .download_as_bytes()
    )


def wait_for_status(
    db: firestore.Client, recording_id: str, timeout_s: float = 30.0
) -> RecordingStatus:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = get_recording(db, "c1", recording_id).status
        if status in (RecordingStatus.ANALYZED, RecordingStatus.REJECTED, RecordingStatus.FAILED):
            return status
        time.sleep(0.1)
    raise AssertionError(f"{recording_id} still {status}")


def test_login_keeps_a_private_refreshable_session(clinic: Clinic) -> None:
    path = clinic.config.credentials_path
    assert path.stat().st_mode & 0o777 == 0o600
    token = auth.id_token(clinic.config)
    session = auth.load(path)
    auth.save(path, replace(session, expires_at=time.time() - 1))
    refreshed = auth.id_token(clinic.config)
    assert refreshed and auth.load(path).expires_at > time.time() + 600
    assert token.count(".") == 2
    with pytest.raises(auth.AuthError):
        auth.login(clinic.config, clinic.email, "wrong password")


def test_simulated_take_end_to_end(clinic: Clinic, db: firestore.Client) -> None:
    """record --simulate: captured, checked, saved, uploaded, verified, analysed in the cloud."""
    result = CliRunner().invoke(
        app,
        [
            "record",
            "--simulate",
            "--patient",
            "p1",
            "--site",
            "mitral",
            "--kind",
            "heart",
            "--seconds",
            "12",
        ],
        env=clinic.env(),
    )
    assert result.exit_code == 0, result.output
    assert "uploaded and verified" in result.output
    with Outbox(clinic.config.outbox_dir) as box:
        [item] = box.all()
    assert item.state == State.VERIFIED and item.recording_id
    assert item.file.suffix == ".flac", "takes are kept and uploaded as FLAC by default"
    assert stored_bytes(item.recording_id, ".flac") == item.file.read_bytes()
    assert wait_for_status(db, item.recording_id) == RecordingStatus.ANALYZED
    summary = get_recording(db, "c1", item.recording_id).summary
    assert summary is not None and summary.heart_rate_bpm == pytest.approx(78, abs=5)
    status = CliRunner().invoke(app, ["status"], env={**clinic.env(), "COLUMNS": "200"})
    assert item.id[-6:] in status.output and "verified" in status.output


def test_kill_minus_9_mid_upload_then_resume(clinic: Clinic) -> None:
    big = wav_bytes(simulate_heart(600.0, 70.0, 16000.0, seed=3).samples, 16000)  # ~19 MB
    with Outbox(clinic.config.outbox_dir) as box:
        item = box.add(big, patient_id="p1", site="mitral", kind="heart")
    # 256 KiB chunks at 4 MB/s: the uploader spends most of its time between chunks, where the
    # journal is authoritative, and that is where we kill it (see docs/edge-uploader.md on why a
    # kill during a chunk is not tested against fake-gcs-server)
    env = {**clinic.env(), "STETH_CHUNK_BYTES": str(256 * 1024), "STETH_MAX_UPLOAD_BPS": "4000000"}
    process = subprocess.Popen([sys.executable, "-m", "edge_uploader", "sync"], env=env, cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    journal = sqlite3.connect(clinic.config.outbox_dir / "outbox.sqlite3", isolation_level=None)
    offset = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        offset, inflight = journal.execute(
            "SELECT offset_bytes, inflight_offset FROM items WHERE id = ?", (item.id,)
        ).fetchone()
        if offset >= 2 * 1024 * 1024 and inflight is None:
            break
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.wait()
    journal.close()
    assert 0 < offset < len(big), "the uploader must be killed mid-upload"

    with Outbox(clinic.config.outbox_dir) as box:
        assert box.get(item.id).state == State.UPLOADING
        report = uploader(clinic, box).sync()
        done = box.get(item.id)
    assert report.verified == [item.id] and done.state == State.VERIFIED
    assert stored_bytes(str(done.recording_id)) == big


def test_storage_outage_during_upload_resumes_when_back(
    clinic: Clinic, emulators: Emulators
) -> None:
    """The slot was granted, then Cloud Storage went away: the upload waits and completes when
    it is back. (fake-gcs-server loses what a session held when it restarts, so the outage starts
    before the first chunk; see docs/edge-uploader.md.)"""
    data = heart_wav(120.0, 75.0)
    with Outbox(clinic.config.outbox_dir) as box:
        item = box.add(data, patient_id="p1", site="mitral", kind="heart")
        first = uploader(clinic, box)
        first._request_slot(box.get(item.id))
        emulators.storage.stop()
        try:
            offline = first.sync()
            assert offline.waiting == [item.id], "offline: kept for later"
            waiting = box.get(item.id)
            assert waiting.state == State.UPLOADING and waiting.inflight_offset is None
            assert "ConnectError" in str(waiting.last_error)
        finally:
            emulators.storage.start()
        second = uploader(clinic, box).sync()
        done = box.get(item.id)
    assert second.verified == [item.id] and done.state == State.VERIFIED, done
    assert stored_bytes(str(done.recording_id)) == data


def test_local_file_corrupted_after_queueing_is_not_uploaded(
    clinic: Clinic, bucket: storage.Bucket
) -> None:
    with Outbox(clinic.config.outbox_dir) as box:
        item = box.add(heart_wav(6.0), patient_id="p1", site="mitral", kind="heart")
        damaged = bytearray(item.file.read_bytes())
        damaged[5000] ^= 0x55
        item.file.write_bytes(bytes(damaged))
        report = uploader(clinic, box).sync()
        failed = box.get(item.id)
    assert report.failed == [item.id] and failed.state == State.FAILED
    assert "CRC32C" in str(failed.last_error) and failed.file.exists()
    assert list(bucket.list_blobs(prefix="recordings/")) == []


def test_hundred_recordings_drain_without_loss_or_duplicates(
    clinic: Clinic, db: firestore.Client, bucket: storage.Bucket
) -> None:
    with Outbox(clinic.config.outbox_dir) as box:
        items = [
            box.add(
                heart_wav(2.0, 60.0 + i % 40, seed=i), patient_id="p1", site="mitral", kind="heart"
            )
            for i in range(100)
        ]
        report = uploader(clinic, box).sync()
        assert sorted(report.verified) == sorted(i.id for i in items)
        assert uploader(clinic, box).sync().verified == [], "a second pass has nothing to do"
        # an uploader that crashed after asking for a slot asks again: same recording, no duplicate
        again = box.update(items[0].id, state=State.QUEUED, upload_url=None)
        assert uploader(clinic, box).sync().verified == [again.id]
        finished = {i.id: box.get(i.id) for i in items}
    recording_ids = {i.recording_id for i in finished.values()}
    assert len(recording_ids) == 100
    objects = [b.name for b in bucket.list_blobs(prefix="recordings/c1/")]
    assert len(objects) == 100 == len(set(objects))
    assert {f"recordings/c1/{r}.wav" for r in recording_ids} == set(objects)
    documents = list(db.collection("clinics/c1/recordings").stream())
    assert len(documents) == 100
    for item in list(finished.values())[:5]:
        assert stored_bytes(str(item.recording_id)) == item.file.read_bytes()


def test_expired_session_gets_a_fresh_slot(clinic: Clinic) -> None:
    with Outbox(clinic.config.outbox_dir) as box:
        item = box.add(heart_wav(5.0), patient_id="p1", site="mitral", kind="heart")
        first = uploader(clinic, box)
        slot = first._request_slot(box.get(item.id))
        assert slot.upload_url
        box.update(item.id, upload_url=slot.upload_url.replace("upload_id=", "upload_id=expired"))
        report = uploader(clinic, box).sync()
        done = box.get(item.id)
    assert report.verified == [item.id] and done.recording_id == slot.recording_id, done.last_error


def test_refused_registration_is_permanent_and_kept(clinic: Clinic) -> None:
    with Outbox(clinic.config.outbox_dir) as box:
        item = box.add(heart_wav(5.0), patient_id="nobody", site="mitral", kind="heart")
        report = uploader(clinic, box).sync()
        failed = box.get(item.id)
    assert report.failed == [item.id] and failed.state == State.FAILED
    assert "unknown_patient" in str(failed.last_error) and failed.file.exists()
    result = CliRunner().invoke(app, ["sync"], env=clinic.env())
    assert result.exit_code == 0 and "nothing to upload" in result.output


def test_audio_is_deleted_only_after_verification_and_retention(clinic: Clinic) -> None:
    with Outbox(clinic.config.outbox_dir) as box:
        item = box.add(heart_wav(4.0), patient_id="p1", site="mitral", kind="heart")
        uploader(clinic, box).sync()
        assert box.expire(timedelta(days=7)) == [] and item.file.exists()
        [expired] = box.expire(timedelta(days=7), now=datetime.now(UTC) + timedelta(days=8))
    assert expired.state == State.DONE and not item.file.exists()
