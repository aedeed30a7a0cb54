"""Recording documents in Firestore: the state machine of one analysis, in transactions.

`claim` decides, atomically, whether an event for (recording, generation) should run: a duplicate
or late event, an older generation, or an analysis already in progress changes nothing. The run
then owns a lease (token + expiry); `finish_*` write the outcome only if the run still owns it, so a
slow run that lost its lease to the sweeper cannot overwrite a newer result.

The lease, the attempt count and the retry time live in `recordings/{id}/private/lease`
(`RecordingLease`), which the rules deny to every client; each transaction here reads and writes
it together with the recording document. `decide` is the pure decision, unit-tested.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError

from backend import paths
from backend.documents import (
    Analysis,
    Recording,
    RecordingError,
    RecordingLease,
    RecordingStatus,
    RecordingSummary,
)
from backend.objects import ObjectMetadata, StoredObject

if TYPE_CHECKING:
    from google.cloud import firestore

    from stethoscope.result import AnalysisResult

#: How long an analysis run owns a recording before the sweeper may take it over.
LEASE_S = 600
#: Where the lease lived before it moved to `private/lease` (deleted whenever a claim writes).
_LEGACY_LEASE_FIELDS = ("attempts", "leaseUntil", "leaseToken", "nextAttemptAt")


def now_utc() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Claim:
    """This run may analyse the recording; it owns the lease `token` for attempt `attempts`."""

    clinic_id: str
    recording_id: str
    generation: int
    token: str
    recording: Recording
    attempts: int = 1


@dataclass(frozen=True)
class Skip:
    """Nothing to do for this event, and why (logged)."""

    reason: str
    status: RecordingStatus | None = None


def decide(
    current: Recording,
    lease: RecordingLease,
    generation: int,
    *,
    redrive: bool,
    max_attempts: int,
    now: datetime,
) -> Skip | int:
    """Whether an event for object `generation` may analyse the recording now: a `Skip` saying
    why not, or the number of the attempt it would be. Pure: the transaction in `claim` reads the
    two documents, asks this, and writes what it says.

    A run whose lease expired `max_attempts` times is `Skip("stalled")`: the caller marks it
    failed for good, as `finish_failed` does for runs that failed that often.
    """
    skip = _why_skip(current, lease, generation, redrive, now)
    if skip is not None:
        return skip
    attempts = lease.attempts if lease.generation == str(generation) else 0
    if (
        current.generation == str(generation)
        and current.status == RecordingStatus.ANALYZING
        and attempts >= max_attempts
    ):  # its lease expired (else _why_skip said in_progress): the last run died as well
        return Skip("stalled", RecordingStatus.FAILED)
    return attempts + 1


def claim(
    db: firestore.Client,
    clinic_id: str,
    recording_id: str,
    obj: StoredObject,
    *,
    redrive: bool = False,
    max_attempts: int = 5,
    now: datetime | None = None,
) -> Claim | Skip:
    """Atomically take (recording, generation) for analysis, or say why not.

    Never raises for bad data: a document that does not validate becomes `rejected`
    (`invalid_document`), and a run that stalled `max_attempts` times becomes `failed` for good
    (`stalled`), like a run that failed that often. A claim that loses every commit attempt to
    concurrent deliveries of the same object is `Skip("contended")`: one of them holds it, and if
    none committed, the recording is still awaiting upload with its object stored, which the
    sweeper's lost-event pass re-drives (`sweeper._sweep_lost_events`).
    """
    from google.api_core.exceptions import Aborted
    from google.cloud import firestore

    now = now or now_utc()
    ref = paths.recording(db, clinic_id, recording_id)
    lease_ref = paths.lease_of(ref)
    token = uuid.uuid4().hex

    @firestore.transactional
    def run(transaction: firestore.Transaction) -> Claim | Skip:
        snapshot = ref.get(transaction=transaction)
        lease = read_lease(lease_ref.get(transaction=transaction))
        if not snapshot.exists:
            return _claim_new(transaction, db, ref, obj, now, token, clinic_id, recording_id)
        try:
            current = Recording.model_validate(snapshot.to_dict())
        except ValidationError as exc:
            return _reject_invalid_document(transaction, ref, exc, now)
        if _patient_erased(db, transaction, clinic_id, current.patient_id):
            transaction.delete(ref)
            transaction.delete(lease_ref)
            return Skip("patient_erased")
        decision = decide(
            current, lease, obj.generation, redrive=redrive, max_attempts=max_attempts, now=now
        )
        if isinstance(decision, Skip):
            if decision.reason == "stalled":
                _mark_stalled(transaction, ref, lease_ref, lease, now)
            return decision
        changes: dict[str, Any] = {
            "status": RecordingStatus.ANALYZING,
            "generation": str(obj.generation),
            "storage_path": obj.name,
            "size_bytes": obj.size,
            "crc32c": obj.crc32c,
            "updated_at": now,
        }
        transaction.update(
            ref,
            Recording.fields(**changes)
            | dict.fromkeys(_LEGACY_LEASE_FIELDS, firestore.DELETE_FIELD),
        )
        transaction.set(lease_ref, _new_lease(obj, decision, token, now).to_firestore())
        claimed = current.model_copy(update=changes)
        return Claim(clinic_id, recording_id, obj.generation, token, claimed, decision)

    try:
        result: Claim | Skip = run(db.transaction())
    except Aborted:  # a read inside the transaction lost its lock (not retried by the client)
        return Skip("contended")
    except ValueError as exc:  # the client's "failed to commit in N attempts", after Aborted
        if not isinstance(exc.__cause__, Aborted):
            raise
        return Skip("contended")
    return result


def read_lease(snapshot: Any) -> RecordingLease:
    """The lease document, or an empty lease when there is none (or it does not validate: it is
    the server's own bookkeeping, rewritten whole by the next claim)."""
    if not snapshot.exists:
        return RecordingLease()
    try:
        return RecordingLease.model_validate(snapshot.to_dict())
    except ValidationError:
        return RecordingLease()


def _new_lease(obj: StoredObject, attempt: int, token: str, now: datetime) -> RecordingLease:
    return RecordingLease(
        generation=str(obj.generation),
        attempts=attempt,
        lease_until=now + timedelta(seconds=LEASE_S),
        lease_token=token,
    )


def _mark_stalled(
    transaction: firestore.Transaction,
    ref: firestore.DocumentReference,
    lease_ref: firestore.DocumentReference,
    lease: RecordingLease,
    now: datetime,
) -> None:
    transaction.update(
        ref,
        Recording.fields(
            status=RecordingStatus.FAILED,
            error=RecordingError(
                code="stalled",
                message=f"The analysis stopped without a result {lease.attempts} "
                "times; it will not be retried automatically.",
            ),
            updated_at=now,
        ),
    )
    released = lease.model_copy(
        update={"lease_until": None, "lease_token": None, "next_attempt_at": None}
    )
    transaction.set(lease_ref, released.to_firestore())


def _why_skip(
    current: Recording, lease: RecordingLease, generation: int, redrive: bool, now: datetime
) -> Skip | None:
    analysed = int(current.generation) if current.generation else None
    if analysed is not None and generation < analysed:
        return Skip("older_generation", current.status)
    if analysed != generation:
        return None  # first event for this generation (or the first upload of all)
    status = current.status
    if status == RecordingStatus.ANALYZING and lease.lease_until and lease.lease_until > now:
        return Skip("in_progress", status)
    if (
        status in (RecordingStatus.ANALYZED, RecordingStatus.REJECTED)
        and not current.reanalysis_requested
    ):
        return Skip("duplicate", status)
    if status == RecordingStatus.FAILED and not redrive:
        return Skip("failed_awaiting_retry", status)
    return None


def _patient_erased(
    db: firestore.Client, transaction: firestore.Transaction, clinic_id: str, patient_id: str | None
) -> bool:
    """Whether the recording's patient is being (or was) erased: its uploads are not kept."""
    from backend.documents import is_valid_id

    if not patient_id or not is_valid_id(patient_id):
        return False
    snapshot = paths.patient(db, clinic_id, patient_id).get(transaction=transaction)
    return bool(snapshot.exists and (snapshot.to_dict() or {}).get("status", "active") != "active")


def _reject_invalid_document(
    transaction: firestore.Transaction,
    ref: firestore.DocumentReference,
    exc: ValidationError,
    now: datetime,
) -> Skip:
    """A recording document that does not validate (written by hand, or by an older version):
    mark it `rejected` with the fields at fault, without trusting the rest of it."""
    from google.cloud import firestore

    fields = sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()})
    error = RecordingError(
        code="invalid_document",
        message=f"The recording's record is incomplete or malformed ({', '.join(fields)[:300]}); "
        "register the recording again.",
    )
    transaction.update(
        ref,
        {
            "status": RecordingStatus.REJECTED.value,
            "error": error.to_firestore(),
            "updatedAt": now,
        }
        | dict.fromkeys(_LEGACY_LEASE_FIELDS, firestore.DELETE_FIELD),
    )
    transaction.delete(paths.lease_of(ref))  # a final status: nothing to lease or retry
    return Skip("invalid_document", RecordingStatus.REJECTED)


def _claim_new(
    transaction: firestore.Transaction,
    db: firestore.Client,
    ref: firestore.DocumentReference,
    obj: StoredObject,
    now: datetime,
    token: str,
    clinic_id: str,
    recording_id: str,
) -> Claim | Skip:
    """An object with no document (copied in by an admin): create it from the metadata, but only
    when the metadata names an existing patient of this clinic and a member who may upload."""
    metadata, problem = ObjectMetadata.parse(obj.metadata)
    code: Literal["missing_metadata", "unknown_patient", "not_a_member"] = "missing_metadata"
    if metadata is not None:
        member = paths.member(db, clinic_id, metadata.uploadedBy)
        patient = paths.patient(db, clinic_id, metadata.patientId)
        member_snap, patient_snap = (
            member.get(transaction=transaction),
            patient.get(transaction=transaction),
        )
        if (
            patient_snap.exists
            and (patient_snap.to_dict() or {}).get("status", "active") != "active"
        ):
            return Skip("patient_erased")
        if not member_snap.exists:
            code = "not_a_member"
            problem = f"the uploader in the object's metadata is not a member of clinic {clinic_id}"
            metadata = None
        elif not patient_snap.exists:
            code = "unknown_patient"
            problem = f"the patient in the object's metadata is not a patient of clinic {clinic_id}"
            metadata = None
    base: dict[str, Any] = {
        "created_at": now,
        "updated_at": now,
        "storage_path": obj.name,
        "size_bytes": obj.size,
        "crc32c": obj.crc32c,
        "generation": str(obj.generation),
        "patient_id": metadata.patientId if metadata else obj.metadata.get("patientId"),
        "site": metadata.site if metadata else None,
        "kind": metadata.kind if metadata else None,
        "device_id": metadata.deviceId if metadata else obj.metadata.get("deviceId"),
        "recorded_at": metadata.recordedAt if metadata else None,
        "created_by": metadata.uploadedBy if metadata else obj.metadata.get("uploadedBy"),
    }
    if metadata is None:
        rejected = Recording(
            **base,
            status=RecordingStatus.REJECTED,
            error=RecordingError(code=code, message=problem),
        )
        transaction.create(ref, rejected.to_firestore())
        return Skip(code, RecordingStatus.REJECTED)
    recording = Recording(**base, status=RecordingStatus.ANALYZING)
    transaction.create(ref, recording.to_firestore())
    transaction.set(paths.lease_of(ref), _new_lease(obj, 1, token, now).to_firestore())
    return Claim(clinic_id, recording_id, obj.generation, token, recording, 1)


def finish_analyzed(
    db: firestore.Client, claimed: Claim, result: AnalysisResult, now: datetime | None = None
) -> str | None:
    """Store the result and its summary in one transaction; the analysis id, or None if the lease
    was lost (someone else owns the recording now)."""
    from google.cloud import firestore

    now = now or now_utc()
    ref = paths.recording(db, claimed.clinic_id, claimed.recording_id)

    @firestore.transactional
    def run(transaction: firestore.Transaction) -> str | None:
        current = _owned(transaction, ref, claimed)
        if current is None:
            return None
        count = current.analysis_count
        analysis_id = result.version if count == 0 else f"{result.version}-{count + 1}"
        analysis = Analysis(
            recording_id=claimed.recording_id,
            generation=str(claimed.generation),
            analysis_version=result.version,
            analyzed_at=now,
            result=result.model_dump(by_alias=True, mode="json"),
        )
        transaction.set(
            paths.analysis(db, claimed.clinic_id, claimed.recording_id, analysis_id),
            analysis.to_firestore(),
        )
        transaction.update(
            ref,
            Recording.fields(
                status=RecordingStatus.ANALYZED,
                summary=summarize(result),
                error=None,
                analysis_version=result.version,
                analysis_id=analysis_id,
                analysis_count=count + 1,
                analyzed_at=now,
                sample_rate_hz=result.sample_rate_hz,
                duration_s=result.duration_s,
                reanalysis_requested=False,
                updated_at=now,
            ),
        )
        _release(transaction, ref, None)
        return analysis_id

    analysis_id: str | None = run(db.transaction())
    return analysis_id


def finish_rejected(
    db: firestore.Client, claimed: Claim, code: str, message: str, now: datetime | None = None
) -> bool:
    """Bad input: store the error; never retried."""
    return _finish(db, claimed, RecordingStatus.REJECTED, code, message, None, now)


def finish_failed(
    db: firestore.Client,
    claimed: Claim,
    code: str,
    message: str,
    *,
    max_attempts: int,
    backoff_base_s: float,
    now: datetime | None = None,
) -> bool:
    """A transient or internal fault: store it and schedule a retry with capped, jittered backoff
    (none after `max_attempts`: the error then says the retries are exhausted)."""
    now = now or now_utc()
    retry_at = retry_time(claimed.attempts, max_attempts, backoff_base_s, now)
    if retry_at is None:
        message = f"{message} (gave up after {max(1, claimed.attempts)} attempts)"
    return _finish(db, claimed, RecordingStatus.FAILED, code, message, retry_at, now)


def retry_time(
    attempts: int, max_attempts: int, backoff_base_s: float, now: datetime
) -> datetime | None:
    """When attempt `attempts + 1` may run: `backoff_base_s` doubled per attempt, capped at 6 h,
    ±20 % jitter so failures of one outage do not retry in lockstep; None once exhausted."""
    attempts = max(1, attempts)
    if attempts >= max_attempts:
        return None
    delay = min(backoff_base_s * 2 ** (attempts - 1), 6 * 3600) * random.uniform(0.8, 1.2)
    return now + timedelta(seconds=delay)


def _finish(
    db: firestore.Client,
    claimed: Claim,
    status: RecordingStatus,
    code: str,
    message: str,
    retry_at: datetime | None,
    now: datetime | None,
) -> bool:
    from google.cloud import firestore

    now = now or now_utc()
    ref = paths.recording(db, claimed.clinic_id, claimed.recording_id)

    @firestore.transactional
    def run(transaction: firestore.Transaction) -> bool:
        if _owned(transaction, ref, claimed) is None:
            return False
        transaction.update(
            ref,
            Recording.fields(
                status=status,
                error=RecordingError(code=code, message=message[:1000]),
                reanalysis_requested=False,
                updated_at=now,
            ),
        )
        _release(transaction, ref, retry_at)
        return True

    done: bool = run(db.transaction())
    return done


def _release(
    transaction: firestore.Transaction, ref: firestore.DocumentReference, retry_at: datetime | None
) -> None:
    """The run is over: give up the lease; the sweeper retries at `retry_at` (if any)."""
    transaction.update(
        paths.lease_of(ref),
        RecordingLease.fields(lease_until=None, lease_token=None, next_attempt_at=retry_at),
    )


def _owned(
    transaction: firestore.Transaction, ref: firestore.DocumentReference, claimed: Claim
) -> Recording | None:
    """The recording if the run `claimed` still owns its lease (both read in `transaction`)."""
    snapshot = ref.get(transaction=transaction)
    lease = read_lease(paths.lease_of(ref).get(transaction=transaction))
    if not snapshot.exists:
        return None
    current = Recording.model_validate(snapshot.to_dict())
    owned = lease.lease_token == claimed.token and current.generation == str(claimed.generation)
    return current if owned else None


def summarize(result: AnalysisResult) -> RecordingSummary:
    """The list-view figures of a result."""
    summary = RecordingSummary(usable=result.quality.usable, quality_score=result.quality.score)
    if result.heart is not None:
        summary.heart_rate_bpm = result.heart.heart_rate_bpm
        summary.rhythm = result.heart.rhythm
        summary.murmur = result.heart.murmur.present
        summary.murmur_timing = result.heart.murmur.timing
    if result.lung is not None:
        summary.respiratory_rate_bpm = result.lung.respiratory_rate_bpm
        summary.wheeze = result.lung.wheeze_present
        summary.crackle = result.lung.crackle_present
    return summary
