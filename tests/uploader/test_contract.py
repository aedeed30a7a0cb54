"""The upload-slot request is one model for the uploader and the API (steth_contract), and the
uploader gets it without any cloud import (DESIGN §4: it talks to the cloud only over HTTP)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from steth_contract import UploadSlotRequest

REPO = Path(__file__).resolve().parents[2]


def test_the_api_validates_with_the_model_the_uploader_sends() -> None:
    from backend.api import schemas

    assert schemas.UploadSlotRequest is UploadSlotRequest


def test_wire_form_is_camel_case_without_absent_fields() -> None:
    request = UploadSlotRequest.model_validate(
        {
            "client_recording_id": "20261202T120000-abc",
            "patient_id": "pat_1",
            "site": "mitral",
            "kind": "heart",
            "recorded_at": datetime(2026, 12, 2, 12, tzinfo=UTC),
            "size_bytes": 1000,
            "device_id": "laptop-1",
            "crc32c": "AAAAAA==",
            "exam_id": None,
            "format": "flac",
        }
    )
    wire = request.to_wire()
    assert wire == {
        "clientRecordingId": "20261202T120000-abc",
        "patientId": "pat_1",
        "site": "mitral",
        "kind": "heart",
        "recordedAt": "2026-12-02T12:00:00Z",
        "sizeBytes": 1000,
        "deviceId": "laptop-1",
        "crc32c": "AAAAAA==",
        "format": "flac",
    }
    assert UploadSlotRequest.model_validate(wire) == request  # what the API parses back


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("patient_id", "a/b"),
        ("site", "aortic-ish"),
        ("recorded_at", datetime(1970, 1, 1, tzinfo=UTC)),
    ],
)
def test_details_the_server_would_refuse_are_refused_on_the_laptop(
    field: str, value: object
) -> None:
    good = {
        "client_recording_id": "x1",
        "patient_id": "p1",
        "site": "mitral",
        "kind": "heart",
        "recorded_at": datetime(2026, 12, 2, tzinfo=UTC),
        "size_bytes": 1000,
        "device_id": "d1",
    }
    UploadSlotRequest.model_validate(good)
    with pytest.raises(ValidationError):
        UploadSlotRequest.model_validate({**good, field: value})


def test_the_uploader_imports_no_cloud_code() -> None:
    code = (
        "import sys, edge_uploader.cli, edge_uploader.uploader;"
        "cloud = sorted({m.split('.')[0] for m in sys.modules"
        " if m.split('.')[0] in ('backend', 'firebase_admin', 'fastapi', 'main')"
        " or m.startswith('google.cloud.')});"
        "assert not cloud, cloud"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
