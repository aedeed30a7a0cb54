"""The durable outbox: WAV files plus an SQLite (WAL) journal of where each one is.

A take is written atomically (temp file, fsync, rename, fsync of the directory) before it is
journaled, so after a crash a journaled recording always has its complete file. States:

    queued -> slot_requested -> uploading -> verified -> done
                                      \\-> failed (permanent; kept on disk, shown in `status`)

The local file is deleted only in `done`, which an item reaches after its upload was verified
(stored CRC32C = local CRC32C) and the retention period has passed.
"""

from __future__ import annotations

import contextlib
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
"""


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


class Outbox:
    """Recordings waiting to reach the cloud, in `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.files = directory / "recordings"
        self.files.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._db = sqlite3.connect(directory / "outbox.sqlite3", isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)

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
    ) -> Item:
        """Store a take durably and queue it."""
        item_id = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}"
        final = self.files / f"{item_id}.wav"
        _write_atomically(final, wav)
        now = _now()
        self._db.execute(
            "INSERT INTO items (id, file, size_bytes, crc32c, patient_id, site, kind, recorded_at,"
            " state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                item_id,
                final.name,
                len(wav),
                crc32c_base64(wav),
                patient_id,
                site,
                kind,
                (recorded_at or datetime.now(UTC)).isoformat(),
                State.QUEUED.value,
                now,
                now,
            ),
        )
        return self.get(item_id)

    def get(self, item_id: str) -> Item:
        row = self._db.execute("SELECT * FROM items WHERE id = ?", (item_id,)).fetchone()
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
            with contextlib.suppress(FileNotFoundError):
                item.file.unlink()
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
        )

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _now() -> str:
    return datetime.now(UTC).isoformat()


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
