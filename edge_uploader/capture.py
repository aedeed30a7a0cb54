"""Getting a take from a stethoscope: USB Audio Class (PortAudio), USB serial, a file, or simulated.

Every source returns float32 samples (frames x channels) at the device's native rate; `check_take`
runs the analysis core's quality assessment on it so the clinician can re-record on the spot.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import soundfile as sf

from edge_uploader.serial_protocol import Capture, ProtocolError, read_capture
from stethoscope import AnalysisInputError, analyze
from stethoscope.result import Quality

LevelCallback = Callable[[float], None]


class CaptureError(Exception):
    """No take could be captured (device missing, stream broken)."""


@dataclass
class Take:
    samples: npt.NDArray[np.float32]  # frames x channels
    sample_rate_hz: int
    source: str
    problems: list[str] = field(default_factory=list)

    def wav_bytes(self) -> bytes:
        return self.encoded("wav")

    def encoded(self, audio_format: str = "flac") -> bytes:
        """The take as 16-bit FLAC (lossless, about half the bytes of WAV) or WAV."""
        buffer = io.BytesIO()
        container = "FLAC" if audio_format == "flac" else "WAV"
        sf.write(buffer, self.samples, self.sample_rate_hz, format=container, subtype="PCM_16")
        return buffer.getvalue()


@dataclass(frozen=True)
class InputDevice:
    name: str
    kind: str  # "usb-audio" or "serial"
    channels: int
    sample_rates_hz: tuple[int, ...]
    address: str  # PortAudio device index or serial port path


def list_devices() -> tuple[list[InputDevice], list[str]]:
    """Candidate stethoscopes, and notes about what could not be listed."""
    devices: list[InputDevice] = []
    notes: list[str] = []
    try:
        import sounddevice

        for index, info in enumerate(sounddevice.query_devices()):
            if info["max_input_channels"] <= 0:
                continue
            rates = tuple(
                r
                for r in (4000, 8000, 16000, 22050, 44100, 48000)
                if _supports(sounddevice, index, r)
            )
            devices.append(
                InputDevice(
                    info["name"], "usb-audio", info["max_input_channels"], rates, str(index)
                )
            )
    except (OSError, ImportError) as exc:  # PortAudio library missing
        notes.append(
            f"audio devices unavailable ({exc}); install PortAudio (Debian: libportaudio2)"
        )
    from serial.tools import list_ports

    for port in list_ports.comports():
        devices.append(InputDevice(port.description or port.device, "serial", 1, (), port.device))
    return devices, notes


def _supports(sounddevice: object, index: int, rate: int) -> bool:
    try:
        sounddevice.check_input_settings(device=index, samplerate=rate)  # type: ignore[attr-defined]
    except Exception:
        return False
    return True


def record_audio_device(
    device: str | None, seconds: float, on_level: LevelCallback | None = None
) -> Take:
    """Record from a USB Audio Class input at its native (default) rate, preferring >= 4 kHz."""
    try:
        import sounddevice
    except OSError as exc:
        raise CaptureError(
            f"PortAudio is not installed ({exc}); Debian: apt install libportaudio2"
        ) from exc
    selector: int | str | None = int(device) if device and device.isdigit() else device
    try:
        info = sounddevice.query_devices(selector, "input")
        rate = int(info["default_samplerate"])
        blocks: list[npt.NDArray[np.float32]] = []

        def on_block(
            data: npt.NDArray[np.float32], frames: int, when: object, status: object
        ) -> None:
            blocks.append(data.copy())
            if on_level is not None:
                on_level(float(np.sqrt(np.mean(np.square(data)))))

        with sounddevice.InputStream(
            device=selector, samplerate=rate, channels=1, dtype="float32", callback=on_block
        ):
            sounddevice.sleep(int(seconds * 1000))
    except (sounddevice.PortAudioError, ValueError) as exc:
        raise CaptureError(f"cannot record from {device or 'the default input'}: {exc}") from exc
    samples = np.concatenate(blocks) if blocks else np.zeros((0, 1), np.float32)
    return Take(samples, rate, f"usb-audio:{info['name']}")


def record_serial(port: str, seconds: float, baudrate: int = 921600) -> Take:
    """Record from a USB serial stethoscope speaking the framed PCM protocol."""
    import serial

    try:
        with serial.Serial(port, baudrate=baudrate, timeout=2.0) as connection:
            capture: Capture = read_capture(
                connection, max_seconds=seconds if seconds > 0 else None
            )
    except (serial.SerialException, ProtocolError) as exc:
        raise CaptureError(f"cannot read {port}: {exc}") from exc
    return Take(capture.samples, capture.format.sample_rate_hz, f"serial:{port}", capture.problems)


def simulated(kind: str, seconds: float, seed: int = 0, *, finding: bool = True) -> Take:
    """A synthetic take (the demo and tests): 4 kHz, like most electronic stethoscopes; with
    `finding`, a systolic murmur (heart) or a wheeze (lung)."""
    from stethoscope.simulate import simulate_heart, simulate_lung

    if kind == "heart":
        samples = simulate_heart(
            seconds,
            78.0,
            4000.0,
            murmur="systolic" if finding else None,
            murmur_level_db=-14.0,
            seed=seed,
        ).samples
    else:
        wheeze = 420.0 if finding else None
        samples = simulate_lung(seconds, 18.0, 4000.0, wheeze_hz=wheeze, seed=seed).samples
    return Take(samples.astype(np.float32).reshape(-1, 1), 4000, "simulated")


def check_take(take: Take, kind: str) -> Quality | str:
    """The analysis core's quality verdict, or a sentence saying why the take cannot be analysed."""
    try:
        return analyze(take.samples, take.sample_rate_hz, kind).quality  # type: ignore[arg-type]
    except AnalysisInputError as exc:
        return f"{exc.code}: {exc.message}"
