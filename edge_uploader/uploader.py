"""Draining the outbox: upload slots from the API, resumable uploads, CRC32C verification.

Every step is journaled before the next, so a killed process resumes where it stopped: an
interrupted upload asks its session for the committed offset (`Content-Range: bytes */N`) and
continues from there; an expired session gets a fresh slot for the same recording (the slot
request is idempotent on the outbox item id). Transient failures (network, 5xx, 408, 429) are
retried with capped exponential backoff and jitter; other 4xx are permanent: the item is marked
failed with the server's message and its audio is kept.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial

import httpx
from pydantic import ValidationError

from edge_uploader.checksums import file_crc32c_base64
from edge_uploader.config import UploaderConfig
from edge_uploader.outbox import NOT_ON_SERVER, ExamState, Item, Outbox, State
from steth_contract import UploadSlotRequest

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
ATTEMPTS_PER_STEP = 5


class PermanentError(Exception):
    """Retrying will not help (bad request, refused, corrupted local file)."""


class TransientError(Exception):
    """Try again later (offline, server busy). `delivered` is False when the request provably
    never reached the server (the connection was refused)."""

    def __init__(self, message: str, *, delivered: bool = True) -> None:
        super().__init__(message)
        self.delivered = delivered


class SessionExpiredError(Exception):
    """The resumable upload session is gone: ask for a new slot."""


@dataclass
class SyncReport:
    verified: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # transient problem; will retry
    expired: list[str] = field(default_factory=list)
    exams_completed: list[str] = field(default_factory=list)
    exams_failed: list[str] = field(default_factory=list)
    exams_waiting: list[str] = field(default_factory=list)  # not on the server yet (offline)


ProgressCallback = Callable[[Item, int], None]


class Uploader:
    def __init__(
        self,
        config: UploaderConfig,
        outbox: Outbox,
        token: Callable[[], str],
        *,
        progress: ProgressCallback | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.outbox = outbox
        self.token = token
        self.progress = progress
        self.sleep = sleep
        self.http = httpx.Client(timeout=httpx.Timeout(60.0, connect=10.0))

    def close(self) -> None:
        self.http.close()

    def sync(self) -> SyncReport:
        """One pass: exams started here are created on the server, pending items are uploaded
        oldest first, exams whose takes are all up are completed; old verified audio expires."""
        report = SyncReport()
        try:
            self._create_exams(report)
        except TransientError:
            report.exams_waiting.extend(e.id for e in self.outbox.exams(*NOT_ON_SERVER))
            return report  # offline: nothing else would go through either
        waiting_exams = {e.id for e in self.outbox.exams(*NOT_ON_SERVER, ExamState.FAILED)}
        for item in self.outbox.pending():
            if item.exam_id in waiting_exams:
                continue  # its exam is not on the server (yet)
            try:
                self._process(item)
            except PermanentError as exc:
                self.outbox.update(item.id, state=State.FAILED, last_error=str(exc))
                report.failed.append(item.id)
            except TransientError as exc:
                self.outbox.update(item.id, attempts=item.attempts + 1, last_error=str(exc))
                report.waiting.append(item.id)
                break  # offline or overloaded: the remaining items would fail the same way
            else:
                report.verified.append(item.id)
        if not report.waiting:
            try:
                self._complete_exams(report)
            except TransientError:
                report.exams_waiting.extend(e.id for e in self.outbox.exams(ExamState.COMPLETING))
        report.expired = [
            i.id for i in self.outbox.expire(timedelta(days=self.config.retention_days))
        ]
        return report

    def _exams_url(self, exam_id: str) -> str:
        return f"{self.config.clinic_api()}/exams/{exam_id}"

    def _create_exams(self, report: SyncReport) -> None:
        """PUT each exam started here (idempotent under its client-made id)."""
        for exam in self.outbox.exams(*NOT_ON_SERVER):
            body: dict[str, object] = {"patientId": exam.patient_id}
            if exam.protocol:
                body["protocol"] = exam.protocol
            else:
                body["sites"] = exam.sites
            url = self._exams_url(exam.id)
            response = self._send(partial(self.http.put, url, json=body, headers=self._auth()))
            if response.status_code in (200, 201):
                recorded = exam.state == ExamState.NEW_COMPLETE
                self.outbox.set_exam_state(
                    exam.id, ExamState.COMPLETING if recorded else ExamState.CREATED
                )
            else:
                self.outbox.set_exam_state(exam.id, ExamState.FAILED, _problem(response))
                report.exams_failed.append(exam.id)

    def _complete_exams(self, report: SyncReport) -> None:
        """Complete exams whose every take is uploaded (or given up)."""
        for exam in self.outbox.exams(ExamState.COMPLETING):
            takes = self.outbox.exam_items(exam.id)
            if any(t.state not in (State.VERIFIED, State.DONE, State.FAILED) for t in takes):
                continue
            url = f"{self._exams_url(exam.id)}:complete"
            response = self._send(partial(self.http.post, url, headers=self._auth()))
            if response.status_code == 200:
                self.outbox.set_exam_state(exam.id, ExamState.COMPLETED)
                report.exams_completed.append(exam.id)
            else:
                self.outbox.set_exam_state(exam.id, ExamState.FAILED, _problem(response))
                report.exams_failed.append(exam.id)

    def _process(self, item: Item) -> None:
        if not item.file.exists():
            raise PermanentError("the local audio file is missing")
        if file_crc32c_base64(item.file) != item.crc32c:
            raise PermanentError(
                "the local audio file changed after it was recorded (CRC32C mismatch)"
            )
        for _ in range(3):  # a session may expire between the slot and the upload
            if item.state == State.QUEUED or (
                item.upload_url is None and item.recording_id is None
            ):
                item = self._request_slot(item)
            if item.upload_url is None:  # an earlier run finished the upload
                self._verify(item)
                return
            try:
                self._upload(item)
            except SessionExpiredError:
                item = self.outbox.update(
                    item.id,
                    state=State.QUEUED,
                    upload_url=None,
                    offset_bytes=0,
                    inflight_offset=None,
                )
                continue
            self._verify(item)
            return
        raise TransientError("upload sessions keep expiring")

    def _request_slot(self, item: Item) -> Item:
        """Register the take: the body is the API's own request model, checked here first, so a
        take the server would refuse for its details is refused (and fixable) before any upload."""
        try:
            request = UploadSlotRequest.model_validate(
                {
                    "client_recording_id": item.id,
                    "patient_id": item.patient_id,
                    "site": item.site,
                    "kind": item.kind,
                    "recorded_at": item.recorded_at,
                    "size_bytes": item.size_bytes,
                    "device_id": self.config.device_id,
                    "crc32c": item.crc32c,
                    "exam_id": item.exam_id,
                    "format": _audio_format(item),
                }
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "the take"
            raise PermanentError(
                f"{field}: {first['msg']}; `steth-upload fix` corrects the take's details"
            ) from exc
        body = request.to_wire()
        url = f"{self._clinic_url(item)}/recordings"
        response = self._send(lambda: self.http.post(url, json=body, headers=self._auth()))
        if response.status_code not in (200, 201):
            raise PermanentError(f"upload slot refused: {_problem(response)}")
        slot = response.json()
        return self.outbox.update(
            item.id,
            state=State.SLOT_REQUESTED,
            recording_id=slot["recordingId"],
            upload_url=slot["uploadUrl"],
            offset_bytes=0,
        )

    def _upload(self, item: Item) -> None:
        assert item.upload_url is not None
        url = item.upload_url
        offset = item.offset_bytes if item.state == State.UPLOADING else 0
        if item.inflight_offset is not None:
            # the last run died while a chunk was on the wire: ask the session what it kept
            offset, complete = self._committed(url, item.size_bytes)
            if complete:
                return
        item = self.outbox.update(
            item.id, state=State.UPLOADING, offset_bytes=offset, inflight_offset=None
        )
        with item.file.open("rb") as handle:
            while offset < item.size_bytes:
                started = time.monotonic()
                handle.seek(offset)
                chunk = handle.read(self.config.chunk_bytes)
                last = offset + len(chunk) - 1
                headers = {
                    "Content-Range": f"bytes {offset}-{last}/{item.size_bytes}",
                    "Content-Type": f"audio/{_audio_format(item)}",
                }
                self.outbox.update(item.id, inflight_offset=offset)
                try:
                    response = self._send(
                        partial(self.http.put, url, content=chunk, headers=headers)
                    )
                except TransientError as exc:
                    if not exc.delivered:  # nothing reached the server: the journal is exact
                        self.outbox.update(item.id, inflight_offset=None)
                    raise
                if response.status_code in (404, 410):
                    raise SessionExpiredError
                if response.status_code in (200, 201):
                    self.outbox.update(item.id, offset_bytes=item.size_bytes, inflight_offset=None)
                    self._report(item, item.size_bytes)
                    return
                if response.status_code != 308:
                    raise PermanentError(
                        f"upload refused: HTTP {response.status_code} {response.text[:200]}"
                    )
                offset = _committed_end(response)
                item = self.outbox.update(item.id, offset_bytes=offset, inflight_offset=None)
                self._report(item, offset)
                self._throttle(len(chunk), time.monotonic() - started)
        raise TransientError(f"the session did not complete after {item.size_bytes} bytes")

    def _throttle(self, sent_bytes: int, took_s: float) -> None:
        """Keep under `max_bytes_per_s`, so a clinic's uplink stays usable while draining."""
        if self.config.max_bytes_per_s:
            wait = sent_bytes / self.config.max_bytes_per_s - took_s
            if wait > 0:
                self.sleep(wait)

    def _committed(self, url: str, size: int) -> tuple[int, bool]:
        """Ask the session how many bytes it has committed (`Content-Range: bytes */size`), and
        whether the upload is already complete."""
        response = self._send(
            partial(self.http.put, url, content=b"", headers={"Content-Range": f"bytes */{size}"})
        )
        if response.status_code in (200, 201):
            return size, True
        if response.status_code in (404, 410):
            raise SessionExpiredError
        if response.status_code == 308:
            return _committed_end(response), False
        raise PermanentError(f"upload session refused: HTTP {response.status_code}")

    def _verify(self, item: Item) -> None:
        """Compare the stored object's size and CRC32C, as the API reads them from Cloud Storage,
        with the local file's."""
        url = f"{self._clinic_url(item)}/recordings/{item.recording_id}/object"
        response = self._send(lambda: self.http.get(url, headers=self._auth()))
        if response.status_code == 404:
            raise TransientError("the upload is not visible on the server yet")
        if response.status_code != 200:
            raise PermanentError(f"cannot check the upload: {_problem(response)}")
        stored = response.json()
        if (stored["crc32c"], stored["sizeBytes"]) != (item.crc32c, item.size_bytes):
            raise PermanentError(
                f"the stored copy differs from the local file (CRC32C {stored['crc32c']} vs "
                f"{item.crc32c}, {stored['sizeBytes']} vs {item.size_bytes} bytes)"
            )
        self.outbox.update(
            item.id,
            state=State.VERIFIED,
            upload_url=None,
            last_error=None,
            verified_at=datetime.now(UTC).isoformat(),
        )

    def _send(self, request: Callable[[], httpx.Response]) -> httpx.Response:
        """Run a request, retrying transient failures with capped exponential backoff + jitter."""
        delay = 0.5
        for attempt in range(1, ATTEMPTS_PER_STEP + 1):
            delivered = True
            try:
                response = request()
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
                delivered = not isinstance(exc, httpx.ConnectError)
            else:
                if response.status_code not in RETRYABLE_STATUS:
                    return response
                problem = f"HTTP {response.status_code}"
            if attempt == ATTEMPTS_PER_STEP:
                raise TransientError(problem, delivered=delivered)
            self.sleep(min(delay, self.config.max_backoff_s) * random.uniform(0.5, 1.5))
            delay *= 2
        raise AssertionError("unreachable")

    def _clinic_url(self, item: Item) -> str:
        """The API base of the clinic the take was recorded for (older takes: the configured)."""
        return self.config.clinic_api(item.clinic_id)

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token()}"}

    def _report(self, item: Item, offset: int) -> None:
        if self.progress is not None:
            self.progress(item, offset)


def _audio_format(item: Item) -> str:
    """flac or wav, from the take's file name."""
    return "flac" if item.file.suffix.lower() == ".flac" else "wav"


def _committed_end(response: httpx.Response) -> int:
    """The session's committed byte count from a 308's `Range: bytes=0-N` (none yet: 0)."""
    value = response.headers.get("Range")
    if not value:
        return 0
    return int(value.rsplit("-", 1)[1]) + 1


def _problem(response: httpx.Response) -> str:
    """The server's problem document in one line, naming the fields it refused."""
    try:
        body = response.json()
        detail = body.get("detail") or body.get("title")
        errors = body.get("errors") or []
    except (ValueError, AttributeError):
        return f"HTTP {response.status_code}"
    fields = [
        f"{'.'.join(str(p) for p in e.get('loc', [])[1:])}: {e.get('msg', '')}" for e in errors
    ]
    if fields:
        detail = "; ".join(fields)
    return f"HTTP {response.status_code} {body.get('code')}: {detail}"
