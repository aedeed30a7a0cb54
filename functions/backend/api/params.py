"""Path and query parameters that carry ids: one rule (`documents.is_valid_id`) for all of them,
so a malformed id is a 422 problem before any Firestore path is built from it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import AfterValidator

from backend.documents import valid_id

ID_RULE = "1-128 characters of A-Z a-z 0-9 _ -, not __…__"

ClinicId = Annotated[str, Path(description=ID_RULE), AfterValidator(valid_id)]
RecordingId = Annotated[str, Path(description=ID_RULE), AfterValidator(valid_id)]
PatientId = Annotated[str, Path(description=ID_RULE), AfterValidator(valid_id)]
ExamId = Annotated[str, Path(description=ID_RULE), AfterValidator(valid_id)]
InvitationId = Annotated[str, Path(description=ID_RULE), AfterValidator(valid_id)]
MemberUid = Annotated[str, Path(description=ID_RULE), AfterValidator(valid_id)]
PatientIdQuery = Annotated[
    str | None,
    Query(alias="patientId", description=ID_RULE),
    AfterValidator(lambda v: None if v is None else valid_id(v)),
]
