"""Firebase Authentication for the uploader: email/password sign-in and ID-token refresh through
the Identity Toolkit and Secure Token REST APIs (the Auth emulator speaks the same API).

The refresh token is kept in a file only its owner can read (0600), written atomically.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from edge_uploader.config import UploaderConfig


class OfflineError(Exception):
    """The session could not be refreshed because the network is down (not a sign-in problem)."""


class AuthError(Exception):
    """Sign-in failed or the stored session is no longer valid: run `login` again."""


@dataclass
class Session:
    uid: str
    email: str
    id_token: str
    refresh_token: str
    expires_at: float

    def to_json(self) -> str:
        return json.dumps(self.__dict__)


#: Firebase Auth error codes in words, with what to do next.
_SIGN_IN_ERRORS = {
    "EMAIL_NOT_FOUND": "no account with this email; ask your clinic's admin to add you",
    "INVALID_PASSWORD": "wrong password; try again or ask your admin to reset it",
    "INVALID_LOGIN_CREDENTIALS": "wrong email or password; try again",
    "USER_DISABLED": "this account is disabled; ask your clinic's admin",
    "TOO_MANY_ATTEMPTS_TRY_LATER": "too many attempts; wait a few minutes and try again",
    "INVALID_EMAIL": "that is not a valid email address",
}


def login(config: UploaderConfig, email: str, password: str) -> Session:
    try:
        response = httpx.post(
            f"{config.identity_toolkit_url}/accounts:signInWithPassword",
            params={"key": config.api_key},
            json={"email": email, "password": password, "returnSecureToken": True},
            timeout=30,
        )
    except httpx.TransportError as exc:
        raise AuthError(
            f"cannot reach the sign-in service ({type(exc).__name__}); check the network and "
            "try again"
        ) from exc
    if response.status_code != 200:
        code = _message(response).split(":")[0].strip()
        raise AuthError(f"sign-in refused: {_SIGN_IN_ERRORS.get(code, code)}")
    body = response.json()
    session = Session(
        uid=body["localId"],
        email=body["email"],
        id_token=body["idToken"],
        refresh_token=body["refreshToken"],
        expires_at=time.time() + int(body.get("expiresIn", 3600)),
    )
    save(config.credentials_path, session)
    return session


def id_token(config: UploaderConfig) -> str:
    """A valid ID token, refreshed (and saved) when it is about to expire."""
    session = load(config.credentials_path)
    if session.expires_at - time.time() > 120:
        return session.id_token
    try:
        response = httpx.post(
            config.secure_token_url,
            params={"key": config.api_key},
            data={"grant_type": "refresh_token", "refresh_token": session.refresh_token},
            timeout=30,
        )
    except httpx.TransportError as exc:
        raise OfflineError(f"cannot reach the sign-in service ({type(exc).__name__})") from exc
    if response.status_code != 200:
        raise AuthError(f"the session expired ({_message(response)}); run `steth-upload login`")
    body = response.json()
    session.id_token = body["id_token"]
    session.refresh_token = body["refresh_token"]
    session.expires_at = time.time() + int(body.get("expires_in", 3600))
    save(config.credentials_path, session)
    return session.id_token


def logout(config: UploaderConfig) -> bool:
    """Forget the session on this laptop (a shared laptop's next user signs in anew)."""
    try:
        config.credentials_path.unlink()
    except FileNotFoundError:
        return False
    return True


def load(path: Path) -> Session:
    try:
        return Session(**json.loads(path.read_text()))
    except FileNotFoundError as exc:
        raise AuthError("not signed in: run `steth-upload login`") from exc
    except (ValueError, TypeError) as exc:
        raise AuthError(f"{path} is damaged: run `steth-upload login`") from exc
    except OSError as exc:  # the outbox is not a folder, or not readable
        raise AuthError(
            f"cannot read {path} ({exc.strerror}); check STETH_OUTBOX, then `steth-upload login`"
        ) from exc


def save(path: Path, session: Session) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temp = path.with_suffix(".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(session.to_json())
        handle.flush()
        os.fsync(handle.fileno())
    temp.chmod(0o600)
    temp.replace(path)


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}"
