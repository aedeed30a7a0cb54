"""Request and response bodies of the API (camelCase on the wire, like the documents)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from pydantic import AwareDatetime, ConfigDict, Field, field_validator, model_validator

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
from backend.objects import AudioFormat
from stethoscope.sites import Kind, ProtocolName, Site, site_matches_kind

MIN_WAV_BYTES = 44  # a WAV header
EARLIEST_RECORDING = datetime(1990, 1, 1, tzinfo=UTC)


class UploadSlotRequest(Document):
    """Register a recording and ask where to upload it."""

    client_recording_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")
    patient_id: DocumentId
    site: Site
    kind: Kind
    recorded_at: AwareDatetime
    size_bytes: int = Field(gt=MIN_WAV_BYTES)
    device_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")
    crc32c: str | None = Field(
        None, alias="crc32c", pattern=r"^[A-Za-z0-9+/]{6}==$", description="base64, as GCS"
    )
    exam_id: DocumentId | None = Field(None, description="the exam this take belongs to")
    format: AudioFormat = Field("wav", description="container of the upload: flac or wav")

    @field_validator("recorded_at")
    @classmethod
    def _recorded_in_a_sane_range(cls, value: datetime) -> datetime:
        """No digital stethoscope recorded before 1990; a clock a day ahead is a wrong clock."""
        latest = datetime.now(UTC) + timedelta(days=1)
        if not EARLIEST_RECORDING <= value <= latest:
            raise ValueError(f"recordedAt must lie between {EARLIEST_RECORDING:%Y-%m-%d} and now")
        return value

    @model_validator(mode="after")
    def _site_fits_kind(self) -> UploadSlotRequest:
        if not site_matches_kind(self.site, self.kind):
            raise ValueError(f"site {self.site!r} is not a {self.kind} auscultation site")
        return self


class UploadSlot(Document):
    recording_id: str
    status: RecordingStatus
    upload_url: str | None = Field(
        description="resumable upload session; null once the object exists"
    )
    expires_at: datetime | None


class RecordingOut(Recording):
    id: str
    lease_token: str | None = Field(None, exclude=True)


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
