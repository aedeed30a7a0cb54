"""Request and response bodies of the API (camelCase on the wire, like the documents)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from backend.documents import (
    EMAIL_PATTERN,
    MRN_PATTERN,
    AuditEntry,
    Document,
    DocumentId,
    Exam,
    Invitation,
    InvitationStatus,
    Member,
    Patient,
    PatientErasure,
    Recording,
    RecordingStatus,
    RecordingSummary,
    Role,
)
from steth_contract import UploadSlotRequest as UploadSlotRequest  # shared with the uploader
from stethoscope.sites import Kind, ProtocolName, Site


class UploadSlot(Document):
    recording_id: str
    status: RecordingStatus
    upload_url: str | None = Field(
        description="resumable upload session; null once the object exists"
    )
    expires_at: datetime | None


class RecordingOut(Recording):
    id: str


class StoredObjectOut(Document):
    """What Cloud Storage holds for a recording: the uploader compares it with its local file."""

    size_bytes: int
    crc32c: str = Field(alias="crc32c")
    generation: str
    content_type: str | None
    time_created: datetime | None = Field(None, description="when the upload completed")


class RecordingPage(Document):
    items: list[RecordingOut]
    next_page_token: str | None


class PatientIn(Document):
    """A new patient: a record number and/or a name (or, as before, a pseudonymous label)."""

    mrn: str | None = Field(None, pattern=MRN_PATTERN, description="medical record number")
    display_name: str | None = Field(None, min_length=1, max_length=200)
    label: str | None = Field(None, min_length=1, max_length=64, description="pseudonymous label")
    birth_year: int | None = Field(None, ge=1900, le=2100)
    birth_date: date | None = None
    sex: Literal["female", "male", "other", "unknown"] | None = None

    @model_validator(mode="after")
    def _identifiable(self) -> PatientIn:
        if not (self.mrn or self.display_name or self.label):
            raise ValueError("give at least one of mrn, displayName, label")
        if self.birth_date and self.birth_year and self.birth_date.year != self.birth_year:
            raise ValueError("birthYear differs from the year of birthDate")
        if self.birth_date and not date(1900, 1, 1) <= self.birth_date <= date.today():
            raise ValueError("birthDate must lie between 1900-01-01 and today")
        return self


class PatientPatch(Document):
    """Fields to change; those left out stay as they are, null clears a field."""

    model_config = ConfigDict(extra="forbid")

    mrn: str | None = Field(None, pattern=MRN_PATTERN)
    display_name: str | None = Field(None, min_length=1, max_length=200)
    label: str | None = Field(None, min_length=1, max_length=64)
    birth_year: int | None = Field(None, ge=1900, le=2100)
    birth_date: date | None = None
    sex: Literal["female", "male", "other", "unknown"] | None = None


class PatientOut(Patient):
    id: str


class PatientPage(Document):
    items: list[PatientOut]
    next_page_token: str | None


class HistoryEntry(Document):
    """One recording in a patient's history, with the figures a trend chart plots."""

    recording_id: str
    recorded_at: datetime | None
    kind: Kind | None
    site: Site | None
    status: RecordingStatus
    analysis_version: str | None = None
    summary: RecordingSummary | None = None


class ExamHistoryEntry(Document):
    """One exam in a patient's history: its status and patient-level assessment."""

    exam_id: str
    created_at: datetime
    kind: Kind
    protocol: str
    status: str
    assessment: dict[str, Any] | None
    re_record: list[str]


class PatientHistory(Document):
    patient: PatientOut
    recordings: list[HistoryEntry]
    exams: list[ExamHistoryEntry]


class ErasureRequest(Document):
    """Erasure cannot be undone: the body must repeat the patient id."""

    model_config = ConfigDict(extra="forbid")

    confirm: str = Field(description="the patient id, repeated")


class ErasureOut(Document):
    patient_id: str
    status: Literal["erasing", "erased"]
    erasure: PatientErasure


class AuditEntryOut(AuditEntry):
    id: str


class AuditPage(Document):
    items: list[AuditEntryOut]
    next_page_token: str | None


class ExamIn(Document):
    """A new exam: a standard protocol, or an explicit list of sites (all heart or all lung)."""

    patient_id: DocumentId
    protocol: ProtocolName | None = None
    sites: list[Site] | None = Field(None, min_length=1, max_length=24)

    @model_validator(mode="after")
    def _one_plan(self) -> ExamIn:
        if (self.protocol is None) == (self.sites is None):
            raise ValueError("give either protocol or sites")
        return self


class ExamOut(Exam):
    id: str


class ExamPage(Document):
    items: list[ExamOut]
    next_page_token: str | None


class MemberIn(Document):
    role: Role
    email: str | None = Field(
        None, max_length=320, description="ignored: the member's email comes from their account"
    )


class MemberOut(Member):
    uid: str  # always present in the API's answer


class ClinicMembership(Document):
    clinic_id: str
    name: str | None
    role: Role


class PendingInvitation(Document):
    """An invitation of the caller's email address they may accept
    (POST /v1/invitations/{id}/accept)."""

    id: str
    clinic_id: str
    clinic_name: str | None
    role: Role
    expires_at: datetime


class Me(Document):
    """Who the caller is, the clinics they belong to and the invitations waiting for them (a
    frontend's first call)."""

    uid: str
    email: str | None
    clinics: list[ClinicMembership]
    invitations: list[PendingInvitation] = Field(default_factory=list)


class InvitationIn(Document):
    """Invite an email address to the clinic with a role."""

    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=320, pattern=EMAIL_PATTERN)
    role: Role


class InvitationOut(Invitation):
    id: str
    clinic_id: str
    status: InvitationStatus  # type: ignore[assignment]  # adds "expired", computed on read


class NewInvitation(InvitationOut):
    sign_in_link: str | None = Field(
        None,
        description="when the address had no account, one was created: this link (a Firebase "
        "password-reset link) lets the invitee set a password; give it to them privately",
    )


class ReanalysisOut(Document):
    recording_id: str
    outcome: str
    status: RecordingStatus
    analysis_id: str | None


class BulkReanalysisOut(Document):
    enqueued: int


class MediaLinks(Document):
    """URL paths on the API (prefix them with the API's base URL) that work without an
    Authorization header until `expiresAt`: for `<audio>` (Range streaming), `<img>`, downloads.
    Add `&download=1` to `reportPdf` or `fhir` for `Content-Disposition: attachment`."""

    expires_at: datetime
    audio: str
    report_pdf: str
    report_png: str
    fhir: str
    trace: str


class ExamLinks(Document):
    """An exam's media links (see MediaLinks)."""

    expires_at: datetime
    report_pdf: str
    fhir: str


class Health(Document):
    status: Literal["ok"]
    analysis_version: str
