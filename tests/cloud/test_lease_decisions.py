"""The claim/lease decisions and the retry backoff, as pure functions (no emulator).

`recordings.decide` is what `recordings.claim` asks inside its transaction; `retry_time` is what
`finish_failed` stores in the private lease.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backend.documents import Recording, RecordingLease, RecordingStatus
from backend.recordings import Skip, decide, retry_time

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
GEN = 1700000000000001


def recording(status: RecordingStatus, generation: int | None = GEN, **extra: object) -> Recording:
    return Recording(
        patient_id="p1",
        site="mitral",
        kind="heart",
        device_id="d1",
        recorded_at=NOW,
        created_at=NOW,
        created_by="u1",
        storage_path="recordings/c1/r1.wav",
        status=status,
        updated_at=NOW,
        generation=str(generation) if generation else None,
        **extra,  # type: ignore[arg-type]
    )


def lease(
    attempts: int = 1, until: datetime | None = None, generation: int = GEN
) -> RecordingLease:
    return RecordingLease(
        generation=str(generation), attempts=attempts, lease_until=until, lease_token="t"
    )


def run(rec: Recording, held: RecordingLease, generation: int = GEN, redrive: bool = False):  # type: ignore[no-untyped-def]
    return decide(rec, held, generation, redrive=redrive, max_attempts=5, now=NOW)


def test_first_upload_is_attempt_one() -> None:
    assert run(recording(RecordingStatus.AWAITING_UPLOAD, None), RecordingLease()) == 1


def test_a_run_in_progress_is_left_alone() -> None:
    held = lease(until=NOW + timedelta(minutes=5))
    assert run(recording(RecordingStatus.ANALYZING), held) == Skip(
        "in_progress", RecordingStatus.ANALYZING
    )


def test_an_expired_lease_is_taken_over_as_the_next_attempt() -> None:
    assert run(recording(RecordingStatus.ANALYZING), lease(2, NOW - timedelta(seconds=1))) == 3


def test_a_run_that_stalled_max_attempts_times_is_stalled() -> None:
    held = lease(5, NOW - timedelta(seconds=1))
    assert run(recording(RecordingStatus.ANALYZING), held) == Skip(
        "stalled", RecordingStatus.FAILED
    )


@pytest.mark.parametrize("status", [RecordingStatus.ANALYZED, RecordingStatus.REJECTED])
def test_a_duplicate_event_changes_nothing(status: RecordingStatus) -> None:
    assert run(recording(status), lease()) == Skip("duplicate", status)


def test_a_requested_reanalysis_runs_again() -> None:
    rec = recording(RecordingStatus.ANALYZED, reanalysis_requested=True)
    assert run(rec, lease(1)) == 2


def test_an_older_generation_is_skipped() -> None:
    assert run(recording(RecordingStatus.ANALYZED), lease(), generation=GEN - 1) == Skip(
        "older_generation", RecordingStatus.ANALYZED
    )


def test_a_new_generation_starts_counting_again() -> None:
    assert run(recording(RecordingStatus.FAILED), lease(4), generation=GEN + 1) == 1


def test_a_failure_waits_for_the_sweeper() -> None:
    rec = recording(RecordingStatus.FAILED)
    assert run(rec, lease(2)) == Skip("failed_awaiting_retry", RecordingStatus.FAILED)
    assert run(rec, lease(2), redrive=True) == 3


def test_backoff_doubles_with_jitter_and_stops_at_the_limit() -> None:
    delays = [
        (retry_time(n, 5, 60.0, NOW) - NOW).total_seconds()  # type: ignore[operator]
        for n in range(1, 5)
    ]
    for n, delay in enumerate(delays):
        assert 60 * 2**n * 0.8 <= delay <= 60 * 2**n * 1.2
    assert retry_time(5, 5, 60.0, NOW) is None
    assert (retry_time(1, 99, 1e9, NOW) - NOW) <= timedelta(hours=6 * 1.2)  # type: ignore[operator]
