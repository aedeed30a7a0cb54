"""The upload-slot request: what the uploader sends to `POST /v1/clinics/{c}/recordings` and
what the API validates, one model for both (camelCase on the wire)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from steth_contract.ids import DocumentId
from stethoscope.sites import Kind, Site, site_matches_kind

#: Containers a recording is uploaded in: FLAC (lossless, about half the bytes) or WAV.
AudioFormat = Literal["wav", "flac"]
MIN_WAV_BYTES = 44  # a WAV header
EARLIEST_RECORDING = datetime(1990, 1, 1, tzinfo=UTC)


class WireModel(BaseModel):
    """Base: camelCase aliases, either name accepted, unknown fields kept out."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class UploadSlotRequest(WireModel):
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

    def to_wire(self) -> dict[str, object]:
        """The JSON body as sent (camelCase; absent optional fields left out)."""
        return self.model_dump(by_alias=True, mode="json", exclude_none=True)
