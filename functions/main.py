"""Cloud Functions entry points: thin wrappers around tested modules (see backend/).

Every deployed function imports this whole file, so it imports only what every function needs;
the analysis stack (numpy, scipy, soundfile) and the API (FastAPI) are imported on first use.
Options (region, bucket, memory) come from params and `set_global_options`, not literals.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

from deploy_options import FUNCTIONS_REGION, LINK_SECRET, RECORDINGS_BUCKET
from firebase_functions import https_fn, scheduler_fn, storage_fn, tasks_fn
from firebase_functions.options import MemoryOption, RateLimits, RetryConfig, set_global_options

from backend.clients import init_firebase_admin
from backend.settings import get_settings

# One BLAS thread (numpy is imported later, on first use): an instance analyses one recording
# at a time on one vCPU, and OpenBLAS would otherwise start a thread per core it sees, which spin
# on that CPU quota — on a 2-core machine they cut the heart analysis from ~1700x to ~800x real
# time per CPU second (bench/eval_heart.py). An operator's own setting wins.
for _blas_threads in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_blas_threads, "1")

get_settings().check_production_safety()  # refuse emulator-token mode on Google Cloud
init_firebase_admin()
set_global_options(region=FUNCTIONS_REGION, max_instances=20)

if (_framework := sys.modules.get("functions_framework")) is not None:  # served by it (platform)
    from backend.api.wsgi import not_found_problem

    _framework.errorhandler(404)(not_found_problem)  # paths its router cannot match


@storage_fn.on_object_finalized(
    bucket=RECORDINGS_BUCKET, memory=MemoryOption.GB_1, cpu=1, concurrency=1, timeout_sec=300
)
def analyze_recording(event: storage_fn.CloudEvent[storage_fn.StorageObjectData]) -> None:
    """An object was finalized: analyse it if it is recordings/{clinic}/{id}.wav or .flac."""
    from backend.pipeline import process_storage_event

    process_storage_event(event.data)


@scheduler_fn.on_schedule(
    schedule="every 5 minutes", memory=MemoryOption.GB_1, cpu=1, timeout_sec=540
)
def sweep_recordings(event: scheduler_fn.ScheduledEvent) -> None:
    """Re-drive failed analyses whose retry time has come and analyses whose run died."""
    from backend.sweeper import sweep

    sweep()


@tasks_fn.on_task_dispatched(
    retry_config=RetryConfig(max_attempts=5, min_backoff_seconds=30),
    rate_limits=RateLimits(max_concurrent_dispatches=10),
    memory=MemoryOption.GB_1,
    cpu=1,
    timeout_sec=300,
)
def reanalysis(req: tasks_fn.CallableRequest[Any]) -> None:
    """One queued re-analysis (bulk re-analysis enqueues one task per recording)."""
    from backend.reanalysis import reanalyze_from_task

    reanalyze_from_task(req.data)


_wsgi_app: Any = None
_wsgi_lock = threading.Lock()


def _api_wsgi() -> Any:
    """The FastAPI app behind a WSGI adapter, built lazily in each process: an a2wsgi adapter
    created at import time (in the gunicorn master) hangs every request in the forked worker."""
    global _wsgi_app
    if _wsgi_app is None:
        with _wsgi_lock:
            if _wsgi_app is None:
                from a2wsgi import ASGIMiddleware

                from backend.api.app import create_app

                _wsgi_app = ASGIMiddleware(create_app())
    return _wsgi_app


@https_fn.on_request(
    memory=MemoryOption.GB_1, cpu=1, concurrency=40, timeout_sec=120, secrets=[LINK_SECRET]
)
def api(req: https_fn.Request) -> https_fn.Response:
    """The HTTPS API (FastAPI): upload slots, recordings, re-analysis, reports, FHIR, members."""
    from backend.api.wsgi import buffer_chunked_body

    environ = buffer_chunked_body(req.environ, get_settings().max_body_bytes)
    return https_fn.Response.from_app(_api_wsgi(), environ)
