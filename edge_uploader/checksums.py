"""CRC32C (Castagnoli), as Cloud Storage computes it, through google-crc32c's C implementation."""

from __future__ import annotations

import base64
from pathlib import Path

import google_crc32c


def crc32c_value(data: bytes) -> int:
    value: int = google_crc32c.value(data)
    return value


def crc32c_base64(data: bytes) -> str:
    """Big-endian digest in base64: the form of the `crc32c` field of a GCS object."""
    return base64.b64encode(crc32c_value(data).to_bytes(4, "big")).decode()


def file_crc32c_base64(path: Path) -> str:
    checksum = google_crc32c.Checksum()  # type: ignore[no-untyped-call]
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            checksum.update(block)  # type: ignore[no-untyped-call]
    digest: bytes = checksum.digest()  # type: ignore[no-untyped-call]
    return base64.b64encode(digest).decode()
