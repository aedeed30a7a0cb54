"""A finalized Cloud Storage object as the pipeline sees it, and where it belongs.

Built from the storage event (`from_event_data`) or, for a re-drive, from the stored object
itself; parsing the path and the custom metadata lives here so that the pipeline, the sweeper and
the API agree on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from backend.documents import DocumentId, is_valid_id
from steth_contract import AudioFormat as AudioFormat
from stethoscope.sites import Kind, Site, site_matches_kind

RECORDING_PATH = re.compile(
    r"^recordings/(?P<clinic>[A-Za-z0-9_-]{1,128})/(?P<recording>[A-Za-z0-9_-]{1,128})"
    r"\.(?P<format>wav|flac)$"
)
CONTENT_TYPES: dict[str, str] = {"wav": "audio/wav", "flac": "audio/flac"}
#: Custom metadata every recording object carries (written by the API's upload session).
METADATA_KEYS = ("patientId", "site", "kind", "deviceId", "recordedAt", "uploadedBy")


def recording_path(clinic_id: str, recording_id: str, audio_format: AudioFormat = "wav") -> str:
    return f"recordings/{clinic_id}/{recording_id}.{audio_format}"


def content_type(name: str) -> str:
    """The media type of a recording object, from its name."""
    return CONTENT_TYPES["flac" if name.endswith(".flac") else "wav"]


@dataclass(frozen=True)
class StoredObject:
    bucket: str
    name: str
    generation: int
    size: int
    content_type: str | None = None
    crc32c: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    time_created: datetime | None = None

    @classmethod
    def from_event_data(cls, data: Any) -> StoredObject:
        """From `firebase_functions.storage_fn.StorageObjectData` (size and generation arrive as
        strings on the wire, whatever the annotations say)."""
        return cls(
            bucket=data.bucket,
            name=data.name,
            generation=int(data.generation),
            size=int(data.size),
            content_type=data.content_type,
            crc32c=data.crc32c,
            metadata=dict(data.metadata or {}),
        )

    def location(self) -> tuple[str, str] | None:
        """(clinicId, recordingId) for a recording path, None for anything else (including ids
        that break the id rule, e.g. Firestore-reserved `__r__`: no document can be named so)."""
        match = RECORDING_PATH.match(self.name)
        if not match or not (is_valid_id(match["clinic"]) and is_valid_id(match["recording"])):
            return None
        return match["clinic"], match["recording"]


class ObjectMetadata(BaseModel):
    """The custom metadata of a recording object: built here when the upload session is made
    (`to_gcs`) and parsed here when the object arrives (`parse`), so the two cannot drift."""

    model_config = ConfigDict(extra="ignore")

    patientId: DocumentId  # noqa: N815 - the wire names
    site: Site
    kind: Kind
    deviceId: str  # noqa: N815
    recordedAt: datetime  # noqa: N815
    uploadedBy: DocumentId  # noqa: N815
    clientRecordingId: str | None = None  # noqa: N815
    examId: DocumentId | None = None  # noqa: N815

    def to_gcs(self) -> dict[str, str]:
        """The metadata as Cloud Storage stores it (strings; absent fields left out)."""
        values = self.model_dump(mode="json", exclude_none=True)
        return {key: str(value) for key, value in values.items()}

    @classmethod
    def parse(cls, metadata: dict[str, str]) -> tuple[ObjectMetadata | None, str]:
        """The metadata, or None and a sentence saying what is missing or wrong."""
        missing = [k for k in METADATA_KEYS if not metadata.get(k)]
        if missing:
            return None, f"the object has no {', '.join(missing)} metadata"
        try:
            parsed = cls.model_validate(metadata)
        except ValidationError as exc:
            fields = sorted({str(e["loc"][0]) for e in exc.errors()})
            return None, f"invalid metadata: {', '.join(fields)}"
        if not site_matches_kind(parsed.site, parsed.kind):
            return None, f"site {parsed.site} is not a {parsed.kind} auscultation site"
        return parsed, ""
