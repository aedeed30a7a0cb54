"""The FastAPI application: routes under /v1, auth on every route but the health check and the
OpenAPI document, problem+json errors, CORS and size limits from the settings."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.concurrency import run_in_threadpool

from backend.api.auth import Caller, current_caller, memberships_of
from backend.api.docs import install_docs
from backend.api.limits import BodySizeLimit
from backend.api.problems import install_problem_handlers
from backend.api.request_ids import RequestIdMiddleware
from backend.api.routes import (
    audit,
    exams,
    invitations,
    members,
    outputs,
    patients,
    recordings,
)
from backend.api.schemas import Health, Me
from backend.settings import Settings, get_settings
from stethoscope.version import ANALYSIS_VERSION

API_PREFIX = "/v1"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="Digital stethoscope API",
        version="1.0.0",
        summary="Upload slots, recordings, re-analysis, reports and FHIR: heart and lung sounds.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # served from local assets by install_docs
        redoc_url=None,
    )
    install_problem_handlers(app)
    install_docs(app, API_PREFIX)
    for module in (recordings, outputs, patients, exams, members, invitations, audit):
        app.include_router(module.router, prefix=API_PREFIX)

    @app.get(f"{API_PREFIX}/me", response_model=Me, tags=["members"])
    async def me(caller: Annotated[Caller, Depends(current_caller)]) -> Me:
        """The caller, the clinics they are a member of (with their role in each) and the
        pending invitations of their email address."""
        return await run_in_threadpool(memberships_of, caller)

    @app.get(f"{API_PREFIX}/healthz", response_model=Health, tags=["health"])
    def healthz() -> Health:
        """Liveness: no authentication, no backend calls."""
        return Health(status="ok", analysis_version=ANALYSIS_VERSION)

    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(settings.cors_origins),
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=["Authorization", "Content-Type", "Range", "X-Request-Id"],
        expose_headers=["Content-Range", "Accept-Ranges", "X-Request-Id"],
        max_age=600,
    )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestIdMiddleware)
    return app
