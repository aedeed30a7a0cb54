"""Errors as RFC 9457 problem details (`application/problem+json`) with a stable `code`."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from backend.logs import log
from backend.paging import PageStartGoneError

PROBLEM_JSON = "application/problem+json"


class Problem(BaseModel):
    """RFC 9457 problem details, plus `code` (stable, machine-readable) and field `errors`."""

    type: str = "about:blank"
    title: str
    status: int
    code: str
    detail: str | None = None
    errors: list[dict[str, Any]] | None = None


class ApiError(Exception):
    """Raise from a route to answer with a problem document."""

    def __init__(self, status: int, code: str, title: str, detail: str | None = None) -> None:
        super().__init__(f"{status} {code}: {detail or title}")
        self.status, self.code, self.title, self.detail = status, code, title, detail


def not_found(what: str = "resource") -> ApiError:
    return ApiError(404, "not_found", "Not found", f"No such {what}.")


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        problem.model_dump(exclude_none=True),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(PageStartGoneError)
    async def page_start_gone(request: Request, exc: PageStartGoneError) -> JSONResponse:
        return problem_response(
            Problem(
                title="Invalid page token",
                status=422,
                code="invalid_page_token",
                detail="The page token names nothing that still exists; start again without "
                "pageToken.",
            )
        )

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return problem_response(
            Problem(title=exc.title, status=exc.status, code=exc.code, detail=exc.detail), headers
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "loc": list(e.get("loc", ())),
                "msg": str(e.get("msg", "")),
                "type": str(e.get("type", "")),
            }
            for e in exc.errors()
        ]
        return problem_response(
            Problem(
                title="Invalid request",
                status=422,
                code="validation_error",
                detail="See errors.",
                errors=errors,
            )
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}
        code = codes.get(exc.status_code, "http_error")
        return problem_response(
            Problem(
                title=str(exc.detail), status=exc.status_code, code=code, detail=str(exc.detail)
            )
        )

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log(
            "api_error",
            severity="ERROR",
            message=f"{type(exc).__name__}: {exc}",
            path=request.url.path,
        )
        return problem_response(
            Problem(
                title="Internal error", status=500, code="internal", detail="The error was logged."
            )
        )
