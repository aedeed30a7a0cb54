"""The backend's configuration: one typed object, read from the environment in one place.

On Cloud Functions the environment comes from the platform (`GCLOUD_PROJECT`, `FIREBASE_CONFIG`,
`K_SERVICE`) and from `functions/.env.<project>` (the params `RECORDINGS_BUCKET`,
`FUNCTIONS_REGION`, and the optional `STETH_*` overrides below). Locally the stack scripts set the
emulator hosts.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_PROJECT_ID = "demo-stethoscope"
DEFAULT_REGION = "europe-west1"
MIB = 1024 * 1024


class UnsafeEnvironmentError(RuntimeError):
    """The process is configured in a way that must never run in production."""


class Settings(BaseModel):
    """Everything the functions and the API read from their environment."""

    model_config = ConfigDict(frozen=True)

    project_id: str = DEFAULT_PROJECT_ID
    bucket: str = f"{DEFAULT_PROJECT_ID}.appspot.com"
    region: str = DEFAULT_REGION

    firestore_emulator_host: str | None = None
    storage_emulator_host: str | None = None
    auth_emulator_host: str | None = None
    #: True when running on Cloud Functions / Cloud Run (not in the Functions emulator).
    on_google_cloud: bool = False

    #: Browser origins allowed to call the API (CORS).
    cors_origins: tuple[str, ...] = ("http://localhost:5173", "http://127.0.0.1:5173")
    #: Largest recording accepted, in bytes (10 min of 48 kHz 32-bit stereo is ~220 MiB).
    max_upload_bytes: int = 256 * MIB
    #: Largest JSON request body the API reads, in bytes.
    max_body_bytes: int = 64 * 1024
    max_page_size: int = 100
    default_page_size: int = 25
    #: Lifetime we promise for an upload URL (GCS resumable sessions live up to a week).
    upload_url_ttl_s: int = 24 * 3600

    #: How long a storage read keeps retrying transient errors before the run is recorded as failed.
    storage_retry_s: float = 60.0

    #: The sweeper re-drives `failed` recordings whose retry time came and `analyzing` ones
    #: whose lease (recordings.LEASE_S) ran out.
    sweep_max_attempts: int = 5
    sweep_backoff_base_s: float = 60.0
    sweep_batch_size: int = 50
    #: An `awaiting_upload` recording whose object is in the bucket this long after its last
    #: change lost its storage event (events are not retried); the sweeper analyses it.
    sweep_lost_event_grace_s: float = 600.0

    #: Key that signs short-lived media links (`?access=`, backend/api/links.py): the secret
    #: STETH_LINK_SECRET on Google Cloud (Secret Manager); without it links are refused there.
    #: Elsewhere a random per-process key stands in (the local stack sets one for all processes).
    link_secret: str | None = Field(None, repr=False)
    #: Lifetime of a media link.
    media_link_ttl_s: int = 600

    #: How long an invitation by email stays open.
    invitation_ttl_s: int = 7 * 24 * 3600
    #: Accept an invitation only from a verified email address (or from the account the
    #: invitation created, whose password only the mailbox's owner can set). On by default on
    #: Google Cloud; off locally, where the Auth emulator's password accounts are unverified.
    #: STETH_INVITES_REQUIRE_VERIFIED_EMAIL=true|false overrides.
    invitations_require_verified_email: bool = False

    #: Cloud Tasks queue function that re-analyses one recording (bulk re-analysis).
    reanalyze_task_function: str = "reanalysis"
    #: Local stack only: where that function is served, as there is no Cloud Tasks locally.
    local_tasks_url: str | None = None

    @property
    def emulated(self) -> bool:
        """True when Firestore is an emulator, i.e. a local or test run."""
        return self.firestore_emulator_host is not None

    def check_production_safety(self) -> None:
        """Refuse to run with emulator-token verification on Google Cloud.

        `FIREBASE_AUTH_EMULATOR_HOST` makes firebase-admin accept unsigned ID tokens; on a real
        deployment that would let anyone act as any user.
        """
        if self.on_google_cloud and self.auth_emulator_host:
            raise UnsafeEnvironmentError(
                "FIREBASE_AUTH_EMULATOR_HOST is set while running on Google Cloud: it disables ID "
                "token signature checks. Remove it from the function's environment."
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        """Build settings from environment variables (see the module docstring)."""
        firebase_config = _firebase_config(env)
        project_id = (
            env.get("GOOGLE_CLOUD_PROJECT")
            or env.get("GCLOUD_PROJECT")
            or firebase_config.get("projectId")
            or DEFAULT_PROJECT_ID
        )
        bucket = (
            env.get("RECORDINGS_BUCKET")
            or firebase_config.get("storageBucket")
            or f"{project_id}.appspot.com"
        )
        overrides: dict[str, object] = {}
        if env.get("STETH_CORS_ORIGINS"):
            overrides["cors_origins"] = tuple(
                o.strip() for o in env["STETH_CORS_ORIGINS"].split(",") if o.strip()
            )
        if env.get("STETH_MAX_UPLOAD_BYTES"):
            overrides["max_upload_bytes"] = int(env["STETH_MAX_UPLOAD_BYTES"])
        on_google_cloud = bool(env.get("K_SERVICE")) and env.get("FUNCTIONS_EMULATOR") != "true"
        link_secret = env.get("STETH_LINK_SECRET", "").strip() or None
        if link_secret is None and not on_google_cloud:
            link_secret = secrets.token_urlsafe(32)
        verified = env.get("STETH_INVITES_REQUIRE_VERIFIED_EMAIL", "").strip().lower()
        overrides["invitations_require_verified_email"] = (
            verified in ("1", "true", "yes") if verified else on_google_cloud
        )
        if env.get("STETH_STORAGE_RETRY_S"):
            overrides["storage_retry_s"] = float(env["STETH_STORAGE_RETRY_S"])
        return cls(
            project_id=project_id,
            bucket=bucket,
            region=env.get("FUNCTIONS_REGION") or DEFAULT_REGION,
            firestore_emulator_host=env.get("FIRESTORE_EMULATOR_HOST") or None,
            storage_emulator_host=env.get("STORAGE_EMULATOR_HOST") or None,
            auth_emulator_host=env.get("FIREBASE_AUTH_EMULATOR_HOST") or None,
            on_google_cloud=on_google_cloud,
            link_secret=link_secret,
            local_tasks_url=env.get("STETH_LOCAL_TASKS_URL") or None,
            **overrides,
        )


def _firebase_config(env: Mapping[str, str]) -> dict[str, str]:
    raw = env.get("FIREBASE_CONFIG", "")
    if not raw.strip().startswith("{"):
        return {}
    parsed = json.loads(raw)
    return parsed if isinstance(parsed, dict) else {}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings.from_env()
