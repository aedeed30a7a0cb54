"""Session fixtures on top of the real local emulators (scripts/emulators.py).

The Firestore emulator and fake-gcs-server start once per session; each test gets clean data
(the emulator's documented reset endpoint, and an emptied bucket). With CI=true a missing emulator
or tool fails the run instead of skipping the tests that need it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest

from scripts.emulators import (
    AuthEmulator,
    EmulatorUnavailableError,
    FirestoreEmulator,
    StorageEmulator,
)
from scripts.stack import BUCKET, PROJECT_ID, REGION, LocalStack

if TYPE_CHECKING:
    from google.cloud import firestore, storage

REPO = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str) -> NoReturn:
    """Skip locally, fail in CI: a test must never silently not run there."""
    if IN_CI:
        pytest.fail(f"required tool missing in CI: {reason}", pytrace=False)
    pytest.skip(reason)


@dataclass
class Emulators:
    firestore: FirestoreEmulator
    storage: StorageEmulator
    auth: AuthEmulator


@contextlib.contextmanager
def patched_env(**values: str) -> Iterator[None]:
    """Set environment variables for the backend (its settings and clients are re-created), and
    restore them afterwards."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    reset_backend_caches()
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        reset_backend_caches()


def reset_backend_caches() -> None:
    """Settings and clients are per-process singletons; tests that change the environment reset them."""
    from backend import clients, settings

    settings.get_settings.cache_clear()
    clients.firestore_client.cache_clear()
    clients.storage_client.cache_clear()


@pytest.fixture(scope="session")
def emulators(
    tmp_path_factory: pytest.TempPathFactory, auth_emulator: AuthEmulator
) -> Iterator[Emulators]:
    log_dir = tmp_path_factory.mktemp("emulators")
    try:
        firestore_emulator = FirestoreEmulator(
            PROJECT_ID, rules_path=REPO / "firestore.rules", log_dir=log_dir
        )
    except EmulatorUnavailableError as exc:
        unavailable(str(exc))
    with (
        firestore_emulator,
        StorageEmulator(BUCKET, PROJECT_ID, log_dir=log_dir) as storage_emulator,
    ):
        env = {
            "GOOGLE_CLOUD_PROJECT": PROJECT_ID,
            "GCLOUD_PROJECT": PROJECT_ID,
            "RECORDINGS_BUCKET": BUCKET,
            "FUNCTIONS_REGION": REGION,
            "FIREBASE_CONFIG": f'{{"projectId":"{PROJECT_ID}","storageBucket":"{BUCKET}"}}',
            "FIRESTORE_EMULATOR_HOST": firestore_emulator.host,
            "STORAGE_EMULATOR_HOST": storage_emulator.url,
            # the real Auth emulator: firebase-admin accepts its (and our test helpers') unsigned
            # ID tokens, and the API looks accounts up in it
            "FIREBASE_AUTH_EMULATOR_HOST": auth_emulator.host,
            "STETH_LINK_SECRET": secrets.token_urlsafe(32),
        }
        with patched_env(**env):
            yield Emulators(firestore_emulator, storage_emulator, auth_emulator)


@pytest.fixture
def db(emulators: Emulators) -> Iterator[firestore.Client]:
    """A Firestore client on the emulator; all documents are deleted after the test."""
    from backend.clients import firestore_client

    yield firestore_client()
    emulators.firestore.wipe()


@pytest.fixture
def bucket(emulators: Emulators) -> Iterator[storage.Bucket]:
    """The recordings bucket on fake-gcs-server; emptied after the test."""
    from backend.clients import storage_client

    gcs_bucket = storage_client().bucket(BUCKET)
    yield gcs_bucket
    for blob in storage_client().list_blobs(BUCKET):
        blob.delete()


@pytest.fixture(scope="session")
def auth_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthEmulator]:
    try:
        emulator = AuthEmulator(PROJECT_ID, log_dir=tmp_path_factory.mktemp("auth"))
    except EmulatorUnavailableError as exc:
        unavailable(str(exc))
    with emulator:
        yield emulator


@pytest.fixture(scope="session")
def functions_stack(
    emulators: Emulators, auth_emulator: AuthEmulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalStack]:
    """The functions as the platform runs them (functions-framework) on the session emulators,
    with the storage-event relay: the same stack `make dev` starts."""
    stack = LocalStack(
        tmp_path_factory.mktemp("stack"),
        emulators=(emulators.firestore, emulators.storage, auth_emulator),
    )
    with stack:
        yield stack


def ensure_account(uid: str, email: str, password: str = "test-password") -> None:
    """A user with this uid and email in the Auth emulator (firebase-admin, as an operator would
    create one); kept as it is if it exists."""
    from firebase_admin import auth

    from backend.clients import init_firebase_admin

    init_firebase_admin()
    with contextlib.suppress(auth.UidAlreadyExistsError, auth.EmailAlreadyExistsError):
        auth.create_user(uid=uid, email=email, password=password)


def sign_up(auth_emulator: AuthEmulator, email: str, password: str) -> str:
    """Create a user in the Auth emulator (its REST API, as any client would); returns the uid."""
    import httpx

    response = httpx.post(
        f"http://{auth_emulator.host}/identitytoolkit.googleapis.com/v1/accounts:signUp",
        params={"key": "local-dev-key"},
        json={"email": email, "password": password, "returnSecureToken": True},
        timeout=30,
    )
    response.raise_for_status()
    uid: str = response.json()["localId"]
    return uid
