"""The one id rule, for clinics, recordings, patients, members, exams, object names and page
tokens, on the server and on the laptop."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def is_valid_id(value: str) -> bool:
    """1-128 characters of A-Z a-z 0-9 _ -, and not of the form __…__, which Firestore reserves.
    So `.`, `..`, `/`, control characters and anything a path could misread never reach a
    document path."""
    return bool(_ID.fullmatch(value)) and not (value.startswith("__") and value.endswith("__"))


def valid_id(value: str) -> str:
    if not is_valid_id(value):
        raise ValueError("ids are 1-128 characters of A-Z a-z 0-9 _ - and not __…__")
    return value


DocumentId = Annotated[str, AfterValidator(valid_id)]
