"""Page tokens: the id of the last item of a page, base64url-encoded; checked with the id rule
when they come back, so a forged token can never name a path."""

from __future__ import annotations

import base64

from backend.api.problems import ApiError
from backend.documents import is_valid_id


def encode_token(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_token(token: str) -> str:
    try:
        value = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        value = ""
    if not is_valid_id(value):
        raise ApiError(
            422, "invalid_page_token", "Invalid page token", "Start again without pageToken."
        )
    return value
