"""The clinician web app on the local stack: `web/dist` and the API under one origin.

Firebase Hosting serves `web/dist` and rewrites `/v1/**` to the `api` function (firebase.json), so
in production the app, its media links and the API share an origin. This server does the same on
127.0.0.1 for `make dev` and the browser tests: static files with the single-page fallback,
`/v1/**` proxied (streamed, Range requests included) to the API function, and `/config.json`
naming the emulators — the app reads it at start (on Hosting, `/__/firebase/init.json` instead).
It runs in a thread of the calling process, like the storage-event relay.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Self

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from scripts.emulators import REPO_ROOT, EmulatorStartError, StartStop, free_port

WEB_DIST = REPO_ROOT / "web/dist"
#: headers that describe one connection, not the message (RFC 9110 §7.6.1), plus Host
_HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "transfer-encoding", "upgrade", "host",
}  # fmt: skip


class WebAppNotBuiltError(RuntimeError):
    """`web/dist` has no build: `npm run build:web` (the Makefile's `web` target) makes it."""


def web_config(project_id: str, auth_host: str, firestore_host: str) -> dict[str, object]:
    """What the app reads from `/config.json` (web/src/config.ts): the emulators to connect to."""
    host, port = firestore_host.rsplit(":", 1)
    return {
        "firebase": {"projectId": project_id, "apiKey": "local-dev-key"},
        "apiBase": "",
        "emulators": {
            "auth": f"http://{auth_host}",
            "firestore": {"host": host, "port": int(port)},
        },
    }


def create_web_app(api_url: str, config: dict[str, object], dist: Path = WEB_DIST) -> Starlette:
    """The Starlette app: `/config.json`, `/v1/**` proxied to `api_url`, then the static files."""
    client: httpx.AsyncClient | None = None

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        nonlocal client
        client = httpx.AsyncClient(base_url=api_url, timeout=120)
        yield
        await client.aclose()

    async def config_json(request: Request) -> Response:
        return JSONResponse(config, headers={"Cache-Control": "no-store"})

    async def proxy(request: Request) -> Response:
        assert client is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        upstream = client.build_request(
            request.method,
            request.url.path,
            params=request.url.query or None,
            headers=headers,
            content=await request.body(),
        )
        answer = await client.send(upstream, stream=True)
        return StreamingResponse(
            answer.aiter_raw(),
            status_code=answer.status_code,
            headers={k: v for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP},
            background=BackgroundTask(answer.aclose),
        )

    async def static(request: Request) -> Response:
        relative = request.path_params["path"] or "index.html"
        target = (dist / relative).resolve()
        if dist.resolve() in target.parents and target.is_file():
            immutable = relative.startswith("assets/")
            cache = "public, max-age=31536000, immutable" if immutable else "no-cache"
            return FileResponse(target, headers={"Cache-Control": cache})
        return FileResponse(dist / "index.html", headers={"Cache-Control": "no-cache"})

    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    return Starlette(
        routes=[
            Route("/config.json", config_json),
            Route("/v1/{rest:path}", proxy, methods=methods),
            Route("/{path:path}", static),
        ],
        lifespan=lifespan,
    )


class WebServer(StartStop):
    """`create_web_app` under uvicorn in a daemon thread, on a free port of 127.0.0.1."""

    def __init__(self, api_url: str, config: dict[str, object], dist: Path = WEB_DIST) -> None:
        if not (dist / "index.html").is_file():
            raise WebAppNotBuiltError(
                f"{dist}/index.html is missing: build the web app with `npm run build:web` "
                "(or `make web`)."
            )
        self.port = free_port()
        self.app = create_web_app(api_url, config, dist)
        self._server = uvicorn.Server(
            uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._run, name="web-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise EmulatorStartError(f"the web server did not start on port {self.port}")
            time.sleep(0.05)
        return self

    def _run(self) -> None:
        asyncio.run(self._server.serve())

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


def config_for(stack_env: dict[str, str], project_id: str) -> dict[str, object]:
    """`web_config` from a LocalStack's environment."""
    return web_config(
        project_id, stack_env["FIREBASE_AUTH_EMULATOR_HOST"], stack_env["FIRESTORE_EMULATOR_HOST"]
    )


__all__ = ["WEB_DIST", "WebAppNotBuiltError", "WebServer", "config_for", "create_web_app"]
