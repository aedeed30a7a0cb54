"""Short-lived media links: `?access=TOKEN` in place of an Authorization header, so a browser's
`<audio>` (which streams with Range requests), `<img>` and download links can fetch media.

A token is `base64url(payload).base64url(HMAC-SHA256(key, payload))` with payload
`scope:clinicId:targetId:uid:expiresAtUnix` (ids never hold `:`). It is bound to one clinic, one
recording (or exam), one user and an expiry (`Settings.media_link_ttl_s`, 10 minutes). Whoever
holds it acts as that user, so every use re-checks that the user is still a clinician or admin of
the clinic — removing a member revokes their links at once — and is audited in their name
("via link"). The key is the secret `STETH_LINK_SECRET`; on Google Cloud without it, no link is
issued or accepted (fail closed).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from backend.api.problems import ApiError
from backend.settings import get_settings

LinkScope = Literal["recording", "exam"]
MIN_SECRET_CHARS = 32


@dataclass(frozen=True)
class LinkGrant:
    scope: LinkScope
    clinic_id: str
    target_id: str
    uid: str
    expires_at: datetime


def _key() -> bytes:
    secret = get_settings().link_secret
    if not secret or len(secret) < MIN_SECRET_CHARS:
        raise ApiError(
            503,
            "links_unavailable",
            "Media links are not configured",
            "The server has no STETH_LINK_SECRET (32+ characters); use the Authorization header.",
        )
    return secret.encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(payload: bytes) -> bytes:
    return hmac.new(_key(), payload, hashlib.sha256).digest()


def issue(
    scope: LinkScope, clinic_id: str, target_id: str, uid: str, now: float | None = None
) -> tuple[str, datetime]:
    """A token for `uid` to fetch the media of one recording or exam; and when it expires."""
    expires = int((now if now is not None else time.time()) + get_settings().media_link_ttl_s)
    payload = f"{scope}:{clinic_id}:{target_id}:{uid}:{expires}".encode()
    return f"{_b64(payload)}.{_b64(_signature(payload))}", datetime.fromtimestamp(expires, UTC)


def verify(token: str, scope: LinkScope, clinic_id: str, target_id: str) -> LinkGrant:
    """The grant behind a token for this clinic and target: 401 if forged, malformed or expired,
    403 if it was issued for another recording, exam or clinic."""
    invalid = ApiError(
        401, "invalid_link", "Invalid link", "The link is not valid; ask for a new one."
    )
    try:
        encoded_payload, encoded_signature = token.split(".")
        payload, signature = _unb64(encoded_payload), _unb64(encoded_signature)
    except (ValueError, binascii.Error) as exc:
        raise invalid from exc
    if not hmac.compare_digest(signature, _signature(payload)):
        raise invalid
    try:
        got_scope, got_clinic, got_target, uid, expires = payload.decode().split(":")
        expires_at = int(expires)
    except ValueError as exc:
        raise invalid from exc
    if expires_at < time.time():
        raise ApiError(
            401, "link_expired", "Link expired", "The link has expired; ask for a new one."
        )
    if (got_scope, got_clinic, got_target) != (scope, clinic_id, target_id):
        raise ApiError(
            403, "link_mismatch", "Link for something else", f"The link is not for this {scope}."
        )
    return LinkGrant(scope, clinic_id, target_id, uid, datetime.fromtimestamp(expires_at, UTC))
