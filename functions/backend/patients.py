"""Patients in Firestore: create and edit with a unique medical record number, find by record
number or name prefix, the history of findings, and erasure.

Uniqueness of `mrn` per clinic: a reservation document `clinics/{c}/patientMrns/{key}` is created
in the same transaction as the patient (and moved when the number changes), so two concurrent
creations with one number cannot both succeed.

Erasure (GDPR art. 17) runs in bounded batches and is resumable: the patient is first marked
`erasing` (new uploads for it are refused from then on), then its recordings — every analysis,
every generation of the audio object, its stored traces, the document — and its exams are
deleted batch by batch, the counts accumulating on the patient document, which finally becomes a
tombstone (`erased`, who, when, counts). A crash half-way leaves `erasing`; the sweeper (or a
repeated DELETE) goes on from where it stopped. Reports are drawn on request and never stored,
so there is no cache to clear.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from backend.documents import Patient, PatientErasure, Recording, search_key
from backend.objects import recording_path
from backend.recordings import now_utc
from backend.traces import delete_traces

if TYPE_CHECKING:
    from google.cloud import firestore


class DuplicateMrnError(Exception):
    """The record number belongs to another patient of the clinic."""

    def __init__(self, existing_patient_id: str) -> None:
        super().__init__(existing_patient_id)
        self.existing_patient_id = existing_patient_id


class PatientNotActiveError(Exception):
    """The patient is being erased or was erased."""


def patients(db: firestore.Client, clinic_id: str) -> firestore.CollectionReference:
    ref: firestore.CollectionReference = (
        db.collection("clinics").document(clinic_id).collection("patients")
    )
    return ref


def _mrn_ref(db: firestore.Client, clinic_id: str, mrn: str) -> firestore.DocumentReference:
    """The reservation of a record number: its id is the number's UTF-8 in hex (any characters a
    number may hold become a valid document id; case and spaces are significant)."""
    ref: firestore.DocumentReference = (
        db.collection("clinics")
        .document(clinic_id)
        .collection("patientMrns")
        .document(mrn.strip().encode().hex())
    )
    return ref


def get_patient(db: firestore.Client, clinic_id: str, patient_id: str) -> Patient | None:
    snapshot = patients(db, clinic_id).document(patient_id).get()
    return Patient.model_validate(snapshot.to_dict()) if snapshot.exists else None


def create_patient(
    db: firestore.Client, clinic_id: str, patient_id: str, patient: Patient
) -> Patient:
    """Create the patient, reserving its record number; DuplicateMrnError names the holder."""
    from google.cloud import firestore as fs

    if patient.display_name:
        patient = patient.model_copy(update={"search_name": search_key(patient.display_name)})
    ref = patients(db, clinic_id).document(patient_id)

    @fs.transactional
    def run(transaction: fs.Transaction) -> None:
        if patient.mrn:
            mrn = _mrn_ref(db, clinic_id, patient.mrn)
            held = mrn.get(transaction=transaction)
            if held.exists:
                raise DuplicateMrnError(str((held.to_dict() or {}).get("patientId")))
            transaction.create(mrn, {"patientId": patient_id})
        transaction.create(ref, patient.to_firestore())

    run(db.transaction())
    return patient


def update_patient(
    db: firestore.Client, clinic_id: str, patient_id: str, changes: dict[str, Any], uid: str
) -> Patient:
    """Apply `changes` (snake_case fields); moves the record-number reservation if it changed.
    LookupError if there is no such patient; PatientNotActiveError once erasure has begun."""
    from google.cloud import firestore as fs

    ref = patients(db, clinic_id).document(patient_id)

    @fs.transactional
    def run(transaction: fs.Transaction) -> Patient:
        snapshot = ref.get(transaction=transaction)
        if not snapshot.exists:
            raise LookupError(patient_id)
        current = Patient.model_validate(snapshot.to_dict())
        if current.status != "active":
            raise PatientNotActiveError(current.status)
        updated = current.model_copy(update={**changes, "updated_at": now_utc(), "updated_by": uid})
        updated = Patient.model_validate(updated.model_dump())  # re-validate the edited fields
        if updated.display_name:
            updated = updated.model_copy(update={"search_name": search_key(updated.display_name)})
        if updated.mrn != current.mrn:
            if updated.mrn:
                new = _mrn_ref(db, clinic_id, updated.mrn)
                held = new.get(transaction=transaction)
                if held.exists and (held.to_dict() or {}).get("patientId") != patient_id:
                    raise DuplicateMrnError(str((held.to_dict() or {}).get("patientId")))
                transaction.set(new, {"patientId": patient_id})
            if current.mrn:
                transaction.delete(_mrn_ref(db, clinic_id, current.mrn))
        transaction.set(ref, updated.to_firestore())
        return updated

    result: Patient = run(db.transaction())
    return result


def find_by_mrn(db: firestore.Client, clinic_id: str, mrn: str) -> list[tuple[str, Patient]]:
    """The patient holding this record number (exact), as a list of zero or one."""
    snapshot = _mrn_ref(db, clinic_id, mrn).get()
    if not snapshot.exists:
        return []
    patient_id = str((snapshot.to_dict() or {}).get("patientId"))
    patient = get_patient(db, clinic_id, patient_id)
    return [(patient_id, patient)] if patient is not None else []


def search_by_name(
    db: firestore.Client, clinic_id: str, prefix: str, limit: int, after: str | None
) -> list[tuple[str, Patient]]:
    """Patients whose folded display name starts with the folded `prefix`, by name then id;
    `after` is the id of the last patient of the previous page."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    key = search_key(prefix)
    query = (
        patients(db, clinic_id)
        .where(filter=FieldFilter("searchName", ">=", key))
        .where(filter=FieldFilter("searchName", "<", key + "\uf8ff"))
        .order_by("searchName")
        .order_by("__name__")
    )
    return _page(db, clinic_id, query, limit, after)


def list_patients(
    db: firestore.Client, clinic_id: str, limit: int, after: str | None
) -> list[tuple[str, Patient]]:
    """All patients, newest first."""
    from google.cloud import firestore as fs

    query = patients(db, clinic_id).order_by("createdAt", direction=fs.Query.DESCENDING)
    return _page(db, clinic_id, query, limit, after)


def _page(
    db: firestore.Client, clinic_id: str, query: Any, limit: int, after: str | None
) -> list[tuple[str, Patient]]:
    """`limit` patients of `query` after the patient `after` (the last of the previous page)."""
    if after:
        last = patients(db, clinic_id).document(after).get()
        if last.exists:
            query = query.start_after(last)
    return [(s.id, Patient.model_validate(s.to_dict())) for s in query.limit(limit).stream()]


def patient_recordings(
    db: firestore.Client, clinic_id: str, patient_id: str
) -> Iterator[tuple[str, Recording]]:
    """Every recording of the patient, oldest first (by creation)."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = (
        db.collection("clinics")
        .document(clinic_id)
        .collection("recordings")
        .where(filter=FieldFilter("patientId", "==", patient_id))
    )
    found = [(s.id, Recording.model_validate(s.to_dict())) for s in query.stream()]
    found.sort(key=lambda item: (item[1].recorded_at or item[1].created_at, item[0]))
    yield from found


# --- erasure ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ErasureProgress:
    status: str  # "erasing" (more to do) or "erased"
    erasure: PatientErasure


def begin_erasure(
    db: firestore.Client, clinic_id: str, patient_id: str, uid: str, now: datetime | None = None
) -> ErasureProgress:
    """Mark the patient `erasing` (idempotent: an erasing or erased patient stays as it is)."""
    from google.cloud import firestore as fs

    ref = patients(db, clinic_id).document(patient_id)
    now = now or now_utc()

    @fs.transactional
    def run(transaction: fs.Transaction) -> ErasureProgress:
        snapshot = ref.get(transaction=transaction)
        if not snapshot.exists:
            raise LookupError(patient_id)
        current = Patient.model_validate(snapshot.to_dict())
        if current.status != "active" and current.erasure is not None:
            return ErasureProgress(current.status, current.erasure)
        erasure = PatientErasure(requested_at=now, requested_by=uid)
        transaction.update(
            ref, Patient.fields(status="erasing", erasure=erasure, updated_at=now, updated_by=uid)
        )
        return ErasureProgress("erasing", erasure)

    progress: ErasureProgress = run(db.transaction())
    return progress


def continue_erasure(
    db: firestore.Client,
    bucket: str,
    clinic_id: str,
    patient_id: str,
    *,
    batch_size: int = 50,
    time_budget_s: float = 20.0,
) -> ErasureProgress:
    """Delete the patient's data batch by batch until done or the time budget is spent."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    ref = patients(db, clinic_id).document(patient_id)
    clinic = db.collection("clinics").document(clinic_id)
    deadline = time.monotonic() + time_budget_s
    while True:
        snapshot = ref.get()
        if not snapshot.exists:
            raise LookupError(patient_id)
        patient = Patient.model_validate(snapshot.to_dict())
        if patient.status == "erased" and patient.erasure is not None:
            return ErasureProgress("erased", patient.erasure)
        erasure = patient.erasure or PatientErasure(requested_at=now_utc(), requested_by="system")
        recordings = list(
            clinic.collection("recordings")
            .where(filter=FieldFilter("patientId", "==", patient_id))
            .limit(batch_size)
            .stream()
        )
        exams = list(
            clinic.collection("exams")
            .where(filter=FieldFilter("patientId", "==", patient_id))
            .limit(batch_size)
            .stream()
        )
        if not recordings and not exams:
            return _finish_erasure(db, clinic_id, ref, patient, erasure)
        counts = {"recordings": 0, "analyses": 0, "objects": 0, "exams": 0}
        for recording in recordings:
            path = (recording.to_dict() or {}).get("storagePath")
            for name in {recording_path(clinic_id, recording.id, f) for f in ("wav", "flac")} | (
                {path} if isinstance(path, str) else set()
            ):
                counts["objects"] += delete_objects(bucket, name)
            for analysis in recording.reference.collection("analyses").stream():
                analysis.reference.delete()
                counts["analyses"] += 1
            delete_traces(recording.reference)
            recording.reference.delete()
            counts["recordings"] += 1
        for exam in exams:
            exam.reference.delete()
            counts["exams"] += 1
        erasure = erasure.model_copy(update={k: getattr(erasure, k) + v for k, v in counts.items()})
        ref.update(Patient.fields(erasure=erasure))
        if time.monotonic() > deadline:
            return ErasureProgress("erasing", erasure)


def delete_objects(bucket: str, name: str) -> int:
    """Every generation of the object `name` (a versioned bucket keeps old ones)."""
    from google.api_core import exceptions as gcloud_errors

    from backend.clients import storage_client

    deleted = 0
    client = storage_client()
    for blob in client.list_blobs(bucket, prefix=name, versions=True):
        if blob.name != name:
            continue
        try:
            client.bucket(bucket).blob(name, generation=blob.generation).delete()
            deleted += 1
        except gcloud_errors.NotFound:
            pass  # deleted meanwhile: the goal is reached all the same
    return deleted


def _finish_erasure(
    db: firestore.Client,
    clinic_id: str,
    ref: firestore.DocumentReference,
    patient: Patient,
    erasure: PatientErasure,
) -> ErasureProgress:
    """Reduce the patient to its tombstone and release its record number."""
    now = now_utc()
    if patient.mrn:
        _mrn_ref(db, clinic_id, patient.mrn).delete()
    done = erasure.model_copy(update={"completed_at": now})
    tombstone = Patient(
        status="erased",
        created_at=patient.created_at,
        created_by=patient.created_by,
        updated_at=now,
        updated_by=erasure.requested_by,
        erasure=done,
    )
    ref.set(tombstone.to_firestore())
    return ErasureProgress("erased", done)


def pending_erasures(db: firestore.Client, limit: int) -> list[tuple[str, str]]:
    """(clinic id, patient id) of patients left `erasing` (a crash, a time budget spent)."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = db.collection_group("patients").where(filter=FieldFilter("status", "==", "erasing"))
    found = []
    for snapshot in query.limit(limit).stream():
        clinic_ref = snapshot.reference.parent.parent
        if clinic_ref is not None:
            found.append((clinic_ref.id, snapshot.id))
    return found


def audit_completion(
    db: firestore.Client, clinic_id: str, patient_id: str, erasure: PatientErasure
) -> None:
    """The audit entry that proves an erasure finished (in the requesting admin's name)."""
    from backend import audit

    audit.append(
        db,
        clinic_id,
        erasure.requested_by,
        "admin",
        "patient.erased",
        f"patients/{patient_id}",
        patient_id=patient_id,
        detail=f"{erasure.recordings} recordings, {erasure.analyses} analyses, "
        f"{erasure.objects} objects, {erasure.exams} exams",
    )
