"""Google Cloud clients, created once per process from the settings.

Firestore and Storage clients come from the Google client libraries directly: they use
Application Default Credentials in production and no credentials against the emulators
(firebase-admin's own Firestore client insists on credentials, which emulators lack).
firebase-admin is used for one thing: verifying Firebase ID tokens.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from backend.settings import get_settings

if TYPE_CHECKING:
    from google.cloud import firestore, storage


@lru_cache(maxsize=1)
def firestore_client() -> firestore.Client:
    from google.cloud import firestore

    return firestore.Client(project=get_settings().project_id)


@lru_cache(maxsize=1)
def storage_client() -> storage.Client:
    from google.cloud import storage

    settings = get_settings()
    if settings.storage_emulator_host:
        from google.auth.credentials import AnonymousCredentials

        anonymous = AnonymousCredentials()  # type: ignore[no-untyped-call]
        return storage.Client(project=settings.project_id, credentials=anonymous)
    return storage.Client(project=settings.project_id)


def init_firebase_admin() -> None:
    """Create the default firebase_admin app once (idempotent: main.py may be executed twice)."""
    import firebase_admin

    try:
        firebase_admin.get_app()
    except ValueError:
        settings = get_settings()
        firebase_admin.initialize_app(
            options={"projectId": settings.project_id, "storageBucket": settings.bucket}
        )
