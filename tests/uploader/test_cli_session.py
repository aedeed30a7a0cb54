"""Clinic staff at the CLI, against the real local stack: nothing is stranded (a refused take is
fixed and reaches `analyzed`), wrong input is caught before recording, output fits 80 columns,
import refuses with a non-zero exit, sign-in errors are words, and a shared laptop can log out."""

from __future__ import annotations

import re

import pytest
from google.cloud import firestore
from typer.testing import CliRunner

from edge_uploader.cli import EXIT_AUTH, EXIT_FAILED, app
from edge_uploader.outbox import Outbox, State
from scripts.emulators import free_port

from ..helpers import heart_wav
from .test_sync import Clinic, clinic  # noqa: F401 - the clinic fixture

pytestmark = pytest.mark.emulators


def run(env: dict[str, str], *args: str, columns: int = 80) -> object:
    return CliRunner().invoke(app, list(args), env={**env, "COLUMNS": str(columns)})


def fits(output: str, width: int = 80) -> None:
    assert all(len(line) <= width for line in output.splitlines()), output


def test_a_refused_take_is_fixed_and_analysed(clinic: Clinic, db: firestore.Client) -> None:  # noqa: F811
    env = clinic.env()
    wrong = run(
        env,
        "record",
        "--simulate",
        "--patient",
        "nobody",
        "--site",
        "mitral",
        "--seconds",
        "12",
        "--yes",
    )
    assert wrong.exit_code == 2 and "no patient nobody" in wrong.output, wrong.output
    fits(wrong.output)
    # offline the patient cannot be checked: the take is kept, refused at upload, then fixed
    offline = {**env, "STETH_API_URL": f"http://127.0.0.1:{free_port()}"}
    kept = run(
        offline,
        "record",
        "--simulate",
        "--patient",
        "nobody",
        "--site",
        "mitral",
        "--seconds",
        "12",
        "--yes",
    )
    assert "offline" in kept.output and kept.exit_code == 4, kept.output
    refused = run(env, "sync")
    assert refused.exit_code == EXIT_FAILED and "unknown_patient" in refused.output
    with Outbox(clinic.config.outbox_dir) as box:
        [item] = box.all()
        assert item.state == State.FAILED and item.clinic_id == "c1"
    status = run(env, "status", "--failed")
    fits(status.output)
    assert item.id[-6:] in status.output and "steth-upload fix" in status.output
    fixed = run(env, "fix", item.id[-6:], "--patient", "p1")
    assert fixed.exit_code == 0 and "queued" in fixed.output, fixed.output
    synced = run(env, "sync")
    assert synced.exit_code == 0 and "uploaded and verified" in synced.output, synced.output
    results = run(env, "results", "--wait", "60")
    assert results.exit_code == 0, results.output
    fits(results.output)
    assert "analyzed" in results.output
    rate = re.search(r"HR (\d+)", results.output)
    assert rate and abs(int(rate.group(1)) - 78) <= 5, results.output  # simulated at 78 bpm


def test_sites_are_checked_before_recording(clinic: Clinic) -> None:  # noqa: F811
    wrong = run(
        clinic.env(),
        "record",
        "--simulate",
        "--patient",
        "p1",
        "--site",
        "posterior-left-lower",
        "--kind",
        "heart",
        "--yes",
    )
    assert wrong.exit_code == 2 and "aortic" in wrong.output
    with Outbox(clinic.config.outbox_dir) as box:
        assert box.all() == [], "nothing was recorded"
    help_text = run(clinic.env(), "record", "--help", columns=120).output
    assert "posterior" in help_text and "STETH_API_URL" in help_text


def test_import_refuses_with_a_non_zero_exit_and_never_twice(clinic: Clinic, tmp_path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    good = tmp_path / "take.wav"
    good.write_bytes(heart_wav(8.0, 70.0))
    bad = tmp_path / "notes.wav"
    bad.write_bytes(b"not audio at all" * 100)
    first = run(
        clinic.env(),
        "import",
        str(good),
        str(bad),
        "--patient",
        "p1",
        "--site",
        "mitral",
        "--recorded-at",
        "2026-11-30T10:15:00+00:00",
    )
    assert first.exit_code == EXIT_FAILED and "notes.wav: not queued" in first.output
    assert "quality" in first.output and "steth-upload sync" in first.output
    again = run(clinic.env(), "import", str(good), "--patient", "p1", "--site", "mitral")
    assert again.exit_code == EXIT_FAILED and "already in the outbox" in again.output
    with Outbox(clinic.config.outbox_dir) as box:
        [item] = box.all()
    assert item.recorded_at.isoformat() == "2026-11-30T10:15:00+00:00"


def test_sign_in_errors_are_words_and_a_shared_laptop_logs_out(clinic: Clinic) -> None:  # noqa: F811
    env = clinic.env()
    assert clinic.email in run(env, "whoami").output
    unknown = run(env, "login", "--email", "nobody@clinic.example", "--password", "x")
    assert unknown.exit_code == EXIT_AUTH and "EMAIL_NOT_FOUND" not in unknown.output
    assert "ask your clinic's admin" in unknown.output or "wrong email" in unknown.output
    unreachable = run(
        {**env, "STETH_AUTH_EMULATOR": f"127.0.0.1:{free_port()}"},
        "login",
        "--email",
        clinic.email,
        "--password",
        clinic.password,
    )
    assert unreachable.exit_code == EXIT_AUTH and "Traceback" not in unreachable.output
    assert len(unreachable.output.splitlines()) <= 3
    assert "signed out" in run(env, "logout").output
    assert run(env, "whoami").exit_code == EXIT_AUTH


def test_watch_says_where_it_is_and_stops_when_nobody_is_signed_in(clinic: Clinic) -> None:  # noqa: F811
    import subprocess
    import sys
    import time as clock

    env = clinic.env()
    offline = {**env, "STETH_API_URL": f"http://127.0.0.1:{free_port()}"}
    run(
        offline,
        "record",
        "--simulate",
        "--patient",
        "p1",
        "--site",
        "mitral",
        "--seconds",
        "12",
        "--yes",
        "--no-upload",
    )
    watcher = subprocess.Popen(
        [sys.executable, "-m", "edge_uploader", "watch", "--interval", "1"],
        env={**offline, "COLUMNS": "80"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    clock.sleep(15)  # a step retries for ~8 s before it calls the server unreachable
    watcher.terminate()
    output = watcher.communicate(timeout=30)[0]
    assert "watching" in output and "offline: takes are kept" in output, output
    assert output.count("offline: takes are kept") == 1, "said once, not every pass"
    run(env, "logout")
    signed_out = run(env, "watch", "--interval", "1")
    assert signed_out.exit_code == EXIT_AUTH and "steth-upload login" in signed_out.output
