"""Unsigned Firebase ID tokens, as the Auth emulator issues them.

firebase-admin accepts them only while FIREBASE_AUTH_EMULATOR_HOST is set (the test session sets
it); it still checks the audience, issuer and expiry, so these tests exercise the real verifier.
"""

from __future__ import annotations

import base64
import json
import time

from scripts.stack import PROJECT_ID


def _part(value: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def id_token(
    uid: str, email: str | None = None, project_id: str = PROJECT_ID, expires_in_s: int = 3600
) -> str:
    now = int(time.time())
    claims = {
        "iss": f"https://securetoken.google.com/{project_id}",
        "aud": project_id,
        "auth_time": now,
        "user_id": uid,
        "sub": uid,
        "iat": now,
        "exp": now + expires_in_s,
        "email": email or f"{uid}@clinic.example",
        "firebase": {"identities": {}, "sign_in_provider": "password"},
    }
    return f"{_part({'alg': 'none', 'typ': 'JWT'})}.{_part(claims)}."


def bearer(uid: str, **kwargs: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {id_token(uid, **kwargs)}"}  # type: ignore[arg-type]
