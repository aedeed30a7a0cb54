"""The WSGI side of the API function: a chunked request body is read to its end before the ASGI
adapter sees the request, and a path the functions-framework router cannot match is answered
with a problem document rather than its HTML 404.

a2wsgi passes `CONTENT_LENGTH` bytes of `wsgi.input` to FastAPI; a chunked body has no length, so
FastAPI saw an empty body (422 "Field required") and the unread chunks were left on the keep-alive
connection, where they broke the next request. gunicorn (as on the platform) decodes the chunks
and ends `wsgi.input` at the last one (`wsgi.input_terminated`), so reading it is safe; at most
`max_bytes + 1` bytes are read (the size limit then answers 413).
"""

from __future__ import annotations

import io
import json
from typing import Any


def buffer_chunked_body(environ: dict[str, Any], max_bytes: int) -> dict[str, Any]:
    """`environ` with a chunked body replaced by the same bytes and a Content-Length."""
    if "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return environ
    body = environ["wsgi.input"].read(max_bytes + 1)
    buffered = dict(environ)
    buffered["wsgi.input"] = io.BytesIO(body)
    buffered["CONTENT_LENGTH"] = str(len(body))
    buffered.pop("HTTP_TRANSFER_ENCODING", None)
    return buffered


def not_found_problem(error: Exception) -> Any:
    """functions-framework's Flask router answers paths it cannot route itself, before the API
    sees them: `/<path:path>` does not match a path holding a line feed (`%0A`), which got
    Flask's HTML 404. Registered as its 404 handler (`functions_framework.errorhandler`), this
    answers those, like every API error, as `application/problem+json`."""
    from werkzeug.wrappers import Response

    problem = {
        "type": "about:blank",
        "title": "Not found",
        "status": 404,
        "code": "not_found",
        "detail": "No such route: check the path (it may hold a control character).",
    }
    return Response(json.dumps(problem), status=404, content_type="application/problem+json")
