"""The uploader's configuration: one object, from environment variables (CLI options override).

STETH_API_URL          API base, e.g. https://europe-west1-<project>.cloudfunctions.net/api
STETH_CLINIC           clinic id
STETH_DEVICE_ID        this stethoscope/laptop's id (default: the host name)
STETH_OUTBOX           outbox directory (default ~/.local/share/steth-upload)
STETH_FIREBASE_API_KEY the Firebase web API key (public; identifies the project)
STETH_AUTH_EMULATOR    host:port of the Firebase Auth emulator (local stack only)
STETH_RETENTION_DAYS   keep verified uploads locally this long (default 7)
STETH_AUDIO_FORMAT     flac (default: lossless, about half the bytes) or wav
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class UploaderConfig:
    api_url: str
    clinic_id: str
    device_id: str
    outbox_dir: Path
    api_key: str
    auth_emulator: str | None = None
    retention_days: float = 7.0
    chunk_bytes: int = 256 * 1024  # a multiple of 256 KiB, as resumable uploads require; the
    # smallest, so progress moves on a slow clinic uplink and a lost chunk costs little
    max_backoff_s: float = 60.0
    max_bytes_per_s: float | None = None  # upload bandwidth cap (None: as fast as the link allows)
    audio_format: str = "flac"  # how takes are stored and uploaded: flac or wav

    @property
    def credentials_path(self) -> Path:
        return self.outbox_dir / "credentials.json"

    def clinic_api(self, clinic_id: str | None = None) -> str:
        """The API base of a clinic (default: the configured one), e.g. …/v1/clinics/c1."""
        return f"{self.api_url.rstrip('/')}/v1/clinics/{clinic_id or self.clinic_id}"

    @property
    def identity_toolkit_url(self) -> str:
        base = f"http://{self.auth_emulator}/" if self.auth_emulator else "https://"
        return f"{base}identitytoolkit.googleapis.com/v1"

    @property
    def secure_token_url(self) -> str:
        base = f"http://{self.auth_emulator}/" if self.auth_emulator else "https://"
        return f"{base}securetoken.googleapis.com/v1/token"

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, **overrides: object) -> UploaderConfig:
        values: dict[str, object] = {
            "api_url": env.get("STETH_API_URL", "http://127.0.0.1:8080"),
            "clinic_id": env.get("STETH_CLINIC", ""),
            "device_id": env.get("STETH_DEVICE_ID") or socket.gethostname(),
            "outbox_dir": Path(env.get("STETH_OUTBOX", "~/.local/share/steth-upload")).expanduser(),
            "api_key": env.get("STETH_FIREBASE_API_KEY", "local-dev-key"),
            "auth_emulator": env.get("STETH_AUTH_EMULATOR") or None,
            "retention_days": float(env.get("STETH_RETENTION_DAYS", "7")),
        }
        if env.get("STETH_CHUNK_BYTES"):
            values["chunk_bytes"] = int(env["STETH_CHUNK_BYTES"])
        if env.get("STETH_AUDIO_FORMAT"):
            chosen = env["STETH_AUDIO_FORMAT"].lower()
            if chosen not in ("flac", "wav"):
                raise ValueError(f"STETH_AUDIO_FORMAT must be flac or wav, not {chosen!r}")
            values["audio_format"] = chosen
        if env.get("STETH_MAX_UPLOAD_BPS"):
            values["max_bytes_per_s"] = float(env["STETH_MAX_UPLOAD_BPS"])
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
