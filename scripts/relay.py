"""Dev/test glue: turn objects finalized on the local storage server into storage CloudEvents.

In production Eventarc delivers `google.cloud.storage.object.v1.finalized` to the function. Locally,
fake-gcs-server can only publish to a Pub/Sub emulator, so this relay polls the bucket listing,
and for every (object, generation) it has not seen POSTs the same structured CloudEvent the
platform sends to the function served by functions-framework. Delivery is at-least-once, like the
platform's: the function is idempotent.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
import urllib.request
from typing import Any

FINALIZED = "google.cloud.storage.object.v1.finalized"


def storage_cloudevent(bucket: str, resource: dict[str, Any]) -> dict[str, Any]:
    """The structured-mode CloudEvent for a GCS object resource (JSON API form)."""
    data = {
        "metageneration": "1",
        "storageClass": "STANDARD",
        "id": f"{bucket}/{resource['name']}/{resource['generation']}",
        **resource,
        "bucket": bucket,
        "size": str(resource.get("size", "0")),
        "generation": str(resource["generation"]),
    }
    return {
        "specversion": "1.0",
        "id": f"{bucket}/{resource['name']}/{resource['generation']}",
        "type": FINALIZED,
        "source": f"//storage.googleapis.com/projects/_/buckets/{bucket}",
        "subject": f"objects/{resource['name']}",
        "time": event_time(resource.get("updated") or resource.get("timeCreated")),
        "datacontenttype": "application/json",
        "data": data,
    }


def event_time(value: str | None) -> str:
    """RFC 3339 with 1-6 fractional digits (the Python SDK rejects none and nanoseconds)."""
    if not value:
        return "1970-01-01T00:00:00.000Z"
    match = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$", value)
    if not match:
        return value
    seconds, fraction, zone = match.groups()
    fraction = ((fraction or "") + "000")[:6]
    return f"{seconds}.{fraction}{'Z' if zone in ('Z', '+00:00') else zone}"


class StorageEventRelay:
    """Poll `bucket` on the storage server at `storage_url`; deliver new objects to `target_url`."""

    def __init__(
        self,
        storage_url: str,
        bucket: str,
        target_url: str,
        prefix: str = "recordings/",
        interval_s: float = 0.1,
    ) -> None:
        self.storage_url = storage_url.rstrip("/")
        self.bucket = bucket
        self.target_url = target_url
        self.prefix = prefix
        self.interval_s = interval_s
        self.delivered: set[tuple[str, str]] = set()
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self) -> int:
        """Deliver every new (object, generation); returns how many were delivered."""
        sent = 0
        for resource in self._list_objects():
            key = (resource["name"], str(resource["generation"]))
            if key in self.delivered:
                continue
            try:
                self._post(storage_cloudevent(self.bucket, resource))
            except OSError as exc:  # function not up or failing: try again on the next poll
                self.errors.append(f"{key}: {exc}")
                continue
            self.delivered.add(key)
            sent += 1
        return sent

    def start(self) -> StorageEventRelay:
        self._thread = threading.Thread(target=self._run, name="storage-event-relay", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.poll_once()
            except OSError as exc:  # storage server restarting
                self.errors.append(str(exc))

    def _list_objects(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token = ""
        while True:
            query = {"prefix": self.prefix, "projection": "full"}
            if token:
                query["pageToken"] = token
            url = f"{self.storage_url}/storage/v1/b/{self.bucket}/o?{urllib.parse.urlencode(query)}"
            with urllib.request.urlopen(url, timeout=10) as response:
                page = json.loads(response.read())
            items.extend(page.get("items", []))
            token = page.get("nextPageToken", "")
            if not token:
                return items

    def _post(self, event: dict[str, Any]) -> None:
        request = urllib.request.Request(
            self.target_url,
            data=json.dumps(event).encode(),
            method="POST",
            headers={"Content-Type": "application/cloudevents+json"},
        )
        with urllib.request.urlopen(request, timeout=300) as response:
            response.read()


def main() -> None:
    """Relay to any CloudEvent endpoint, e.g. the Functions emulator's
    http://127.0.0.1:5001/functions/projects/<project>/trigger_multicast."""
    import argparse
    import time

    parser = argparse.ArgumentParser(description="storage finalize events from fake-gcs-server")
    parser.add_argument(
        "--storage", required=True, help="storage server URL, e.g. http://127.0.0.1:4443"
    )
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--target", required=True, help="URL that takes structured CloudEvents")
    args = parser.parse_args()
    relay = StorageEventRelay(args.storage, args.bucket, args.target).start()
    print(f"relaying finalized objects of gs://{args.bucket} to {args.target} (Ctrl-C stops)")
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        relay.stop()


if __name__ == "__main__":
    main()
