"""The API's Swagger UI and ReDoc work offline and under a URL prefix: loaded in a real headless
Chromium (Debian's package; .ci/run installs it) from a server that mounts the API under
`/api`, the way a function URL or a Hosting rewrite puts a prefix in front of it. The machine has
no internet, so a page that needed a CDN would render nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount

from backend.api.app import create_app
from backend.settings import Settings
from scripts.emulators import free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#: Outside CI a developer without Chromium is told so; in CI (which installs it) it must run.
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="needs a headless Chromium (apt-get install chromium; .ci/run installs it)",
)


@pytest.fixture(scope="module")
def prefixed_api() -> Iterator[str]:
    """The API app mounted under /api, served by uvicorn on a free port."""
    app = Starlette(routes=[Mount("/api", app=create_app(Settings()))])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/v1/healthz").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.mark.parametrize("page", ["docs", "redoc"])
def test_doc_pages_use_only_local_relative_assets(prefixed_api: str, page: str) -> None:
    html = httpx.get(f"{prefixed_api}/v1/{page}").text
    assert "cdn." not in html and "https://" not in html.replace("https://fastapi", "")
    for asset in ("docs-assets/favicon.png",) + (
        ("docs-assets/swagger-ui-bundle.js", "docs-assets/swagger-ui.css")
        if page == "docs"
        else ("docs-assets/redoc.standalone.js",)
    ):
        assert asset in html
        served = httpx.get(f"{prefixed_api}/v1/{asset}")
        assert served.status_code == 200 and len(served.content) > 1000, asset


CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=15000",
    "--dump-dom",
]


def _rendered_dom(url: str) -> str:
    """The page's DOM after Chromium ran its scripts (a virtual 15 s budget)."""
    assert CHROMIUM is not None
    done = subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, url], capture_output=True, text=True, timeout=120, check=True
    )
    return done.stdout


@needs_chromium
def test_swagger_ui_renders_the_api_in_a_browser_under_a_prefix(prefixed_api: str) -> None:
    dom = _rendered_dom(f"{prefixed_api}/v1/docs")
    assert "Failed to load API definition" not in dom
    assert "opblock" in dom, "Swagger UI rendered no operation"
    assert "/v1/clinics/{clinic_id}/recordings" in dom


@needs_chromium
def test_redoc_renders_the_api_in_a_browser_under_a_prefix(prefixed_api: str) -> None:
    dom = _rendered_dom(f"{prefixed_api}/v1/redoc")
    assert "Digital stethoscope API" in dom
    assert "/v1/clinics/{clinic_id}/recordings" in dom
