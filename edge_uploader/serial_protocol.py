"""The framed PCM protocol of USB-serial (CDC) stethoscopes (docs/serial-protocol.md).

Every frame is `SYNC (4 bytes) | type (1) | length (2, LE) | body (length) | CRC32C (4, LE)`, the
CRC covering type, length and body. A HEADER frame (sample rate, bit depth, channels) starts the
stream; AUDIO frames carry a 32-bit sequence number and interleaved little-endian PCM samples; an
END frame closes it. The reader resynchronises on SYNC after damage and counts corrupted frames
(CRC mismatch) and dropped frames (gaps in the sequence), filling dropped audio with silence so
timing is preserved.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from edge_uploader.checksums import crc32c_value

SYNC = b"\xa5\x5aST"
HEADER, AUDIO, END = 0x01, 0x02, 0x03
MAX_BODY = 4096
_PREFIX = struct.Struct("<BH")  # type, length
_HEADER_BODY = struct.Struct("<IBB")  # rate, bits, channels
_SEQUENCE = struct.Struct("<I")
#: Silence filled for one gap is capped at this much audio: a jump of the 32-bit sequence number
#: by billions (a device reset, a repeated frame read as a huge gap) must not allocate terabytes.
MAX_GAP_S = 2.0


class ByteSource(Protocol):
    def read(self, size: int = 1) -> bytes: ...


class ProtocolError(Exception):
    """The stream cannot be read (no header, unsupported format, ended early)."""


@dataclass(frozen=True)
class StreamFormat:
    sample_rate_hz: int
    bits: int  # 16 or 24
    channels: int

    @property
    def frame_bytes(self) -> int:
        return self.bits // 8 * self.channels


@dataclass
class Capture:
    """What was read: the samples (frames x channels, float32) and what went wrong on the way."""

    format: StreamFormat
    samples: npt.NDArray[np.float32]
    frames_received: int = 0
    frames_dropped: int = 0
    frames_corrupted: int = 0
    frames_repeated: int = 0  # sequence numbers seen before (or late): dropped
    problems: list[str] = field(default_factory=list)


def encode_frame(frame_type: int, body: bytes) -> bytes:
    if len(body) > MAX_BODY:
        raise ValueError(f"frame body of {len(body)} bytes exceeds {MAX_BODY}")
    prefix = _PREFIX.pack(frame_type, len(body))
    crc = crc32c_value(prefix + body)
    return SYNC + prefix + body + struct.pack("<I", crc)


def encode_header(fmt: StreamFormat) -> bytes:
    return encode_frame(HEADER, _HEADER_BODY.pack(fmt.sample_rate_hz, fmt.bits, fmt.channels))


def encode_audio(sequence: int, pcm: bytes) -> bytes:
    return encode_frame(AUDIO, _SEQUENCE.pack(sequence & 0xFFFFFFFF) + pcm)


def encode_end() -> bytes:
    return encode_frame(END, b"")


def to_pcm(samples: npt.NDArray[np.floating], bits: int) -> bytes:
    """Float samples in [-1, 1] (frames x channels) to interleaved little-endian PCM."""
    scaled = np.clip(samples, -1.0, 1.0 - 2.0 ** (1 - bits)) * 2.0 ** (bits - 1)
    ints = np.round(scaled).astype("<i4")
    if bits == 16:
        pcm16: bytes = ints.astype("<i2").tobytes()
        return pcm16
    pcm24: bytes = ints.reshape(-1, 1).view(np.uint8)[:, :3].tobytes()
    return pcm24


def from_pcm(pcm: bytes, fmt: StreamFormat) -> npt.NDArray[np.float32]:
    """Interleaved little-endian PCM to float32 frames x channels."""
    width = fmt.bits // 8
    usable = len(pcm) - len(pcm) % fmt.frame_bytes
    raw = np.frombuffer(pcm[:usable], dtype=np.uint8).reshape(-1, width)
    if width == 2:
        ints = raw.view("<i2").reshape(-1).astype(np.int32)
    else:
        padded = np.zeros((len(raw), 4), dtype=np.uint8)
        padded[:, 1:] = raw
        ints = padded.view("<i4").reshape(-1) >> 8
    values = (ints / 2.0 ** (fmt.bits - 1)).astype(np.float32)
    return values.reshape(-1, fmt.channels)


def iter_frames(source: ByteSource, stats: Capture | None = None) -> Iterator[tuple[int, bytes]]:
    """(type, body) of every intact frame; damaged ones are counted in `stats` and skipped."""
    window = b""
    while True:
        byte = source.read(1)
        if not byte:
            return
        window = (window + byte)[-len(SYNC) :]
        if window != SYNC:
            continue
        window = b""
        prefix = _read_exactly(source, _PREFIX.size)
        if prefix is None:
            return
        frame_type, length = _PREFIX.unpack(prefix)
        if length > MAX_BODY:
            if stats is not None:
                stats.frames_corrupted += 1
            continue
        rest = _read_exactly(source, length + 4)
        if rest is None:
            return
        body, crc = rest[:length], struct.unpack("<I", rest[length:])[0]
        if crc32c_value(prefix + body) != crc:
            if stats is not None:
                stats.frames_corrupted += 1
            continue
        yield frame_type, body


def read_capture(source: ByteSource, max_seconds: float | None = None) -> Capture:
    """Read a stream up to its END frame, or until `max_seconds` of audio have arrived."""
    capture: Capture | None = None
    pending = Capture(StreamFormat(0, 16, 1), np.zeros((0, 1), np.float32))
    chunks: list[npt.NDArray[np.float32]] = []
    expected: int | None = None
    collected = 0
    max_frames: int | None = None
    for frame_type, body in iter_frames(source, pending):
        if frame_type == HEADER:
            rate, bits, channels = _HEADER_BODY.unpack(body[: _HEADER_BODY.size])
            if bits not in (16, 24) or not 1 <= channels <= 8 or rate < 1000:
                raise ProtocolError(
                    f"unsupported stream: {rate} Hz, {bits} bit, {channels} channels"
                )
            if capture is None:
                capture = Capture(
                    StreamFormat(rate, bits, channels), np.zeros((0, channels), np.float32)
                )
                if max_seconds is not None:
                    max_frames = round(max_seconds * rate)
        elif frame_type == AUDIO and capture is not None:
            sequence = _SEQUENCE.unpack(body[: _SEQUENCE.size])[0]
            audio = from_pcm(body[_SEQUENCE.size :], capture.format)
            if expected is not None and sequence != expected:
                gap = (sequence - expected) & 0xFFFFFFFF
                if gap >= 1 << 31:  # behind the stream: a repeated or late frame
                    capture.frames_repeated += 1
                    continue
                capture.frames_dropped += gap
                cap = max(1, int(MAX_GAP_S * capture.format.sample_rate_hz / max(len(audio), 1)))
                filled = min(gap, cap)
                chunks.append(np.zeros((filled * len(audio), capture.format.channels), np.float32))
                collected += filled * len(audio)
                note = "" if filled == gap else f" (silence filled for {MAX_GAP_S:g} s only)"
                capture.problems.append(f"{gap} frame(s) lost before frame {sequence}{note}")
            expected = (sequence + 1) & 0xFFFFFFFF
            capture.frames_received += 1
            chunks.append(audio)
            collected += len(audio)
            if max_frames is not None and collected >= max_frames:
                break
        elif frame_type == END:
            break
    if capture is None:
        raise ProtocolError("no stream header received from the device")
    capture.frames_corrupted = pending.frames_corrupted
    if capture.frames_repeated:
        capture.problems.append(
            f"{capture.frames_repeated} repeated or out-of-order frame(s) dropped"
        )
    if capture.frames_corrupted:
        capture.problems.append(
            f"{capture.frames_corrupted} corrupted frame(s) discarded (CRC mismatch)"
        )
    samples = (
        np.concatenate(chunks) if chunks else np.zeros((0, capture.format.channels), np.float32)
    )
    capture.samples = samples[:max_frames] if max_frames is not None else samples
    return capture


def _read_exactly(source: ByteSource, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = source.read(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data
