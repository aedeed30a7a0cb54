"""Recording objects in Cloud Storage: streamed reads, create-only upload sessions, playback.

The original object is never modified or deleted by the backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, BinaryIO

from backend.clients import storage_client
from backend.objects import StoredObject
from backend.settings import get_settings

if TYPE_CHECKING:
    from google.api_core.retry import Retry
    from google.cloud.storage import Blob

#: Read size for streaming a recording into the decoder (ranged GETs of this many bytes).
READ_CHUNK_BYTES = 1024 * 1024


def _retry() -> Retry:
    """The client's default retry (transient errors, backoff), bounded by the settings: a storage
    outage ends as a stored `failed` for the sweeper, not as a function timing out."""
    from google.cloud.storage.retry import DEFAULT_RETRY

    retry: Retry = DEFAULT_RETRY.with_timeout(get_settings().storage_retry_s)
    return retry


def open_for_reading(bucket: str, name: str, generation: int) -> BinaryIO:
    """A seekable reader over one generation of an object, fetching 1 MiB ranges on demand, so a
    large recording is streamed into the decoder instead of being held twice in memory."""
    blob = storage_client().bucket(bucket).blob(name, generation=generation)
    blob.reload(retry=_retry())  # the reader would otherwise fetch the size with an unbounded retry
    reader: BinaryIO = blob.open("rb", chunk_size=READ_CHUNK_BYTES, retry=_retry())
    return reader


def stored_object(bucket: str, name: str, generation: int | None = None) -> StoredObject | None:
    """The object's current facts (for re-driving an analysis), or None if it is gone."""
    blob = storage_client().bucket(bucket).get_blob(name, generation=generation, retry=_retry())
    if blob is None:
        return None
    return StoredObject(
        bucket=bucket,
        name=name,
        generation=int(blob.generation),
        size=int(blob.size),
        content_type=blob.content_type,
        crc32c=blob.crc32c,
        metadata=dict(blob.metadata or {}),
        time_created=blob.time_created,
    )


def create_upload_session(
    bucket: str, name: str, size_bytes: int, metadata: dict[str, str], origin: str | None = None
) -> str:
    """A create-only resumable upload session: fixed size, the media type of the name (WAV or
    FLAC), the recording's custom metadata, and `ifGenerationMatch=0` so it can never overwrite
    an existing recording. The URL is the only credential the uploader needs."""
    from backend.objects import content_type

    blob: Blob = storage_client().bucket(bucket).blob(name)
    blob.metadata = metadata
    url: str = blob.create_resumable_upload_session(
        content_type=content_type(name), size=size_bytes, origin=origin, if_generation_match=0
    )
    return url


def read_bytes(bucket: str, name: str, generation: int | None = None) -> bytes:
    """The whole object (reports and playback of recordings, which are bounded in size)."""
    blob = storage_client().bucket(bucket).blob(name, generation=generation)
    data: bytes = blob.download_as_bytes(checksum="crc32c")
    return data
