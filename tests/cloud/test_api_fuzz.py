"""Property-based fuzzing of every API route from its own OpenAPI document (schemathesis), with a
valid admin token, through the `api` function's WSGI app: whatever is sent, no 5xx comes back.
(Problem documents for 4xx are checked route by route in test_api.py; paths the
functions-framework router in front of the app cannot match, e.g. holding `%0A`, are answered as
problem documents too: test_api_hardening.py, through the test client and the real server.)"""

from __future__ import annotations

import zlib

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from backend.api.app import create_app
from backend.settings import Settings

from ..tokens import bearer
from .conftest import World

pytestmark = pytest.mark.emulators


# The document is static: generate it from the app, offline; requests go to the live WSGI app.
schema = schemathesis.openapi.from_dict(create_app(Settings()).openapi())


@schema.parametrize()
@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: schemathesis.Case, world: World) -> None:
    # half the cases target the clinic the token belongs to, so routes get past the role check
    if (
        "clinic_id" in (case.path_parameters or {})
        and zlib.crc32(repr(case.path_parameters).encode()) % 2
    ):
        case.path_parameters["clinic_id"] = "c1"
    response = case.call(app=world.client.application, headers=bearer("u-admin"))
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
    )
