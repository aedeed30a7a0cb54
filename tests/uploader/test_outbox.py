"""The outbox loses no take: a deleted or damaged journal, a crash or a full disk between the audio
and the journal, a full disk while recording; failed takes can be retried or discarded.
No server is needed: these are the outbox's own guarantees."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edge_uploader.cli import EXIT_OUTBOX, app
from edge_uploader.outbox import Outbox, OutboxError, State

from ..helpers import heart_wav

DETAILS = {"patient_id": "p1", "site": "mitral", "kind": "heart"}


def add(box: Outbox, seconds: float = 2.0) -> str:
    return box.add(heart_wav(seconds), recorded_at=datetime(2026, 12, 1, tzinfo=UTC), **DETAILS).id


def test_deleted_journal_is_rebuilt_from_the_folder(tmp_path: Path) -> None:
    with Outbox(tmp_path) as box:
        ids = {add(box), add(box)}
    (tmp_path / "outbox.sqlite3").unlink()
    with Outbox(tmp_path) as box:
        assert set(box.reconciled.requeued) == ids
        pending = {item.id: item for item in box.pending()}
        assert set(pending) == ids
        assert all(item.patient_id == "p1" and item.site == "mitral" for item in pending.values())
        assert all(
            item.recorded_at == datetime(2026, 12, 1, tzinfo=UTC) for item in pending.values()
        )
    with Outbox(tmp_path) as box:  # a second open finds nothing new
        assert box.reconciled.requeued == []


def test_damaged_journal_is_moved_aside_and_nothing_is_lost(tmp_path: Path) -> None:
    with Outbox(tmp_path) as box:
        taken = add(box)
    journal = tmp_path / "outbox.sqlite3"
    journal.write_bytes(b"this is not a database" * 100)
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"outbox.sqlite3{suffix}").unlink(missing_ok=True)
    with Outbox(tmp_path) as box:
        moved = box.reconciled.journal_moved_to
        assert moved is not None and moved.exists()
        assert [item.id for item in box.pending()] == [taken]


def test_take_written_but_not_journaled_is_found(tmp_path: Path) -> None:
    """A crash (or a full disk) between the audio write and the journal insert."""
    with Outbox(tmp_path) as box:
        taken = add(box)
        box._db.execute("DELETE FROM items WHERE id = ?", (taken,))  # the insert never happened
    (tmp_path / "recordings" / "half.wav.tmp-1234").write_bytes(b"partial")
    with Outbox(tmp_path) as box:
        assert box.reconciled.requeued == [taken]
        assert box.get(taken).state == State.QUEUED
    assert not list((tmp_path / "recordings").glob("*.tmp-*")), "half-written files are dropped"


def test_take_without_details_is_kept_as_failed_and_can_be_discarded(tmp_path: Path) -> None:
    (tmp_path / "recordings").mkdir(parents=True)
    (tmp_path / "recordings" / "old-take.wav").write_bytes(heart_wav(2.0))
    with Outbox(tmp_path) as box:
        assert box.reconciled.without_details == ["old-take"]
        item = box.get("old-take")
        assert item.state == State.FAILED and "without its patient" in (item.last_error or "")
        with pytest.raises(OutboxError):
            box.retry("old-take")  # nothing to send it with
        box.discard("old-take")
        assert box.get("old-take").state == State.DONE
    assert not (tmp_path / "recordings" / "old-take.wav").exists()


def test_failed_take_can_be_retried_from_the_cli(tmp_path: Path) -> None:
    with Outbox(tmp_path) as box:
        taken = add(box)
        box.update(taken, state=State.FAILED, last_error="HTTP 422 unknown_patient", attempts=3)
    result = CliRunner().invoke(app, ["retry", "--outbox", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert f"queued again {taken}" in result.output
    with Outbox(tmp_path) as box:
        item = box.get(taken)
        assert item.state == State.QUEUED and item.attempts == 0 and item.last_error is None
    again = CliRunner().invoke(app, ["retry", taken, "--outbox", str(tmp_path)])
    assert again.exit_code == 1 and "not failed" in again.output


def test_unwritable_outbox_is_one_clear_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = CliRunner().invoke(app, ["status", "--outbox", str(blocker / "outbox")])
    assert result.exit_code == EXIT_OUTBOX
    assert "cannot use the outbox folder" in result.output
    assert "Traceback" not in result.output


@pytest.fixture(params=[128])
def tiny_disk(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    """A real file system of `param` KiB (tmpfs): room for the journal, not for a take."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={request.param}k", "tmpfs", str(mount_point)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=False)


def test_full_disk_while_recording_keeps_the_take(
    tiny_disk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    result = CliRunner().invoke(
        app,
        ["record", "--patient", "p1", "--site", "mitral", "--seconds", "30", "--simulate",
         "--yes", "--no-upload", "--outbox", str(tiny_disk / "outbox")],
    )  # fmt: skip
    assert result.exit_code == EXIT_OUTBOX, result.output
    assert "could not store the take" in result.output and "Traceback" not in result.output
    kept = list(home.glob("take-*.flac"))
    assert len(kept) == 1 and kept[0].stat().st_size > 64 * 1024
    assert "steth-upload import" in result.output
    # nothing half-written is left to confuse the outbox
    with Outbox(tiny_disk / "outbox") as box:
        assert box.all() == []


@pytest.mark.parametrize("tiny_disk", [16], indirect=True)
def test_disk_too_full_for_the_journal_is_one_line_and_moves_nothing(tiny_disk: Path) -> None:
    (tiny_disk / "filler").write_bytes(b"\0" * (12 * 1024))
    result = CliRunner().invoke(app, ["status", "--outbox", str(tiny_disk / "outbox")])
    assert result.exit_code == EXIT_OUTBOX, result.output
    assert "cannot use the outbox journal" in result.output and "Traceback" not in result.output
    assert not list((tiny_disk / "outbox").glob("*.damaged-*")), "a full disk is not damage"


def test_journal_is_a_real_sqlite_file(tmp_path: Path) -> None:
    with Outbox(tmp_path) as box:
        add(box)
    with sqlite3.connect(tmp_path / "outbox.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM items").fetchone()[0] == 1
