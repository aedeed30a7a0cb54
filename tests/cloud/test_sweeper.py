"""Transient faults end as `failed` and are re-driven by the sweeper, with bounded attempts.

The storage outage is real: a second fake-gcs-server is stopped while the analysis runs and
started again (same port, same files) before the sweep.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from google.cloud import firestore

from backend.documents import RecordingStatus
from backend.objects import StoredObject
from backend.pipeline import process_object
from backend.recordings import Claim, claim, finish_failed
from backend.settings import get_settings
from backend.sweeper import sweep
from scripts.emulators import StorageEmulator
from scripts.stack import BUCKET, PROJECT_ID

from ..conftest import Emulators, patched_env
from ..helpers import get_lease, get_recording, heart_wav, object_metadata, seed_recording, upload

pytestmark = pytest.mark.emulators


@pytest.fixture
def flaky_storage(emulators: Emulators, tmp_path: Path) -> Iterator[StorageEmulator]:
    """A storage server of our own that the test can stop and start again."""
    server = StorageEmulator(
        BUCKET, PROJECT_ID, root=tmp_path / "objects", log_dir=tmp_path
    ).start()
    try:
        with patched_env(STORAGE_EMULATOR_HOST=server.url, STETH_STORAGE_RETRY_S="2"):
            yield server
    finally:
        server.stop()


def test_storage_outage_fails_then_sweeper_recovers(
    db: firestore.Client, flaky_storage: StorageEmulator
) -> None:
    from backend.clients import storage_client

    seed_recording(db, "c1", "outage")
    blob = upload(
        storage_client().bucket(BUCKET), "c1", "outage", heart_wav(8.0, 66.0), object_metadata()
    )
    obj = StoredObject(
        BUCKET, blob.name, int(blob.generation), int(blob.size), metadata=blob.metadata
    )

    flaky_storage.stop()
    assert process_object(obj) == "failed"
    rec = get_recording(db, "c1", "outage")
    assert rec.status == RecordingStatus.FAILED
    assert rec.error is not None and rec.error.code == "storage_unavailable"
    retry_at = get_lease(db, "c1", "outage").next_attempt_at
    assert retry_at is not None and retry_at > datetime.now(UTC)
    assert sweep().outcomes == {}, "not due yet"

    flaky_storage.start()
    later = retry_at + timedelta(seconds=1)
    report = sweep(now=later)
    assert list(report.outcomes.values()) == ["analyzed"]
    rec = get_recording(db, "c1", "outage")
    lease = get_lease(db, "c1", "outage")
    assert rec.status == RecordingStatus.ANALYZED and lease.attempts == 2
    assert rec.summary is not None and rec.summary.heart_rate_bpm == pytest.approx(66, abs=5)
    assert rec.error is None and lease.next_attempt_at is None


def test_retries_stop_after_the_limit(db: firestore.Client, bucket) -> None:  # type: ignore[no-untyped-def]
    settings = get_settings()
    seed_recording(db, "c1", "doomed")
    blob = upload(bucket, "c1", "doomed", heart_wav(5.0), object_metadata())
    obj = StoredObject(
        BUCKET, blob.name, int(blob.generation), int(blob.size), metadata=blob.metadata
    )
    retry_times = []
    now = datetime.now(UTC)
    for attempt in range(1, settings.sweep_max_attempts + 1):
        claimed = claim(db, "c1", "doomed", obj, redrive=True, now=now)
        assert isinstance(claimed, Claim) and claimed.attempts == attempt
        finish_failed(
            db,
            claimed,
            "internal",
            "boom",
            max_attempts=settings.sweep_max_attempts,
            backoff_base_s=settings.sweep_backoff_base_s,
            now=now,
        )
        retry_times.append(get_lease(db, "c1", "doomed").next_attempt_at)
        now += timedelta(hours=12)
    *scheduled, last = retry_times
    assert all(t is not None for t in scheduled) and last is None
    delays = [
        (t - (datetime.now(UTC) + timedelta(hours=12 * i))).total_seconds()
        for i, t in enumerate(scheduled)
    ]
    assert delays == sorted(delays), "backoff grows"
    rec = get_recording(db, "c1", "doomed")
    assert (
        rec.status == RecordingStatus.FAILED
        and rec.error is not None
        and "gave up" in rec.error.message
    )
    assert sweep(now=now + timedelta(days=30)).outcomes == {}, (
        "an exhausted recording is left alone"
    )
