"""Exams in Firestore: a patient's multi-site auscultation, its takes and its assessment.

`attach` links a registered take to its exam site (a re-recorded site points at the newest take).
When a take's analysis ends, `record_site_result` stores that site's compact result (the result
without its per-beat and per-event lists) in the exam document and recomputes the assessment from
every site's stored result with the analysis core's `assess_exam` — all in one transaction on the
exam document alone, so many sites finishing at once never lose an update (a transaction that read
a stale exam is retried) and contend on nothing else. Re-analysis takes the same path; a result
of a take that was since replaced at its site is ignored. The assessment is a function of the
stored site results, so recomputing it is idempotent.
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from backend import paths
from backend.documents import Exam, ExamSite, ExamSiteStatus
from backend.paging import start_after
from backend.recordings import now_utc
from stethoscope.sites import PROTOCOLS, Kind, ProtocolName, site_kind

if TYPE_CHECKING:
    from google.cloud import firestore

    from stethoscope.result import AnalysisResult

FINAL_SITE_STATES = ("analyzed", "rejected", "skipped")
T = TypeVar("T")


class ExamError(Exception):
    """An exam cannot take this change (a sentence for the caller); `code` is stable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def plan(protocol: ProtocolName | None, sites: Sequence[str] | None) -> tuple[Kind, list[str]]:
    """The kind and ordered sites of an exam from a protocol name or an explicit site list."""
    if protocol is not None:
        protocol_kind, protocol_sites = PROTOCOLS[protocol]
        return protocol_kind, list(protocol_sites)
    chosen = list(dict.fromkeys(sites or []))
    kinds = {site_kind(s) for s in chosen}
    kind = site_kind(chosen[0]) if chosen else None
    if kind is None or len(kinds) != 1:
        raise ExamError("invalid_sites", "give known sites, all heart or all lung")
    return kind, chosen


def create_exam(
    db: firestore.Client,
    clinic_id: str,
    patient_id: str,
    protocol: ProtocolName | None,
    sites: Sequence[str] | None,
    uid: str,
    exam_id: str | None = None,
) -> tuple[str, Exam, bool]:
    """Create the exam (under `exam_id` when the client made one, as the uploader does to work
    offline: asking again with the same patient and sites returns it). Returns (id, exam,
    created); ExamError `exam_conflict` if the id holds a different exam."""
    from google.cloud import firestore as fs

    kind, ordered = plan(protocol, sites)
    now = now_utc()
    exam = Exam(
        patient_id=patient_id,
        kind=kind,
        protocol=protocol or "custom",
        site_order=ordered,
        sites={site: ExamSite() for site in ordered},
        created_at=now,
        created_by=uid,
        updated_at=now,
    )
    exam_id = exam_id or f"exm_{secrets.token_hex(8)}"
    ref = paths.exam(db, clinic_id, exam_id)

    @fs.transactional
    def run(transaction: fs.Transaction) -> tuple[Exam, bool]:
        snapshot = ref.get(transaction=transaction)
        if snapshot.exists:
            existing = Exam.model_validate(snapshot.to_dict())
            if (existing.patient_id, existing.site_order) != (patient_id, ordered):
                raise ExamError("exam_conflict", "this exam id holds another exam")
            return existing, False
        transaction.create(ref, exam.to_firestore())
        return exam, True

    stored, created = run(db.transaction())
    return exam_id, stored, created


def get_exam(db: firestore.Client, clinic_id: str, exam_id: str) -> Exam | None:
    snapshot = paths.exam(db, clinic_id, exam_id).get()
    return Exam.model_validate(snapshot.to_dict()) if snapshot.exists else None


def check_take(exam: Exam | None, patient_id: str, site: str, kind: str) -> None:
    """Raise ExamError unless a take of `site` for `patient_id` may join this exam."""
    if exam is None:
        raise ExamError("unknown_exam", "no such exam in this clinic")
    if exam.status not in ("open", "complete"):
        raise ExamError("exam_closed", f"the exam is {exam.status}")
    if exam.patient_id != patient_id:
        raise ExamError("exam_patient_mismatch", "the exam belongs to another patient")
    if site not in exam.sites or kind != exam.kind:
        raise ExamError("site_not_in_exam", f"{site} ({kind}) is not a site of this exam")


def attach(
    db: firestore.Client, clinic_id: str, exam_id: str, site: str, recording_id: str
) -> None:
    """Point the exam's site at this take (the newest take of a site wins)."""
    from google.cloud import firestore as fs

    ref = paths.exam(db, clinic_id, exam_id)

    @fs.transactional
    def run(transaction: fs.Transaction) -> None:
        snapshot = ref.get(transaction=transaction)
        if not snapshot.exists:
            return
        exam = Exam.model_validate(snapshot.to_dict())
        if exam.sites.get(site, ExamSite()).recording_id == recording_id:
            return
        sites = dict(exam.sites)
        sites[site] = ExamSite(recording_id=recording_id, status="awaiting_upload")
        status = "complete" if exam.status == "assessed" else exam.status  # a new take reopens
        transaction.update(
            ref, Exam.fields(sites=_wire(sites), status=status, updated_at=now_utc())
        )

    run(db.transaction())


def set_status(db: firestore.Client, clinic_id: str, exam_id: str, status: str, uid: str) -> Exam:
    """Complete or cancel an exam (complete also reassesses). ExamError if not allowed."""
    from google.cloud import firestore as fs

    ref = paths.exam(db, clinic_id, exam_id)
    now = now_utc()

    @fs.transactional
    def run(transaction: fs.Transaction) -> Exam:
        snapshot = ref.get(transaction=transaction)
        if not snapshot.exists:
            raise ExamError("unknown_exam", "no such exam in this clinic")
        exam = Exam.model_validate(snapshot.to_dict())
        if exam.status == "cancelled" or (exam.status != "open" and status == "cancelled"):
            raise ExamError("exam_closed", f"the exam is {exam.status}")
        if status == "complete" and exam.status != "open":
            return exam  # idempotent
        changes: dict[str, Any] = {"status": status, "updated_at": now}
        sites = exam.sites
        if status == "complete":  # sites never recorded are skipped
            changes |= {"completed_at": now, "completed_by": uid}
            sites = {
                s: (v if v.recording_id else ExamSite(status="skipped"))
                for s, v in exam.sites.items()
            }
        transaction.update(ref, Exam.fields(**changes, sites=_wire(sites)))
        return exam.model_copy(update={**changes, "sites": sites})

    exam: Exam = run(db.transaction())
    if status == "complete":
        return reassess(db, clinic_id, exam_id) or exam
    return exam


#: Concurrent site results contend for one exam document: each transaction is tried once at a
#: time and retried after a jittered, growing pause (the client library retries at once, which
#: under the emulator's pessimistic locks lets a dozen contenders starve each other).
TRANSACTION_ATTEMPTS = 12
FIRST_PAUSE_S = 0.05


def _contended(run: Callable[[Any], T], db: firestore.Client) -> T:
    """Run a transactional function, retrying contention with jittered exponential backoff."""
    from google.api_core import exceptions as gcloud_errors

    pause = FIRST_PAUSE_S
    for attempt in range(TRANSACTION_ATTEMPTS):
        try:
            return run(db.transaction(max_attempts=1))
        except (ValueError, gcloud_errors.Aborted, gcloud_errors.Conflict):
            if attempt == TRANSACTION_ATTEMPTS - 1:
                raise
            time.sleep(pause * random.uniform(0.5, 1.5))
            pause = min(pause * 2, 2.0)
    raise AssertionError("unreachable")


def record_site_result(
    db: firestore.Client,
    clinic_id: str,
    exam_id: str,
    site: str,
    recording_id: str,
    status: ExamSiteStatus,
    result: AnalysisResult | None,
) -> Exam | None:
    """Store one site's outcome and recompute the exam, in one transaction on the exam."""
    from google.cloud import firestore as fs

    ref = paths.exam(db, clinic_id, exam_id)
    compact = None if result is None else compact_result(result)

    @fs.transactional
    def run(transaction: fs.Transaction) -> Exam | None:
        snapshot = ref.get(transaction=transaction)
        if not snapshot.exists:
            return None
        exam = Exam.model_validate(snapshot.to_dict())
        current = exam.sites.get(site)
        if exam.status == "cancelled" or current is None or current.recording_id != recording_id:
            return exam  # a cancelled exam, or a take since replaced at this site
        usable = None if result is None else result.quality.usable
        sites = {**exam.sites, site: ExamSite(recording_id=recording_id, status=status,
                                              usable=usable, result=compact)}  # fmt: skip
        return _store_assessment(transaction, ref, exam, sites)

    updated: Exam | None = _contended(run, db)
    return updated


def reassess(db: firestore.Client, clinic_id: str, exam_id: str) -> Exam | None:
    """Recompute the exam from the site results it stores (after completing it)."""
    from google.cloud import firestore as fs

    ref = paths.exam(db, clinic_id, exam_id)

    @fs.transactional
    def run(transaction: fs.Transaction) -> Exam | None:
        snapshot = ref.get(transaction=transaction)
        if not snapshot.exists:
            return None
        exam = Exam.model_validate(snapshot.to_dict())
        if exam.status == "cancelled":
            return exam
        return _store_assessment(transaction, ref, exam, exam.sites)

    updated: Exam | None = _contended(run, db)
    return updated


def compact_result(result: AnalysisResult) -> dict[str, Any]:
    """The result without its long lists (beats, intervals, cycles, events): what an exam needs,
    small enough for twelve sites in one document."""
    heart = result.heart
    lung = result.lung
    if heart is not None:
        murmur = heart.murmur.model_copy(update={"beat_evidence": []})
        heart = heart.model_copy(update={"beats": [], "rr_intervals_s": [], "murmur": murmur})
    if lung is not None:
        lung = lung.model_copy(
            update={"cycles": [], "wheezes": [], "crackles": [], "crackle_counts_per_min": []}
        )
    slim = result.model_copy(update={"heart": heart, "lung": lung, "parameters": {}})
    compact: dict[str, Any] = slim.model_dump(mode="json", by_alias=True)
    return compact


def _store_assessment(
    transaction: firestore.Transaction,
    ref: firestore.DocumentReference,
    exam: Exam,
    sites: dict[str, ExamSite],
) -> Exam:
    from stethoscope.exam import assess_exam
    from stethoscope.exam_lung import assess_lung_exam
    from stethoscope.result import AnalysisResult

    results = {
        site: AnalysisResult.model_validate(entry.result)
        for site, entry in sites.items()
        if entry.result is not None
    }
    assess = assess_exam if exam.kind == "heart" else assess_lung_exam
    assessment = assess(results).model_dump(mode="json", by_alias=True) if results else None
    versions = sorted({r.version for r in results.values()})
    done = all(v.status in FINAL_SITE_STATES for v in sites.values())
    now = now_utc()
    status = "assessed" if exam.status in ("complete", "assessed") and done else exam.status
    changes: dict[str, Any] = {
        "assessment": assessment,
        "analysis_version": ",".join(versions) or None,
        "re_record": [s for s in exam.site_order if _needs_retake(sites[s])],
        "status": status,
        "updated_at": now,
    }
    if status == "assessed" and exam.status != "assessed":
        changes["assessed_at"] = now
    transaction.update(ref, Exam.fields(**changes, sites=_wire(sites)))
    return exam.model_copy(update={**changes, "sites": sites})


def list_exams(
    db: firestore.Client, clinic_id: str, patient_id: str | None, limit: int, after: str | None
) -> list[tuple[str, Exam]]:
    """Exams newest first, optionally of one patient."""
    from google.cloud import firestore as fs
    from google.cloud.firestore_v1.base_query import FieldFilter

    collection = paths.exams(db, clinic_id)
    query: Any = collection
    if patient_id:
        query = query.where(filter=FieldFilter("patientId", "==", patient_id))
    query = query.order_by("createdAt", direction=fs.Query.DESCENDING)
    query = start_after(query, collection, after)
    return [(s.id, Exam.model_validate(s.to_dict())) for s in query.limit(limit).stream()]


def _needs_retake(site: ExamSite) -> bool:
    """A take that was refused, or analysed but not usable, should be recorded again."""
    return site.status == "rejected" or (site.status == "analyzed" and site.usable is False)


def _wire(sites: dict[str, ExamSite]) -> dict[str, Any]:
    return {site: entry.to_firestore() for site, entry in sites.items()}
