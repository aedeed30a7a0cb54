"""Swagger UI and ReDoc for the API, served from the assets of the `fastapi-offline` package.

FastAPI's own pages load their scripts from a CDN (a blank page offline, in a clinic network or
behind a strict CSP) and point at an absolute `/v1/openapi.json` (wrong once the function is served
under a URL prefix, e.g. `…/api/v1/docs`). These pages use URLs relative to themselves, so they
work offline and under any prefix.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"
ASSETS = "docs-assets"  # under the API prefix, next to openapi.json


def install_docs(app: FastAPI, prefix: str) -> None:
    """`{prefix}/docs` (Swagger UI) and `{prefix}/redoc`, with their assets under `{prefix}/`."""
    app.mount(f"{prefix}/{ASSETS}", StaticFiles(directory=ASSETS_DIR), name="docs-assets")

    @app.get(f"{prefix}/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="openapi.json",  # relative: {prefix}/openapi.json under any URL prefix
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon.png",
        )

    @app.get(f"{prefix}/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url="openapi.json",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS}/favicon.png",
            with_google_fonts=False,
        )
