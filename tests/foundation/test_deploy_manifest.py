"""The deploy manifest exactly as the firebase CLI discovers it, and the production guard.

The CLI runs firebase_functions/private/serving.py in functions/ and reads the YAML that
`get_functions()` + `functions_as_yaml()` produce; we make the same two calls in a fresh
interpreter (params and global options are process-wide state).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
GEN1_CPU = {
    128: 0.0833,
    256: 0.1666,
    512: 0.3333,
    1024: 0.5833,
    2048: 1,
    4096: 2,
    8192: 2,
    16384: 4,
    32768: 8,
}


def clean_env(**extra: str) -> dict[str, str]:
    drop = (
        "FIRESTORE_EMULATOR_HOST",
        "STORAGE_EMULATOR_HOST",
        "FIREBASE_AUTH_EMULATOR_HOST",
        "K_SERVICE",
    )
    return {**{k: v for k, v in os.environ.items() if k not in drop}, **extra}


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    code = (
        "from firebase_functions.private.serving import get_functions, functions_as_yaml;"
        "print(functions_as_yaml(get_functions()))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=FUNCTIONS,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    loaded: dict[str, Any] = yaml.safe_load(done.stdout)
    return loaded


def test_functions_and_triggers(manifest: dict[str, Any]) -> None:
    assert manifest["specVersion"] == "v1alpha1"
    endpoints = manifest["endpoints"]
    assert set(endpoints) == {
        "analyze_recording",
        "api",
        "sweep_recordings",
        "reanalysis",
    }
    assert endpoints["analyze_recording"]["eventTrigger"] == {
        "eventType": "google.cloud.storage.object.v1.finalized",
        "eventFilters": {"bucket": "{{ params.RECORDINGS_BUCKET }}"},
        "retry": False,
    }
    assert endpoints["api"]["httpsTrigger"] == {}
    # the media-link key comes from Secret Manager, into the API only
    assert endpoints["api"]["secretEnvironmentVariables"] == [{"key": "STETH_LINK_SECRET"}]
    assert not endpoints["analyze_recording"]["secretEnvironmentVariables"]
    assert endpoints["sweep_recordings"]["scheduleTrigger"]["schedule"] == "every 5 minutes"
    assert endpoints["reanalysis"]["taskQueueTrigger"]["retryConfig"]["maxAttempts"] == 5


def test_task_queue_ids_are_valid_cloud_tasks_queue_ids(manifest: dict[str, Any]) -> None:
    """Cloud Tasks names a task function's queue after the function; a queue id may hold only
    letters, digits and hyphens (1-100 characters), so `reanalyze_recording_task` could never be
    deployed. The backend enqueues on the name in its settings: the two must agree."""
    import re

    from backend.settings import Settings

    queues = [k for k, v in manifest["endpoints"].items() if "taskQueueTrigger" in v]
    assert queues, "the manifest has a task-queue function"
    for queue in queues:
        assert re.fullmatch(r"[A-Za-z0-9-]{1,100}", queue), queue
    assert Settings().reanalyze_task_function in queues
    assert {p["name"] for p in manifest["params"]} == {
        "RECORDINGS_BUCKET",
        "FUNCTIONS_REGION",
        "STETH_LINK_SECRET",
    }
    region = next(p for p in manifest["params"] if p["name"] == "FUNCTIONS_REGION")
    assert region["default"] == "europe-west1"


@pytest.mark.parametrize(
    ("name", "memory_mb", "timeout_s", "concurrency"),
    [
        ("analyze_recording", 1024, 300, 1),
        ("api", 1024, 120, 40),
        ("sweep_recordings", 1024, 540, None),
        ("reanalysis", 1024, 300, None),
    ],
)
def test_region_memory_timeout_concurrency(
    manifest: dict[str, Any], name: str, memory_mb: int, timeout_s: int, concurrency: int | None
) -> None:
    endpoint = manifest["endpoints"][name]
    assert endpoint["region"] == ["{{ params.FUNCTIONS_REGION }}"]
    assert endpoint["availableMemoryMb"] == memory_mb
    assert endpoint["timeoutSeconds"] == timeout_s
    assert endpoint["concurrency"] == concurrency
    assert endpoint["platform"] == "gcfv2"
    assert endpoint["maxInstances"] == 20


def test_concurrency_above_one_comes_with_a_whole_cpu(manifest: dict[str, Any]) -> None:
    """firebase-tools rejects concurrency > 1 with less than one vCPU (and gcf_gen1 is the default)."""
    for name, endpoint in manifest["endpoints"].items():
        memory = endpoint.get("availableMemoryMb") or 256
        cpu = endpoint.get("cpu")
        cpu = GEN1_CPU[memory] if cpu == "gcf_gen1" else (cpu or 1)
        assert (endpoint.get("concurrency") or 1) == 1 or cpu >= 1, name


def test_emulator_tokens_are_refused_on_google_cloud() -> None:
    """With FIREBASE_AUTH_EMULATOR_HOST set, firebase-admin accepts unsigned tokens: the functions
    must refuse to load on Cloud Functions (K_SERVICE set), and load in the Functions emulator."""
    unsafe = clean_env(K_SERVICE="api", FIREBASE_AUTH_EMULATOR_HOST="127.0.0.1:9099")
    done = subprocess.run(
        [sys.executable, "-c", "import main"],
        cwd=FUNCTIONS,
        env=unsafe,
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0 and "UnsafeEnvironmentError" in done.stderr
    emulated = {**unsafe, "FUNCTIONS_EMULATOR": "true"}
    subprocess.run(
        [sys.executable, "-c", "import main"],
        cwd=FUNCTIONS,
        env=emulated,
        check=True,
        capture_output=True,
    )
    production = clean_env(K_SERVICE="api")
    subprocess.run(
        [sys.executable, "-c", "import main"],
        cwd=FUNCTIONS,
        env=production,
        check=True,
        capture_output=True,
    )


def test_main_imports_no_numeric_stack() -> None:
    """Every function imports main.py on a cold start; numpy/scipy/matplotlib/FastAPI wait until used."""
    code = (
        "import sys, main;"
        "heavy = [m for m in ('numpy', 'scipy', 'soundfile', 'matplotlib', 'fastapi') if m in sys.modules];"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], cwd=FUNCTIONS, env=clean_env(), check=True)


def test_main_pins_numeric_libraries_to_one_thread() -> None:
    """The analysis runs one recording per one-vCPU instance: main.py sets BLAS/OpenMP to one
    thread before numpy loads (threads per visible core halved the CPU-second throughput here)."""
    env = {
        k: v
        for k, v in clean_env().items()
        if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    }
    code = (
        "import main, numpy;"
        "from threadpoolctl import threadpool_info;"
        "pools = threadpool_info();"
        "assert pools and all(p['num_threads'] == 1 for p in pools), pools"
    )
    subprocess.run([sys.executable, "-c", code], cwd=FUNCTIONS, env=env, check=True)
