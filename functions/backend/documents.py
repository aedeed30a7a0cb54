"""Firestore documents: one Pydantic model per document, camelCase on the wire (DESIGN §2, §7).

These models are the single source of truth for what the backend writes, what the API returns
and what the frontend reads (`scripts/export_schemas.py` turns them into JSON Schema and
TypeScript types). Python code uses snake_case attributes; `to_firestore()` gives the camelCase
dict stored in Firestore.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from stethoscope.sites import Kind, ProtocolName, Site

Role = Literal["admin", "clinician", "uploader"]
_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def is_valid_id(value: str) -> bool:
    """The one id rule (clinics, recordings, patients, members, object names, page tokens):
    1-128 characters of A-Z a-z 0-9 _ -, and not of the form __…__, which Firestore reserves.
    So `.`, `..`, `/`, control characters and anything a path could misread never reach a
    document path."""
    return bool(_ID.fullmatch(value)) and not (value.startswith("__") and value.endswith("__"))


def valid_id(value: str) -> str:
    if not is_valid_id(value):
        raise ValueError("ids are 1-128 characters of A-Z a-z 0-9 _ - and not __…__")
    return value


DocumentId = Annotated[str, AfterValidator(valid_id)]


class RecordingStatus(StrEnum):
    """Life cycle of a recording (DESIGN §1.3)."""

    AWAITING_UPLOAD = "awaiting_upload"
    ANALYZING = "analyzing"
    ANALYZED = "analyzed"
    REJECTED = "rejected"  # bad input: never retried
    FAILED = "failed"  # transient or internal: re-driven by the sweeper


class Document(BaseModel):
    """Base: camelCase aliases, either name accepted, unknown fields kept out."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    def to_firestore(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=False)

    @classmethod
    def fields(cls, **values: Any) -> dict[str, Any]:
        """A partial update in wire form: snake_case names in, camelCase keys out (unknown names
        raise), enums and nested documents converted."""
        out: dict[str, Any] = {}
        for name, value in values.items():
            alias = cls.model_fields[name].alias or name
            if isinstance(value, Document):
                value = value.to_firestore()
            elif isinstance(value, StrEnum):
                value = value.value
            out[alias] = value
        return out


class Clinic(Document):
    name: str = Field(min_length=1, max_length=200)
    created_at: datetime


class Member(Document):
    role: Role
    uid: str | None = Field(None, description="the member's user id (the document id too)")
    email: str | None = Field(None, max_length=320)
    added_at: datetime | None = None
    added_by: str | None = None


EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$"
InvitationStatus = Literal["pending", "accepted", "revoked", "expired"]


def normal_email(email: str) -> str:
    """The form invitations compare: trimmed and lower-cased (Firebase Auth ignores case too)."""
    return email.strip().lower()


class Invitation(Document):
    """clinics/{clinicId}/invitations/{invitationId}: an admin's invitation of an email address
    to the clinic with a role; the person accepts it signed in with that address (backend
    /invitations.py). Stored `pending`, `accepted` or `revoked`; a pending one past `expiresAt`
    is reported `expired`."""

    email: str = Field(max_length=320, description="lower-cased")
    role: Role
    status: Literal["pending", "accepted", "revoked"] = "pending"
    created_at: datetime
    created_by: str
    expires_at: datetime
    invited_uid: str | None = Field(
        None, description="the account the invitation created (none existed for the email)"
    )
    accepted_at: datetime | None = None
    accepted_by: str | None = None
    revoked_at: datetime | None = None
    revoked_by: str | None = None


PatientStatus = Literal["active", "erasing", "erased"]
MRN_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 ._/-]{0,63}$"


def search_key(name: str) -> str:
    """The form of a display name that name-prefix search compares (case and accents folded,
    inner spaces collapsed): 'Ana  María' and 'ana maria' find the same patient."""
    import unicodedata

    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return " ".join(folded.casefold().split())


class PatientErasure(Document):
    """What the erasure of a patient removed (kept on the tombstone as proof)."""

    requested_at: datetime
    requested_by: str
    completed_at: datetime | None = None
    recordings: int = 0
    analyses: int = 0
    objects: int = 0
    exams: int = 0


class Patient(Document):
    """clinics/{clinicId}/patients/{patientId}: the fields a clinic finds a patient by.

    `mrn` (medical record number) is unique per clinic (a reservation document under
    `patientMrns/` enforces it in the same transaction). Erasure (GDPR art. 17) reduces the
    document to a tombstone: status `erased`, who and when, and the counts removed.
    """

    mrn: str | None = Field(None, pattern=MRN_PATTERN, description="medical record number")
    display_name: str | None = Field(None, min_length=1, max_length=200)
    search_name: str | None = Field(None, description="display name folded for prefix search")
    label: str | None = Field(None, min_length=1, max_length=64, description="pseudonymous label")
    birth_year: int | None = Field(None, ge=1900, le=2100)
    birth_date: date | None = None
    sex: Literal["female", "male", "other", "unknown"] | None = None
    status: PatientStatus = "active"
    created_at: datetime
    created_by: str
    updated_at: datetime | None = None
    updated_by: str | None = None
    erasure: PatientErasure | None = None


AuditAction = Literal[
    "patient.create", "patient.update", "patient.read", "patient.search", "patient.history",
    "patient.fhir", "patient.erase", "patient.erased",
    "recording.create", "recording.read", "recording.list", "recording.object",
    "recording.report", "recording.fhir", "recording.audio", "recording.reanalyze",
    "recording.trace", "recording.links", "exam.links",
    "clinic.reanalyze", "member.list", "member.update", "member.delete", "audit.read",
    "exam.create", "exam.read", "exam.list", "exam.complete", "exam.cancel", "exam.report",
    "exam.fhir", "invitation.create", "invitation.list", "invitation.revoke",
    "invitation.accept",
]  # fmt: skip


class AuditEntry(Document):
    """clinics/{clinicId}/audit/{entryId}: one API action on patient data or on the clinic,
    written only by the backend (HIPAA §164.312(b) audit controls; GDPR art. 5(2))."""

    at: datetime
    uid: str
    role: Role
    action: AuditAction
    target: str = Field(description="path of what was acted on, below the clinic")
    patient_id: str | None = None
    request_id: str
    outcome: Literal["ok", "denied", "failed"] = "ok"
    detail: str | None = None


class RecordingError(Document):
    """Why a recording was rejected or failed: a stable code and a sentence for people."""

    code: str
    message: str


class RecordingSummary(Document):
    """The figures a list view shows, copied from the full analysis."""

    usable: bool
    quality_score: float
    heart_rate_bpm: float | None = None
    rhythm: str | None = None
    murmur: bool | None = None
    murmur_timing: str | None = None
    respiratory_rate_bpm: float | None = None
    wheeze: bool | None = None
    crackle: bool | None = None


class Recording(Document):
    """clinics/{clinicId}/recordings/{recordingId}.

    Patient, site, kind, device and times are always set for recordings registered through the
    API; a file copied into the bucket without its metadata yields a `rejected` document where
    they may be missing.
    """

    patient_id: str | None
    site: Site | None
    kind: Kind | None
    device_id: str | None
    client_recording_id: str | None = None
    exam_id: str | None = Field(None, description="the exam this take belongs to, if any")
    recorded_at: datetime | None
    created_at: datetime
    created_by: str | None
    storage_path: str
    status: RecordingStatus
    updated_at: datetime
    size_bytes: int | None = None
    crc32c: str | None = Field(None, alias="crc32c")
    declared_crc32c: str | None = Field(
        None,
        alias="declaredCrc32c",
        description="CRC32C the uploader declared at registration; the object must match",
    )
    generation: str | None = Field(
        None, description="GCS object generation analysed (int64 as text)"
    )
    sample_rate_hz: float | None = None
    duration_s: float | None = None
    error: RecordingError | None = None
    summary: RecordingSummary | None = None
    analysis_version: str | None = None
    analysis_id: str | None = Field(None, description="id of the document under analyses/")
    analyzed_at: datetime | None = None
    attempts: int = Field(0, description="analysis attempts for the current generation")
    analysis_count: int = Field(0, description="completed analyses, all generations")
    lease_until: datetime | None = Field(None, description="an analysis in progress owns it until")
    lease_token: str | None = Field(None, description="which analysis run owns the lease")
    next_attempt_at: datetime | None = Field(None, description="when the sweeper retries a failure")
    reanalysis_requested: bool = False


ExamStatus = Literal["open", "complete", "assessed", "cancelled"]
ExamSiteStatus = Literal[
    "pending", "awaiting_upload", "analyzing", "analyzed", "rejected", "failed", "skipped"
]


class ExamSite(Document):
    """One site of an exam: the recording that covers it (the latest take) and where it is."""

    recording_id: str | None = None
    status: ExamSiteStatus = "pending"
    usable: bool | None = Field(None, description="quality verdict of the analysed take")
    result: dict[str, Any] | None = Field(
        None, description="the take's analysis result without per-beat/per-event lists"
    )


class Exam(Document):
    """clinics/{clinicId}/exams/{examId}: one multi-site auscultation of a patient.

    `open` while takes are recorded, `complete` once the person recording says it is done,
    `assessed` once every recorded site has a final result (the assessment is recomputed, in a
    transaction, whenever one of its recordings is analysed or re-analysed), or `cancelled`.
    """

    patient_id: str
    kind: Kind
    protocol: ProtocolName | Literal["custom"]
    site_order: list[Site] = Field(description="the sites in recording order")
    sites: dict[str, ExamSite] = Field(description="site name -> its recording and status")
    status: ExamStatus = "open"
    assessment: dict[str, Any] | None = Field(
        None, description="stethoscope.assess_exam over the analysed sites (ExamAssessment)"
    )
    analysis_version: str | None = None
    re_record: list[str] = Field(default_factory=list, description="sites to record again")
    created_at: datetime
    created_by: str
    updated_at: datetime
    completed_at: datetime | None = None
    completed_by: str | None = None
    assessed_at: datetime | None = None


class Analysis(Document):
    """clinics/{clinicId}/recordings/{recordingId}/analyses/{analysisId}: the full result."""

    recording_id: str
    generation: str
    analysis_version: str
    analyzed_at: datetime
    result: dict[str, Any] = Field(description="AnalysisResult in camelCase")


class TraceEnvelope(Document):
    """Min and max of the analysis-rate signal per bin (bin i covers [i*binS, (i+1)*binS)),
    scaled so that the recording's peak is ±1, 3 decimals."""

    bin_s: float
    min: list[float]
    max: list[float]


class TraceSpectrogram(Document):
    """Power in dB re full scale per frame (frame j covers [j*frameS, (j+1)*frameS)) and
    frequency band (centres in `freqsHz`): `db` is base64 of uint8 cells, row-major
    frames x freqs, 0..255 mapping dbMin..dbMax linearly."""

    frame_s: float
    freqs_hz: list[float]
    db_min: float
    db_max: float
    db: str = Field(description="base64 of uint8, frames x freqs, row-major")


class RecordingTrace(Document):
    """A compact drawing of a recording for a browser (stethoscope.trace): the waveform's min/max
    envelope and a quantised spectrogram. Events (beats, murmur, wheezes, crackles, cycles) are
    in the analysis document, not here."""

    recording_id: str
    kind: Kind
    duration_s: float
    sample_rate_hz: float = Field(description="rate of the signal the trace was drawn from")
    peak_full_scale: float = Field(
        description="the recording's peak |sample| (full scale 1): envelope * this = full scale"
    )
    envelope: TraceEnvelope
    spectrogram: TraceSpectrogram | None


class StoredTrace(Document):
    """clinics/{clinicId}/recordings/{recordingId}/traces/{generation}: the RecordingTrace of one
    object generation, computed at analysis time (gzipped JSON; read by the API only)."""

    generation: str
    trace_version: int
    created_at: datetime
    encoding: Literal["gzip+json"] = "gzip+json"
    data: bytes
