"""The serial stethoscope protocol, read through pyserial from a simulated device on a pty pair."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from edge_uploader.capture import record_serial
from edge_uploader.cli import app
from edge_uploader.outbox import Outbox, State
from edge_uploader.serial_protocol import (
    StreamFormat,
    encode_audio,
    encode_end,
    encode_header,
    from_pcm,
    read_capture,
    to_pcm,
)
from stethoscope.simulate import simulate_heart

FORMAT = StreamFormat(sample_rate_hz=4000, bits=16, channels=1)
SAMPLES_PER_FRAME = 200


def device_stream(
    samples: np.ndarray,
    fmt: StreamFormat,
    *,
    drop: set[int] = frozenset(),
    corrupt: set[int] = frozenset(),
) -> bytes:  # type: ignore[assignment]
    """What a device sends: header, audio frames (some dropped or damaged on the wire), end."""
    out = bytearray(encode_header(fmt))
    for sequence, start in enumerate(range(0, len(samples), SAMPLES_PER_FRAME)):
        frame = bytearray(
            encode_audio(sequence, to_pcm(samples[start : start + SAMPLES_PER_FRAME], fmt.bits))
        )
        if sequence in drop:
            continue
        if sequence in corrupt:
            frame[20] ^= 0xFF
        out += frame
    out += encode_end()
    return bytes(out)


@pytest.fixture
def pty_device() -> Iterator[tuple[str, int]]:
    """A pseudo-terminal pair: the reader opens the slave path like a real /dev/ttyACM0."""
    import tty

    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        yield os.ttyname(slave), master
    finally:
        os.close(master)
        os.close(slave)


def feed(master: int, data: bytes) -> threading.Thread:
    """Send `data` like a device streaming after the port was opened (opening it with pyserial
    flushes whatever arrived before, as on real hardware)."""

    def write() -> None:
        time.sleep(0.5)
        os.set_blocking(master, False)
        start, stalled_since = 0, None
        while start < len(data):
            try:
                start += os.write(master, data[start : start + 512])
                stalled_since = None
            except BlockingIOError:  # the reader stopped (it had enough): give up after 2 s
                stalled_since = stalled_since or time.monotonic()
                if time.monotonic() - stalled_since > 2:
                    return
                time.sleep(0.01)
            except OSError:  # the test closed the pty
                return

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def samples(seconds: float = 3.0) -> np.ndarray:
    return simulate_heart(seconds, 80.0, 4000.0, seed=5).samples.reshape(-1, 1)


@pytest.mark.parametrize("bits", [16, 24])
def test_pcm_round_trip(bits: int) -> None:
    fmt = StreamFormat(8000, bits, 2)
    stereo = np.random.default_rng(0).uniform(-0.9, 0.9, (500, 2))
    decoded = from_pcm(to_pcm(stereo, bits), fmt)
    np.testing.assert_allclose(decoded, stereo, atol=2.0 ** (1 - bits))


def test_clean_capture_through_the_pty(pty_device: tuple[str, int]) -> None:
    port, master = pty_device
    audio = samples()
    writer = feed(master, device_stream(audio, FORMAT))
    take = record_serial(port, seconds=0)
    writer.join()
    assert take.sample_rate_hz == 4000 and take.problems == []
    np.testing.assert_allclose(take.samples, audio, atol=1 / 2**15)


def test_dropped_and_corrupted_frames_are_detected(pty_device: tuple[str, int]) -> None:
    port, master = pty_device
    audio = samples()
    writer = feed(master, device_stream(audio, FORMAT, drop={5, 6}, corrupt={20}))
    import serial

    with serial.Serial(port, timeout=2.0) as connection:
        capture = read_capture(connection)
    writer.join()
    assert capture.frames_corrupted == 1
    assert capture.frames_dropped == 3  # 5 and 6 lost, 20 discarded for its CRC
    assert any("corrupted" in p for p in capture.problems) and any(
        "lost" in p for p in capture.problems
    )
    assert len(capture.samples) == len(audio), "lost audio is filled with silence, timing is kept"
    assert np.all(capture.samples[5 * SAMPLES_PER_FRAME : 7 * SAMPLES_PER_FRAME] == 0)


def test_record_command_with_serial_device(pty_device: tuple[str, int], tmp_path: Path) -> None:
    port, master = pty_device
    writer = feed(master, device_stream(samples(12.0), FORMAT))
    result = CliRunner().invoke(
        app,
        [
            "record",
            "--patient",
            "p1",
            "--site",
            "mitral",
            "--seconds",
            "10",
            "--serial",
            port,
            "--no-upload",
            "--yes",
            "--outbox",
            str(tmp_path),
        ],
    )
    writer.join()
    assert result.exit_code == 0, result.output
    assert "quality" in result.output
    with Outbox(tmp_path) as box:
        [item] = box.all()
    assert item.state == State.QUEUED and item.site == "mitral"
    import soundfile as sf

    info = sf.info(item.file)
    assert info.samplerate == 4000 and abs(info.duration - 10.0) < 0.06


def test_repeated_frame_is_dropped_not_read_as_a_huge_gap() -> None:
    """A CRC-valid frame sent twice (same sequence number) once made the reader fill 2^32 - 1
    frames of silence (1.56 TiB). It is dropped and reported; the audio stays aligned."""
    import io

    audio = samples(1.0)
    frames = [
        encode_audio(i, to_pcm(audio[i * SAMPLES_PER_FRAME : (i + 1) * SAMPLES_PER_FRAME], 16))
        for i in range(len(audio) // SAMPLES_PER_FRAME)
    ]
    stream = encode_header(FORMAT) + b"".join(frames[:4]) + frames[3] + b"".join(frames[4:])
    capture = read_capture(io.BytesIO(stream + encode_end()))
    assert capture.frames_repeated == 1 and capture.frames_dropped == 0
    assert any("repeated" in p for p in capture.problems)
    np.testing.assert_allclose(capture.samples, audio, atol=1 / 2**15)


def test_a_jump_in_the_sequence_fills_bounded_silence_and_says_so() -> None:
    import io

    audio = samples(1.0)
    first = encode_audio(0, to_pcm(audio[:SAMPLES_PER_FRAME], 16))
    jumped = encode_audio(2**31 - 5, to_pcm(audio[SAMPLES_PER_FRAME : 2 * SAMPLES_PER_FRAME], 16))
    capture = read_capture(io.BytesIO(encode_header(FORMAT) + first + jumped + encode_end()))
    assert capture.frames_dropped == 2**31 - 6
    assert any("silence filled for" in p for p in capture.problems)
    assert len(capture.samples) <= (2 * SAMPLES_PER_FRAME + 2 * FORMAT.sample_rate_hz)
