"""The local stack: emulators, the functions served by functions-framework, the event relay.

    python -m scripts.stack        (what `make dev` runs: start everything, print the endpoints)

Everything binds 127.0.0.1 on free ports. The functions run exactly as in production — the same
`main.py` entry points under functions-framework (gunicorn) — with the emulator hosts in their
environment.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Self

from scripts.emulators import (
    REPO_ROOT,
    AuthEmulator,
    EmulatorStartError,
    FirestoreEmulator,
    ManagedProcess,
    StartStop,
    StorageEmulator,
    free_port,
)
from scripts.relay import StorageEventRelay
from scripts.web import WebAppNotBuiltError, WebServer, config_for

PROJECT_ID = "demo-stethoscope"
BUCKET = f"{PROJECT_ID}.appspot.com"
REGION = "europe-west1"
FUNCTIONS_DIR = REPO_ROOT / "functions"


class FunctionServer(ManagedProcess):
    """One function of `functions/main.py` under functions-framework, as the platform runs it."""

    ready_timeout_s = 60.0

    def __init__(self, target: str, signature: str, env: Mapping[str, str], log_dir: Path) -> None:
        self.name = f"function-{target}"
        super().__init__(log_dir)
        self.target = target
        self.signature = signature
        self.env = dict(env)
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "functions_framework",
            "--target", self.target,
            "--signature-type", self.signature,
            "--source", str(FUNCTIONS_DIR / "main.py"),
            "--host", "127.0.0.1",
            "--port", str(self.port),
        ]  # fmt: skip

    def cwd(self) -> Path:
        return FUNCTIONS_DIR

    def process_env(self) -> Mapping[str, str]:
        return self.env

    def ready_url(self) -> str:
        return f"{self.url}/v1/healthz" if self.target == "api" else ""

    def start(self) -> Self:
        if self.target == "api":
            return super().start()
        self._launch()
        _wait_port(self.port, self.ready_timeout_s, self)
        return self


class LocalStack(StartStop):
    """Start and stop the whole local stack; `env` is what a client process needs."""

    def __init__(
        self,
        log_dir: Path | None = None,
        *,
        auth: bool = True,
        functions: bool = True,
        emulators: tuple[FirestoreEmulator, StorageEmulator, AuthEmulator | None] | None = None,
    ) -> None:
        """`emulators`: already running ones to use (and leave running) instead of new ones."""
        self.log_dir = log_dir or Path(tempfile.mkdtemp(prefix="steth-stack-"))
        self.with_auth = auth
        self.with_functions = functions
        self._borrowed = emulators is not None
        self.firestore: FirestoreEmulator | None = emulators[0] if emulators else None
        self.storage: StorageEmulator | None = emulators[1] if emulators else None
        self.auth: AuthEmulator | None = emulators[2] if emulators else None
        self.api: FunctionServer | None = None
        self.analyzer: FunctionServer | None = None
        self.tasks: FunctionServer | None = None
        self.relay: StorageEventRelay | None = None
        #: signs the API's media links; one per stack, shared by its processes (never committed)
        self.link_secret = secrets.token_urlsafe(32)

    @property
    def env(self) -> dict[str, str]:
        assert self.firestore is not None and self.storage is not None
        env = {
            "GOOGLE_CLOUD_PROJECT": PROJECT_ID,
            "GCLOUD_PROJECT": PROJECT_ID,
            "FIREBASE_CONFIG": f'{{"projectId":"{PROJECT_ID}","storageBucket":"{BUCKET}"}}',
            "RECORDINGS_BUCKET": BUCKET,
            "FUNCTIONS_REGION": REGION,
            "FIRESTORE_EMULATOR_HOST": self.firestore.host,
            "STORAGE_EMULATOR_HOST": self.storage.url,
            # firebase-admin accepts the Auth emulator's unsigned tokens with this set
            "FIREBASE_AUTH_EMULATOR_HOST": self.auth.host if self.auth else "127.0.0.1:1",
            "STETH_LINK_SECRET": self.link_secret,
        }
        if self.tasks is not None:
            env["STETH_LOCAL_TASKS_URL"] = self.tasks.url
        return env

    def start(self) -> Self:
        try:
            if not self._borrowed:
                self.firestore = FirestoreEmulator(
                    PROJECT_ID, rules_path=REPO_ROOT / "firestore.rules", log_dir=self.log_dir
                ).start()
                self.storage = StorageEmulator(BUCKET, PROJECT_ID, log_dir=self.log_dir).start()
                if self.with_auth:
                    self.auth = AuthEmulator(PROJECT_ID, log_dir=self.log_dir).start()
            if self.with_functions:
                self._start_functions()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_functions(self) -> None:
        process_env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        self.tasks = FunctionServer("reanalysis", "http", process_env, self.log_dir).start()
        process_env["STETH_LOCAL_TASKS_URL"] = self.tasks.url
        self.analyzer = FunctionServer(
            "analyze_recording", "cloudevent", process_env, self.log_dir
        ).start()
        self.api = FunctionServer("api", "http", process_env, self.log_dir).start()
        assert self.storage is not None
        self.relay = StorageEventRelay(self.storage.url, BUCKET, self.analyzer.url).start()

    def stop(self) -> None:
        if self.relay is not None:
            self.relay.stop()
        owned: list[ManagedProcess | None] = [self.api, self.analyzer, self.tasks]
        if not self._borrowed:
            owned += [self.auth, self.storage, self.firestore]
        for process in owned:
            if process is not None:
                process.stop()

    def endpoints(self) -> dict[str, str]:
        out = {}
        if self.firestore:
            out["Firestore emulator"] = f"http://{self.firestore.host}"
        if self.storage:
            out["Storage (fake-gcs-server)"] = self.storage.url
        if self.auth:
            out["Auth emulator"] = f"http://{self.auth.host}"
        if self.api:
            out["API"] = f"{self.api.url}/v1  (docs: {self.api.url}/v1/docs)"
        if self.analyzer:
            out["Storage-trigger function"] = self.analyzer.url
        out["Logs"] = str(self.log_dir)
        return out


def _wait_port(port: int, timeout_s: float, process: ManagedProcess) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not process.running:
            raise EmulatorStartError(f"{process.name} exited:\n{process.log_tail()}")
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", port), timeout=0.5),
        ):
            return
        time.sleep(0.1)
    raise EmulatorStartError(f"{process.name} did not listen on {port} within {timeout_s:.0f} s")


DEMO_CLINIC = "demo-clinic"
DEMO_PASSWORD = "stethoscope-demo"
DEMO_USERS = (
    ("admin", "admin@demo.clinic"),
    ("clinician", "clinician@demo.clinic"),
    ("uploader", "uploader@demo.clinic"),
)


def seed_demo_clinic(stack: LocalStack) -> list[tuple[str, str]]:
    """A demo clinic with an admin, a clinician and an uploader (Auth emulator accounts) and one
    patient, created the way an operator would on a real project (`python -m backend.admin`)."""
    os.environ.update(stack.env)
    if str(FUNCTIONS_DIR) not in sys.path:  # the backend package lives in functions/
        sys.path.insert(0, str(FUNCTIONS_DIR))
    from backend import admin
    from backend.clients import firestore_client, init_firebase_admin
    from backend.documents import Patient
    from backend.patients import create_patient
    from backend.recordings import now_utc

    init_firebase_admin()
    accounts = {role: admin.ensure_account(email, DEMO_PASSWORD) for role, email in DEMO_USERS}
    admin.create_clinic(DEMO_CLINIC, "Demo clinic", accounts["admin"])
    for role in ("clinician", "uploader"):
        admin.add_member(DEMO_CLINIC, accounts[role], role)
    patient = Patient(
        mrn="DEMO-0001",
        display_name="Demo Patient",
        birth_year=1958,
        sex="female",
        created_at=now_utc(),
        created_by=accounts["admin"].uid,
    )
    create_patient(firestore_client(), DEMO_CLINIC, "pat_demo0001", patient)
    return [(role, email) for role, email in DEMO_USERS]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the local stack until Ctrl-C.")
    parser.add_argument("--empty", action="store_true", help="do not seed the demo clinic")
    args = parser.parse_args(argv)
    print("starting the local stack (Firestore, fake-gcs-server, Auth emulator, functions)...")
    with LocalStack() as stack, contextlib.ExitStack() as extras:
        web: WebServer | None = None
        if stack.api is not None and stack.auth is not None:
            try:
                web = extras.enter_context(
                    WebServer(stack.api.url, config_for(stack.env, PROJECT_ID))
                )
            except WebAppNotBuiltError as exc:
                print(f"(no web app: {exc})")
        if not args.empty and stack.auth is not None:
            users = seed_demo_clinic(stack)
            print(
                f"\nDemo clinic '{DEMO_CLINIC}' (patient MRN DEMO-0001), password "
                f"'{DEMO_PASSWORD}' for each of:"
            )
            for role, email in users:
                print(f"  {role:10s} {email}")
        print("\nLocal stack is up:")
        if web is not None:
            print(f"  {'Web app':26s} {web.url}  (sign in with an account above)")
        for name, url in stack.endpoints().items():
            print(f"  {name:26s} {url}")
        print("\nEnvironment for a client or frontend developer:")
        for key, value in stack.env.items():
            print(f"  export {key}='{value}'")
        if stack.api is not None and stack.auth is not None:
            print("\nFor the edge uploader (steth-upload):")
            print(f"  export STETH_API_URL='{stack.api.url}'")
            print(f"  export STETH_AUTH_EMULATOR='{stack.auth.host}'")
            if not args.empty:
                print(f"  export STETH_CLINIC='{DEMO_CLINIC}'")
                print("  steth-upload login --email uploader@demo.clinic  # then:")
                print("  steth-upload record --mrn DEMO-0001 --site mitral --simulate")
        print("\nCtrl-C stops everything.")
        stopped = False

        def on_signal(signum: int, frame: object) -> None:
            nonlocal stopped
            stopped = True

        signal.signal(signal.SIGTERM, on_signal)
        try:
            while not stopped:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
    print("stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
