"""Where each Firestore document lives: the one module that spells the paths (DESIGN §2).

Every function takes the client (`db`) and the ids, and returns a reference; nothing here reads
or writes. Ids reach these functions only after the id rule (`documents.is_valid_id`) has passed
them, so a reference never names another path than the one meant.

```
clinics/{c}                                   clinic(db, c)
clinics/{c}/members/{uid}                     member(db, c, uid)
clinics/{c}/patients/{p}                      patient(db, c, p)
clinics/{c}/patientMrns/{hex of mrn}          mrn_reservation(db, c, mrn)
clinics/{c}/recordings/{r}                    recording(db, c, r)
clinics/{c}/recordings/{r}/analyses/{a}       analysis(db, c, r, a)
clinics/{c}/recordings/{r}/private/lease      recording_lease(db, c, r)   server only
clinics/{c}/recordings/{r}/traces/{gen}       trace(db, c, r, gen)        server only
clinics/{c}/invitations/{i}                   invitation(db, c, i)
clinics/{c}/exams/{e}                         exam(db, c, e)
clinics/{c}/audit/{entry}                     audit(db, c)
```
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from google.cloud.firestore import Client, CollectionReference, DocumentReference

#: The subcollection of a recording that no client may read (firestore.rules): lease and retry
#: state. Also the collection-group id the sweeper queries.
PRIVATE = "private"
LEASE = "lease"
#: The subcollection of a recording holding its stored drawing traces (served by the API only).
TRACES = "traces"


def clinic(db: Client, clinic_id: str) -> DocumentReference:
    ref: DocumentReference = db.collection("clinics").document(clinic_id)
    return ref


def members(db: Client, clinic_id: str) -> CollectionReference:
    ref: CollectionReference = clinic(db, clinic_id).collection("members")
    return ref


def member(db: Client, clinic_id: str, uid: str) -> DocumentReference:
    ref: DocumentReference = members(db, clinic_id).document(uid)
    return ref


def patients(db: Client, clinic_id: str) -> CollectionReference:
    ref: CollectionReference = clinic(db, clinic_id).collection("patients")
    return ref


def patient(db: Client, clinic_id: str, patient_id: str) -> DocumentReference:
    ref: DocumentReference = patients(db, clinic_id).document(patient_id)
    return ref


def mrn_reservation(db: Client, clinic_id: str, mrn: str) -> DocumentReference:
    """The reservation of a record number: its id is the number's UTF-8 in hex (any characters a
    number may hold become a valid document id; case and inner spaces are significant)."""
    key = mrn.strip().encode().hex()
    ref: DocumentReference = clinic(db, clinic_id).collection("patientMrns").document(key)
    return ref


def recordings(db: Client, clinic_id: str) -> CollectionReference:
    ref: CollectionReference = clinic(db, clinic_id).collection("recordings")
    return ref


def recording(db: Client, clinic_id: str, recording_id: str) -> DocumentReference:
    ref: DocumentReference = recordings(db, clinic_id).document(recording_id)
    return ref


def analyses(db: Client, clinic_id: str, recording_id: str) -> CollectionReference:
    ref: CollectionReference = recording(db, clinic_id, recording_id).collection("analyses")
    return ref


def analysis(db: Client, clinic_id: str, recording_id: str, analysis_id: str) -> DocumentReference:
    ref: DocumentReference = analyses(db, clinic_id, recording_id).document(analysis_id)
    return ref


def recording_lease(db: Client, clinic_id: str, recording_id: str) -> DocumentReference:
    """Lease and retry state of a recording's analysis (`documents.RecordingLease`)."""
    return lease_of(recording(db, clinic_id, recording_id))


def lease_of(recording_ref: DocumentReference) -> DocumentReference:
    """The lease document below a recording document's reference."""
    ref: DocumentReference = recording_ref.collection(PRIVATE).document(LEASE)
    return ref


def traces_of(recording_ref: DocumentReference) -> CollectionReference:
    """The stored drawing traces below a recording document (one per object generation)."""
    ref: CollectionReference = recording_ref.collection(TRACES)
    return ref


def trace(db: Client, clinic_id: str, recording_id: str, generation: int) -> DocumentReference:
    """The stored drawing trace of one object generation of a recording."""
    ref: DocumentReference = traces_of(recording(db, clinic_id, recording_id)).document(
        str(generation)
    )
    return ref


def invitations(db: Client, clinic_id: str) -> CollectionReference:
    ref: CollectionReference = clinic(db, clinic_id).collection("invitations")
    return ref


def invitation(db: Client, clinic_id: str, invitation_id: str) -> DocumentReference:
    ref: DocumentReference = invitations(db, clinic_id).document(invitation_id)
    return ref


def exams(db: Client, clinic_id: str) -> CollectionReference:
    ref: CollectionReference = clinic(db, clinic_id).collection("exams")
    return ref


def exam(db: Client, clinic_id: str, exam_id: str) -> DocumentReference:
    ref: DocumentReference = exams(db, clinic_id).document(exam_id)
    return ref


def audit(db: Client, clinic_id: str) -> CollectionReference:
    ref: CollectionReference = clinic(db, clinic_id).collection("audit")
    return ref
