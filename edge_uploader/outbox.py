"""The durable outbox: WAV files plus an SQLite (WAL) journal of where each one is.

A take is written atomically (temp file, fsync, rename, fsync of the directory), with a JSON
sidecar holding its details, before it is journaled, so after a crash a journaled recording always
has its complete file, and a file the journal does not know (a crash or a full disk between the
two writes, a deleted or damaged journal) is found and queued again when the outbox is opened
(`reconcile`). A damaged journal is moved aside and rebuilt from the folder: nothing is lost, and
uploads are idempotent on the item id, so a re-queued take that had already gone is not doubled.
States:

    queued -> slot_requested -> uploading -> verified -> done
                                      \\-> failed (kept on disk, shown in `status`;
                                                   `retry` queues it again, `discard` drops it)

The local file is deleted only in `done`, which an item reaches after its upload was verified
(stored CRC32C = local CRC32C) and the retention period has passed, or on `discard`.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

from edge_uploader.checksums import crc32c_base64

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id TEXT PRIMARY KEY,
    file TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    crc32c TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    site TEXT NOT NULL,
    kind TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    state TEXT NOT NULL,
    recording_id TEXT,
    upload_url TEXT,
    offset_bytes INTEGER NOT NULL DEFAULT 0,
    inflight_offset INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    verified_at TEXT
);
CREATE INDEX IF NOT EXISTS items_state ON items (state, created_at);
CREATE TABLE IF NOT EXISTS exams (
    id TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL,
    protocol TEXT,
    sites TEXT NOT NULL,
    state TEXT NOT NULL,
    last_error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
"""
#: Containers a take is kept and uploaded in (its file's suffix says which).
AUDIO_SUFFIXES = ("flac", "wav")
#: Columns added after the first release: added to an older journal when it is opened.
ADDED_COLUMNS = {"exam_id": "TEXT", "clinic_id": "TEXT"}


class ExamState(StrEnum):
    """An exam on this laptop: created here, then on the server, then marked complete there."""

    NEW = "new"  # not yet created on the server; takes still being recorded
    NEW_COMPLETE = "new_complete"  # recorded, not yet created on the server
    CREATED = "created"  # on the server; takes still being recorded
    COMPLETING = "completing"  # on the server, recorded: complete it once its takes are up
    COMPLETED = "completed"
    FAILED = "failed"


NOT_ON_SERVER = (ExamState.NEW, ExamState.NEW_COMPLETE)


@dataclass(frozen=True)
class OutboxExam:
    id: str
    patient_id: str
    protocol: str | None
    sites: list[str]
    state: ExamState
    last_error: str | None


class State(StrEnum):
    QUEUED = "queued"
    SLOT_REQUESTED = "slot_requested"
    UPLOADING = "uploading"
    VERIFIED = "verified"
    DONE = "done"
    FAILED = "failed"


PENDING = (State.QUEUED, State.SLOT_REQUESTED, State.UPLOADING)


@dataclass(frozen=True)
class Item:
    id: str  # the client recording id: stable across retries, the server's idempotency key
    file: Path
    size_bytes: int
    crc32c: str  # base64, as Cloud Storage reports it
    patient_id: str
    site: str
    kind: str
    recorded_at: datetime
    state: State
    recording_id: str | None
    upload_url: str | None
    offset_bytes: int  # what the server acknowledged (its last 308 or 200)
    inflight_offset: int | None  # a chunk from here was being sent (outcome unknown after a crash)
    attempts: int
    last_error: str | None
    created_at: datetime
    verified_at: datetime | None
    exam_id: str | None = None
    clinic_id: str | None = None  # the clinic it was recorded for (older takes: None)


class OutboxError(Exception):
    """The outbox cannot be used (a sentence for the user)."""


@dataclass(frozen=True)
class Reconciled:
    """What opening the outbox found and repaired."""

    requeued: list[str]  # takes found in the folder, queued again from their sidecars
    without_details: list[str]  # takes found without details: failed, to be fixed or discarded
    journal_moved_to: Path | None  # a damaged journal, kept for inspection


class Outbox:
    """Recordings waiting to reach the cloud, in `directory`."""

    JOURNAL = "outbox.sqlite3"

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.files = directory / "recordings"
        try:
            self.files.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise OutboxError(
                f"cannot use the outbox folder {directory}: {exc.strerror}; set STETH_OUTBOX "
                "(or --outbox) to a folder you can write"
            ) from exc
        moved = None
        try:
            try:
                self._db = self._open_journal()
            except sqlite3.OperationalError:
                raise  # disk full, locked, unreadable: not damage, nothing to move aside
            except sqlite3.DatabaseError:  # "not a database", "malformed": a damaged journal
                moved = self._move_damaged_journal()
                self._db = self._open_journal()
        except sqlite3.OperationalError as exc:
            raise OutboxError(f"cannot use the outbox journal in {directory}: {exc}") from exc
        self.reconciled = self.reconcile(journal_moved_to=moved)

    def _open_journal(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.directory / self.JOURNAL, isolation_level=None, timeout=30)
        try:
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(SCHEMA)
            present = {row[1] for row in db.execute("PRAGMA table_info(items)")}
            for column, kind in ADDED_COLUMNS.items():
                if column not in present:
                    db.execute(f"ALTER TABLE items ADD COLUMN {column} {kind}")
            db.execute("SELECT count(*) FROM items").fetchone()
            if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("quick_check failed")
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def _move_damaged_journal(self) -> Path:
        stamp = f"{datetime.now(UTC):%Y%m%dT%H%M%S}"
        target = self.directory / f"{self.JOURNAL}.damaged-{stamp}"
        for suffix in ("", "-wal", "-shm"):
            source = self.directory / f"{self.JOURNAL}{suffix}"
            if source.exists():
                source.replace(target.with_name(target.name + suffix))
        return target

    def reconcile(self, journal_moved_to: Path | None = None) -> Reconciled:
        """Queue every take in the folder that the journal does not know; drop half-written
        temp files (a take is complete only once renamed into place)."""
        known = {row["file"] for row in self._db.execute("SELECT file FROM items")}
        requeued: list[str] = []
        without_details: list[str] = []
        for temp in self.files.glob("*.tmp-*"):
            with contextlib.suppress(OSError):
                temp.unlink()
        takes = [p for suffix in AUDIO_SUFFIXES for p in self.files.glob(f"*.{suffix}")]
        for wav in sorted(takes):
            if wav.name in known:
                continue
            details = _read_sidecar(wav.with_suffix(".json"))
            data = wav.read_bytes()
            state, error = State.QUEUED, None
            if details is None:
                state = State.FAILED
                error = (
                    "found in the outbox without its patient, site and kind; "
                    "import it again with those details, or discard it"
                )
                details = {"patient_id": "", "site": "", "kind": "", "recorded_at": _now()}
            self._insert(wav.stem, wav.name, data, details, state, error)
            (requeued if state == State.QUEUED else without_details).append(wav.stem)
        return Reconciled(requeued, without_details, journal_moved_to)

    def close(self) -> None:
        self._db.close()

    def add(
        self,
        wav: bytes,
        *,
        patient_id: str,
        site: str,
        kind: str,
        recorded_at: datetime | None = None,
        exam_id: str | None = None,
        audio_format: str = "wav",
        clinic_id: str | None = None,
    ) -> Item:
        """Store a take durably and queue it. Raises OSError (e.g. ENOSPC) if it cannot be
        written; a take whose file was written but not journaled is found by `reconcile`."""
        item_id = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}"
        if audio_format not in AUDIO_SUFFIXES:
            raise ValueError(f"audio format {audio_format!r}: one of {', '.join(AUDIO_SUFFIXES)}")
        final = self.files / f"{item_id}.{audio_format}"
        details = {
            "patient_id": patient_id,
            "site": site,
            "kind": kind,
            "recorded_at": (recorded_at or datetime.now(UTC)).isoformat(),
            **({"exam_id": exam_id} if exam_id else {}),
            **({"clinic_id": clinic_id} if clinic_id else {}),
        }
        _write_atomically(final.with_suffix(".json"), json.dumps(details).encode())
        try:
            _write_atomically(final, wav)
        except OSError:
            with contextlib.suppress(OSError):
                final.with_suffix(".json").unlink()
            raise
        self._insert(item_id, final.name, wav, details, State.QUEUED, None)
        return self.get(item_id)

    def _insert(
        self,
        item_id: str,
        file_name: str,
        wav: bytes,
        details: dict[str, str],
        state: State,
        error: str | None,
    ) -> None:
        now = _now()
        self._db.execute(
            "INSERT INTO items (id, file, size_bytes, crc32c, patient_id, site, kind, recorded_at,"
            " state, last_error, created_at, updated_at, exam_id, clinic_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                item_id,
                file_name,
                len(wav),
                crc32c_base64(wav),
                details["patient_id"],
                details["site"],
                details["kind"],
                details["recorded_at"],
                state.value,
                error,
                now,
                now,
                details.get("exam_id"),
                details.get("clinic_id"),
            ),
        )

    def retry(self, item_id: str) -> Item:
        """Queue a failed item again (after the cause was fixed); its upload starts afresh."""
        item = self.get(item_id)
        if item.state != State.FAILED:
            raise OutboxError(f"{item_id} is {item.state.value}, not failed: nothing to retry")
        if not item.patient_id or not item.site or not item.kind:
            raise OutboxError(f"{item_id} has no patient, site or kind: import it again instead")
        return self.update(
            item.id,
            state=State.QUEUED,
            attempts=0,
            last_error=None,
            upload_url=None,
            offset_bytes=0,
            inflight_offset=None,
        )

    def fix(self, item_id: str, **details: str) -> Item:
        """Change the patient, site or kind of a take not yet registered (queued) or refused
        (failed); a failed take is queued again. The sidecar follows, so a rebuilt journal
        keeps the fix."""
        item = self.get(item_id)
        if item.state not in (State.QUEUED, State.FAILED):
            raise OutboxError(
                f"{item_id} is {item.state.value}: only queued or failed takes can be changed"
            )
        changes = {k: v for k, v in details.items() if k in ("patient_id", "site", "kind") and v}
        sidecar = item.file.with_suffix(".json")
        stored = _read_sidecar(sidecar) or {
            "patient_id": item.patient_id,
            "site": item.site,
            "kind": item.kind,
            "recorded_at": item.recorded_at.isoformat(),
        }
        _write_atomically(sidecar, json.dumps({**stored, **changes}).encode())
        return self.update(
            item.id,
            **changes,
            state=State.QUEUED,
            attempts=0,
            last_error=None,
            recording_id=None,
            upload_url=None,
            offset_bytes=0,
            inflight_offset=None,
        )

    def discard(self, item_id: str) -> Item:
        """Drop a failed item: its audio and sidecar are deleted, the journal keeps the record."""
        item = self.get(item_id)
        if item.state != State.FAILED:
            raise OutboxError(f"{item_id} is {item.state.value}: only failed takes are discarded")
        for path in (item.file, item.file.with_suffix(".json")):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        return self.update(item.id, state=State.DONE, last_error="discarded by the user")

    def get(self, item_id: str) -> Item:
        """A take by its id, or by the short id `status` shows (the id's last characters)."""
        row = self._db.execute("SELECT * FROM items WHERE id = ?", (item_id,)).fetchone()
        if row is None and len(item_id) >= 4:
            rows = self._db.execute(
                "SELECT * FROM items WHERE id LIKE ?", (f"%{item_id}",)
            ).fetchall()
            row = rows[0] if len(rows) == 1 else None
        if row is None:
            raise KeyError(item_id)
        return self._item(row)

    def pending(self) -> list[Item]:
        """Items still to upload, oldest first."""
        marks = ",".join("?" * len(PENDING))
        rows = self._db.execute(
            f"SELECT * FROM items WHERE state IN ({marks}) ORDER BY created_at, id",
            [s.value for s in PENDING],
        ).fetchall()
        return [self._item(r) for r in rows]

    def all(self) -> list[Item]:
        return [
            self._item(r) for r in self._db.execute("SELECT * FROM items ORDER BY created_at, id")
        ]

    def update(self, item_id: str, **fields: object) -> Item:
        """Change fields of an item (journaled immediately)."""
        columns = {k: (v.value if isinstance(v, State) else v) for k, v in fields.items()}
        columns["updated_at"] = _now()
        assignments = ", ".join(f"{name} = ?" for name in columns)
        self._db.execute(
            f"UPDATE items SET {assignments} WHERE id = ?", [*columns.values(), item_id]
        )
        return self.get(item_id)

    def expire(self, retention: timedelta, now: datetime | None = None) -> list[Item]:
        """Delete the audio of verified items older than `retention`; they become `done`."""
        cutoff = ((now or datetime.now(UTC)) - retention).isoformat()
        rows = self._db.execute(
            "SELECT * FROM items WHERE state = ? AND verified_at <= ?",
            (State.VERIFIED.value, cutoff),
        ).fetchall()
        done = []
        for row in rows:
            item = self._item(row)
            for path in (item.file, item.file.with_suffix(".json")):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            done.append(self.update(item.id, state=State.DONE))
        return done

    def _item(self, row: sqlite3.Row) -> Item:
        return Item(
            id=row["id"],
            file=self.files / row["file"],
            size_bytes=row["size_bytes"],
            crc32c=row["crc32c"],
            patient_id=row["patient_id"],
            site=row["site"],
            kind=row["kind"],
            recorded_at=datetime.fromisoformat(row["recorded_at"]),
            state=State(row["state"]),
            recording_id=row["recording_id"],
            upload_url=row["upload_url"],
            offset_bytes=row["offset_bytes"],
            inflight_offset=row["inflight_offset"],
            attempts=row["attempts"],
            last_error=row["last_error"],
            created_at=datetime.fromisoformat(row["created_at"]),
            verified_at=datetime.fromisoformat(row["verified_at"]) if row["verified_at"] else None,
            exam_id=row["exam_id"],
            clinic_id=row["clinic_id"],
        )

    # --- exams ------------------------------------------------------------------------------

    def add_exam(self, patient_id: str, protocol: str | None, sites: list[str]) -> OutboxExam:
        """An exam started on this laptop; its id is made here, so takes can be recorded and
        queued with it while offline (the server creates it idempotently under this id)."""
        exam_id = f"exm_{uuid.uuid4().hex[:16]}"
        now = _now()
        self._db.execute(
            "INSERT INTO exams (id, patient_id, protocol, sites, state, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (exam_id, patient_id, protocol, json.dumps(sites), ExamState.NEW.value, now, now),
        )
        return self.exam(exam_id)

    def exam(self, exam_id: str) -> OutboxExam:
        row = self._db.execute("SELECT * FROM exams WHERE id = ?", (exam_id,)).fetchone()
        if row is None:
            raise KeyError(exam_id)
        return OutboxExam(
            row["id"],
            row["patient_id"],
            row["protocol"],
            json.loads(row["sites"]),
            ExamState(row["state"]),
            row["last_error"],
        )

    def exams(self, *states: ExamState) -> list[OutboxExam]:
        marks = ",".join("?" * len(states))
        rows = self._db.execute(
            f"SELECT id FROM exams WHERE state IN ({marks}) ORDER BY created_at",
            [s.value for s in states],
        ).fetchall()
        return [self.exam(row["id"]) for row in rows]

    def finish_exam(self, exam_id: str) -> None:
        """Every take of the exam is recorded: complete it on the server once they are up."""
        exam = self.exam(exam_id)
        after = ExamState.NEW_COMPLETE if exam.state == ExamState.NEW else ExamState.COMPLETING
        self.set_exam_state(exam_id, after)

    def set_exam_state(self, exam_id: str, state: ExamState, error: str | None = None) -> None:
        self._db.execute(
            "UPDATE exams SET state = ?, last_error = ?, updated_at = ? WHERE id = ?",
            (state.value, error, _now(), exam_id),
        )

    def exam_items(self, exam_id: str) -> list[Item]:
        rows = self._db.execute(
            "SELECT * FROM items WHERE exam_id = ? ORDER BY created_at", (exam_id,)
        ).fetchall()
        return [self._item(r) for r in rows]

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _read_sidecar(path: Path) -> dict[str, str] | None:
    """A take's details, or None if the sidecar is missing or unreadable."""
    try:
        details = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    keys = ("patient_id", "site", "kind", "recorded_at")
    if not isinstance(details, dict) or not all(isinstance(details.get(k), str) for k in keys):
        return None
    found = {k: details[k] for k in keys}
    for optional in ("exam_id", "clinic_id"):
        if isinstance(details.get(optional), str):
            found[optional] = details[optional]
    return found


def _write_atomically(path: Path, data: bytes) -> None:
    """temp file -> fsync -> rename -> fsync(dir): the file is either absent or complete."""
    temp = path.with_suffix(f".tmp-{uuid.uuid4().hex[:8]}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        temp.replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
