"""Exams in Firestore: a patient's multi-site auscultation, its takes and its assessment.

`attach` links a registered take to its exam site (a re-recorded site points at the newest take).
`reassess` recomputes the assessment in one transaction from every site's stored result with the
analysis core's `assess_exam`, so results of many sites finishing at once never overwrite each
other (a transaction that read a stale exam is retried), and re-analysis updates the exam by the
same path. It is idempotent: the assessment is a function of the stored results.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from backend.documents import Analysis, Exam, ExamSite, ExamSiteStatus, Recording
from backend.recordings import now_utc, recording_ref
from stethoscope.sites import PROTOCOLS, Kind, ProtocolName, site_kind

if TYPE_CHECKING:
    from google.cloud import firestore

FINAL_SITE_STATES = ("analyzed", "rejected", "skipped")


class ExamError(Exception):
    """An exam cannot take this change (a sentence for the caller); `code` is stable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def exam_ref(db: firestore.Client, clinic_id: str, exam_id: str) -> firestore.DocumentReference:
    ref: firestore.DocumentReference = (
        db.collection("clinics").document(clinic_id).collection("exams").document(exam_id)
    )
    return ref


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
) -> tuple[str, Exam]:
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
    exam_id = f"exm_{secrets.token_hex(8)}"
    exam_ref(db, clinic_id, exam_id).create(exam.to_firestore())
    return exam_id, exam


def get_exam(db: firestore.Client, clinic_id: str, exam_id: str) -> Exam | None:
    snapshot = exam_ref(db, clinic_id, exam_id).get()
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

    ref = exam_ref(db, clinic_id, exam_id)

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

    ref = exam_ref(db, clinic_id, exam_id)
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


def reassess(db: firestore.Client, clinic_id: str, exam_id: str) -> Exam | None:
    """Recompute the exam from its sites' stored results, in one transaction."""
    from google.cloud import firestore as fs

    from stethoscope import assess_exam
    from stethoscope.result import AnalysisResult

    ref = exam_ref(db, clinic_id, exam_id)

    @fs.transactional
    def run(transaction: fs.Transaction) -> Exam | None:
        snapshot = ref.get(transaction=transaction)
        if not snapshot.exists:
            return None
        exam = Exam.model_validate(snapshot.to_dict())
        if exam.status == "cancelled":
            return exam
        sites: dict[str, ExamSite] = {}
        results: dict[str, AnalysisResult] = {}
        versions: set[str] = set()
        for site, entry in exam.sites.items():
            if entry.recording_id is None:
                sites[site] = entry
                continue
            recording_snap = recording_ref(db, clinic_id, entry.recording_id).get(
                transaction=transaction
            )
            if not recording_snap.exists:
                sites[site] = ExamSite(status="pending")
                continue
            recording = Recording.model_validate(recording_snap.to_dict())
            status: ExamSiteStatus = recording.status.value
            usable = None
            if recording.analysis_id is not None:
                analysis_snap = (
                    recording_snap.reference.collection("analyses")
                    .document(recording.analysis_id)
                    .get(transaction=transaction)
                )
                if analysis_snap.exists:
                    analysis = Analysis.model_validate(analysis_snap.to_dict())
                    result = AnalysisResult.model_validate(analysis.result)
                    results[site] = result
                    versions.add(result.version)
                    usable = result.quality.usable
            if status == "failed" and recording.next_attempt_at is None:
                status = "rejected"  # retries exhausted: as final as a rejection
            sites[site] = ExamSite(recording_id=entry.recording_id, status=status, usable=usable)
        assessment = assess_exam(results).model_dump(mode="json") if results else None
        re_record = [s for s in exam.site_order if _needs_retake(sites[s])]
        done = all(v.status in FINAL_SITE_STATES for v in sites.values())
        now = now_utc()
        new_status = "assessed" if exam.status in ("complete", "assessed") and done else exam.status
        changes: dict[str, Any] = {
            "sites": _wire(sites),
            "assessment": assessment,
            "analysis_version": ",".join(sorted(versions)) or None,
            "re_record": re_record,
            "status": new_status,
            "updated_at": now,
        }
        if new_status == "assessed":
            changes["assessed_at"] = now
        transaction.update(ref, Exam.fields(**changes))
        return exam.model_copy(update={**changes, "sites": sites})

    updated: Exam | None = run(db.transaction())
    return updated


def list_exams(
    db: firestore.Client, clinic_id: str, patient_id: str | None, limit: int, after: str | None
) -> list[tuple[str, Exam]]:
    """Exams newest first, optionally of one patient."""
    from google.cloud import firestore as fs
    from google.cloud.firestore_v1.base_query import FieldFilter

    collection = db.collection("clinics").document(clinic_id).collection("exams")
    query: Any = collection
    if patient_id:
        query = query.where(filter=FieldFilter("patientId", "==", patient_id))
    query = query.order_by("createdAt", direction=fs.Query.DESCENDING)
    if after:
        last = collection.document(after).get()
        if last.exists:
            query = query.start_after(last)
    return [(s.id, Exam.model_validate(s.to_dict())) for s in query.limit(limit).stream()]


def _needs_retake(site: ExamSite) -> bool:
    """A take that was refused, or analysed but not usable, should be recorded again."""
    return site.status == "rejected" or (site.status == "analyzed" and site.usable is False)


def _wire(sites: dict[str, ExamSite]) -> dict[str, Any]:
    return {site: entry.to_firestore() for site, entry in sites.items()}
