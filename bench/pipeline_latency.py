"""Upload-to-result latency and throughput of the pipeline on the local stack.

    python bench/pipeline_latency.py [--count 50]

Starts the local stack (emulators, functions under functions-framework, the storage-event
relay), uploads a 30 s heart recording and measures the time from the object's creation (server
clock) to `analyzed` being visible in Firestore (polled every 20 ms); then uploads `--count`
recordings in a row and reports the throughput. Target: <= 3 s for the 30 s recording.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "functions")]

from scripts.stack import BUCKET, LocalStack  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50)
    args = parser.parse_args()
    with LocalStack(auth=False) as stack:
        os.environ.update(stack.env)
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import firestore, storage

        from tests.helpers import heart_wav, object_metadata, seed_recording

        db = firestore.Client(project=stack.env["GOOGLE_CLOUD_PROJECT"])
        anonymous = AnonymousCredentials()  # type: ignore[no-untyped-call]
        bucket = storage.Client(project="demo-stethoscope", credentials=anonymous).bucket(BUCKET)
        data = heart_wav(30.0, 72.0)

        def upload(name: str) -> datetime:
            seed_recording(db, "bench", name)
            blob = bucket.blob(f"recordings/bench/{name}.wav")
            blob.metadata = object_metadata()
            blob.upload_from_string(data, content_type="audio/wav")
            blob.reload()
            return blob.time_created

        def analysed_at(name: str, timeout_s: float = 120.0) -> datetime:
            ref = db.document(f"clinics/bench/recordings/{name}")
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                snapshot = ref.get()
                if snapshot.get("status") == "analyzed":
                    return snapshot.get("analyzedAt")
                time.sleep(0.02)
            raise TimeoutError(name)

        latencies = []
        for i in range(5):
            created = upload(f"single{i}")
            latencies.append((analysed_at(f"single{i}") - created).total_seconds())
        print(
            "30 s heart recording, upload complete -> analyzed in Firestore: median "
            f"{statistics.median(latencies):.2f} s (min {min(latencies):.2f}, "
            f"max {max(latencies):.2f}; 5 runs, server clocks; the first includes a cold start)"
        )

        started = time.monotonic()
        names = [f"batch{i}" for i in range(args.count)]
        for name in names:
            upload(name)
        for name in names:
            analysed_at(name)
        took = time.monotonic() - started
        print(
            f"{args.count} recordings in a row: {took:.1f} s from the first upload to the last result"
            f" ({args.count / took:.1f} recordings/s; one local function instance, sequential relay)"
        )


if __name__ == "__main__":
    main()
