"""The clinician web app in Debian's Chromium against the real local stack (tests/web/browser.mjs
drives it with playwright-core; nothing is downloaded): sign-in, a take going live from
registration to `analyzed` on the worklist, the review (trace, overlays, playback with a moving
cursor, band filter, PDF download), an unusable take, the exam and patient views, filters,
keyboard focus, the tablet layout, admin, and an uploader denied the review. Zero console errors
across the whole run. Screenshots land in test-output/web/ (CI keeps them as artifacts)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ..helpers import seed_worklist
from ..tokens import bearer
from .conftest import CHROMIUM, CLINIC, OUT, REPO, WebClinic, heart_wav

pytestmark = pytest.mark.emulators


def plan_for(world: WebClinic, **extra: Any) -> dict[str, Any]:
    return {
        "baseUrl": world.url,
        "chromium": CHROMIUM,
        "outDir": str(OUT),
        "admin": world.admin.plan(),
        "clinician": world.clinician.plan(),
        "uploader": world.uploader.plan(),
        "newcomer": world.newcomer.plan(),
        "patientId": world.patient_id,
        "patientMrn": world.patient_mrn,
        "examId": world.exam_id,
        "heartRecordingId": world.recordings["heart"],
        "lungRecordingId": world.recordings["lung"],
        "unusableRecordingId": world.recordings["unusable"],
        **extra,
    }


def run_browser(
    plan: dict[str, Any], on_ready: Any = None, timeout_s: float = 150
) -> dict[str, Any]:
    """Run browser.mjs on `plan`; call `on_ready()` when it prints READY; its report."""
    OUT.mkdir(parents=True, exist_ok=True)
    plan_path = OUT / f"plan-{plan.get('mode', 'suite')}.json"
    plan_path.write_text(json.dumps(plan))
    node = subprocess.Popen(
        ["node", str(REPO / "tests/web/browser.mjs"), str(plan_path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = []
    assert node.stdout is not None
    deadline = time.monotonic() + timeout_s
    for line in node.stdout:
        output.append(line)
        if line.startswith("READY") and on_ready is not None:
            on_ready()
        if time.monotonic() > deadline:
            node.kill()
            break
    assert node.wait(timeout=30) == 0, "".join(output)
    report: dict[str, Any] = json.loads(
        (OUT / f"report-{plan.get('mode', 'suite')}.json").read_text()
    )
    return report


@pytest.fixture(scope="module")
def report(web_clinic: WebClinic) -> Iterator[dict[str, Any]]:
    """One browser run over every step (Chromium starts once; the suite stays well under 3 min)."""

    def upload_live_take() -> None:
        # the slot is registered first: the row appears before its audio arrives
        web_clinic.recordings["live"] = web_clinic.upload(
            "heart", "tricuspid", heart_wav(10.0, 66.0, seed=5), pause_s=1.0
        )

    started = time.monotonic()
    result = run_browser(plan_for(web_clinic), on_ready=upload_live_take)
    result["suiteS"] = time.monotonic() - started
    print(
        f"\nbrowser suite: {result['suiteS']:.1f} s, {len(result['consoleErrors'])} console errors"
    )
    yield result


def step(report: dict[str, Any], name: str) -> dict[str, Any]:
    observed: dict[str, Any] = report["steps"].get(name, {"ok": False, "error": "did not run"})
    assert observed["ok"], observed.get("error")
    return observed


def test_sign_in_lists_the_clinic_and_its_takes_with_patient_names(
    report: dict[str, Any], web_clinic: WebClinic
) -> None:
    seen = step(report, "signIn")
    assert "Web test clinic" in seen["header"] and "clinician" in seen["header"]
    by_id = {row["id"]: row for row in seen["rows"]}
    assert {web_clinic.recordings[k] for k in ("heart", "lung", "unusable")} <= set(by_id)
    heart = by_id[web_clinic.recordings["heart"]]
    assert "Ada Lovelace (WEB-0001)" in heart["text"] and "HR " in heart["text"]
    assert "Unusable take" in by_id[web_clinic.recordings["unusable"]]["text"]
    ids = [row["id"] for row in seen["rows"]]
    assert ids.index(web_clinic.recordings["unusable"]) < ids.index(web_clinic.recordings["heart"])


def test_a_new_take_appears_live_and_turns_analyzed_without_a_reload(
    report: dict[str, Any], web_clinic: WebClinic
) -> None:
    live = step(report, "live")
    assert live["id"] == web_clinic.recordings["live"]
    assert live["notReloaded"]
    assert live["seen"][0] in ("awaiting_upload", "analyzing"), live["seen"]
    assert live["seen"][-1] == "analyzed" and "HR " in live["row"]["text"]


def test_review_draws_the_trace_with_s1_s2_marks_and_the_findings(report: dict[str, Any]) -> None:
    review = step(report, "review")
    assert int(review["overlay"]["beats"]) >= 8, review["overlay"]
    assert "Heart rate" in review["figures"] and "bpm" in review["figures"]
    assert review["darkPixels"] > 1000, "the waveform was not drawn"


def test_audio_plays_through_the_band_filter_and_the_cursor_moves(report: dict[str, Any]) -> None:
    play = step(report, "play")
    assert play["band"] == "heart" and "access=" in play["src"]
    assert play["later"]["time"] > play["first"]["time"] > 0
    assert play["later"]["left"] != play["first"]["left"]


def test_the_pdf_report_downloads(report: dict[str, Any]) -> None:
    download = step(report, "download")
    assert download["head"] == "%PDF-" and download["filename"].endswith(".pdf")


def test_lung_review_marks_wheezes_and_breath_cycles(report: dict[str, Any]) -> None:
    lung = step(report, "lungReview")
    assert int(lung["overlay"]["wheezes"]) >= 1, lung["overlay"]
    assert "Respiratory rate" in lung["figures"]


def test_an_unusable_take_says_so_and_shows_no_findings(report: dict[str, Any]) -> None:
    unusable = step(report, "unusable")
    assert "unusable" in unusable["warning"] and "record this site again" in unusable["warning"]
    assert not unusable["figures"] and not unusable["overlay"]


def test_exam_shows_its_sites_assessment_and_what_to_record_again(report: dict[str, Any]) -> None:
    exam = step(report, "exam")
    assert exam["status"] == "assessed"
    assert [s["site"] for s in exam["sites"]] == ["aortic", "pulmonic", "tricuspid", "mitral"]
    mitral = next(s for s in exam["sites"] if s["site"] == "mitral")
    assert "site-unusable" in mitral["cls"] or "site-failed" in mitral["cls"]
    assert "mitral" in exam["reRecord"]
    assert exam["reportHead"] == "%PDF-", "the exam report downloads through its link"


def test_patient_view_charts_the_rates_over_time(report: dict[str, Any]) -> None:
    patient = step(report, "patient")
    assert patient["title"] == "Ada Lovelace"
    assert patient["points"] >= 3 and patient["exams"] >= 1


def test_filters_by_status_patient_and_kind(report: dict[str, Any]) -> None:
    filters = step(report, "filters")
    assert set(filters["rejected"]) <= {"rejected"}
    assert filters["patientRows"] >= 4 and "Ada Lovelace" in filters["chip"]
    assert filters["exams"] == 1


def test_keyboard_reaches_the_controls_and_every_field_is_labelled(report: dict[str, Any]) -> None:
    keyboard = step(report, "keyboard")
    assert any("filter-status" in f for f in keyboard["focused"]), keyboard["focused"]
    assert keyboard["unlabeled"] == []


def test_tablet_width_needs_no_horizontal_scrolling(report: dict[str, Any]) -> None:
    tablet = step(report, "tablet")
    assert all(width <= 800 for width in tablet["widths"].values()), tablet["widths"]


def test_admin_lists_members_changes_a_role_invites_and_reads_the_audit(
    report: dict[str, Any], web_clinic: WebClinic
) -> None:
    admin = step(report, "admin")
    assert {m["uid"] for m in admin["members"]} == {
        web_clinic.admin.uid, web_clinic.clinician.uid, web_clinic.uploader.uid
    }  # fmt: skip
    assert any("member.update" in line for line in admin["audit"]), admin["audit"]
    assert "pending" in admin["invited"] and web_clinic.newcomer.email in admin["notice"]


def test_an_invited_person_accepts_and_gets_the_worklist(
    report: dict[str, Any], web_clinic: WebClinic
) -> None:
    invitee = step(report, "invitee")
    assert "Web test clinic as clinician" in invitee["offered"]
    assert "Web test clinic" in invitee["header"] and "clinician" in invitee["header"]


def test_an_uploader_sees_statuses_but_is_denied_the_review(
    report: dict[str, Any], web_clinic: WebClinic
) -> None:
    uploader = step(report, "uploader")
    assert "for clinicians and admins" in uploader["denied"]
    assert not uploader["trace"] and not uploader["audio"]
    assert uploader["links"] == [], "no review or patient links for uploaders"
    assert all(web_clinic.patient_id in row["text"] for row in uploader["worklist"])
    assert all("Ada" not in row["text"] for row in uploader["worklist"])
    # and the API refuses the uploader the media links the page would need
    links = httpx.post(
        f"{web_clinic.api_url}/v1/clinics/{CLINIC}/recordings/{web_clinic.recordings['heart']}/links",
        headers=bearer(web_clinic.uploader.uid),
    )
    assert links.status_code == 403


def test_no_console_errors_during_the_suite(report: dict[str, Any]) -> None:
    assert report["consoleErrors"] == []


def test_suite_time(report: dict[str, Any]) -> None:
    assert report["suiteS"] < 180


def test_worklist_pages_through_a_thousand_recordings(web_clinic: WebClinic) -> None:
    """1,000 recordings: the first page paints from one indexed query of 50, and "Older" pages on
    with a cursor. The paint time is printed (bench/web_worklist.py measures it on its own)."""
    from backend.clients import firestore_client

    seeded = seed_worklist(firestore_client(), CLINIC, web_clinic.patient_id, 1000)
    paint = run_browser(plan_for(web_clinic, mode="paint", repeats=3))["steps"]["paint"]
    assert paint["ok"], paint.get("error")
    assert paint["rows"] == 50 and paint["secondPageRows"] == 50
    newest_seeded = [r for r in paint["firstPageIds"] if r.startswith("rec_seed")]
    assert newest_seeded == seeded[: len(newest_seeded)], "newest first"
    assert paint["secondPageFirst"] not in paint["firstPageIds"]
    assert "51–100" in paint["status"]
    print(f"\nworklist first paint with 1,000 recordings: {sorted(paint['reloadsMs'])} ms")
