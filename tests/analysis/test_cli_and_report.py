"""The `python -m stethoscope` command line and the report figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from stethoscope.analysis import analyze_detailed
from stethoscope.cli import main
from stethoscope.report import render_report
from stethoscope.simulate import simulate_heart, simulate_lung

from .conftest import WavWriter

REPO = Path(__file__).resolve().parents[2]


def test_summary_json_and_plot(
    write_wav: WavWriter, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_wav(simulate_heart(10.0, 66.0, 4000.0, seed=1).samples, 4000)
    assert main(["analyze", str(path)]) == 0
    text = capsys.readouterr().out
    assert "Heart rate" in text and "66 bpm" in text

    figure = tmp_path / "out.png"
    assert main(["analyze", str(path), "--json", "--plot", str(figure)]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["kind"] == "heart" and abs(payload["heart"]["heart_rate_bpm"] - 66) <= 5
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_lung_kind_and_pdf(
    write_wav: WavWriter, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_wav(simulate_lung(20.0, 18.0, 4000.0, wheeze_hz=400.0).samples, 4000)
    figure = tmp_path / "lung.pdf"
    assert main(["analyze", str(path), "--kind", "lung", "--plot", str(figure)]) == 0
    assert "Respiratory rate" in capsys.readouterr().out
    assert figure.read_bytes()[:5] == b"%PDF-"


def test_bad_file_exits_2_with_the_error_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00")
    assert main(["analyze", str(bad)]) == 2
    assert "[not_audio]" in capsys.readouterr().err
    assert main(["analyze", str(tmp_path / "missing.wav")]) == 2


def test_module_entry_point(write_wav: WavWriter) -> None:
    path = write_wav(simulate_heart(6.0, 80.0, 4000.0).samples, 4000)
    done = subprocess.run(
        [sys.executable, "-m", "stethoscope", "analyze", str(path), "--json"],
        capture_output=True,
        text=True,
        cwd=REPO / "functions",
        check=True,
    )
    assert json.loads(done.stdout)["heart"]["heart_rate_bpm"] > 0


@pytest.mark.parametrize("fmt,magic", [("png", b"\x89PNG"), ("pdf", b"%PDF")])
def test_report_renders_heart_and_lung(fmt: str, magic: bytes) -> None:
    heart = simulate_heart(12.0, 75.0, 4000.0, murmur="systolic", seed=3)
    lung = simulate_lung(20.0, 15.0, 4000.0, crackles_per_breath=3, seed=3)
    for detailed in (
        analyze_detailed(heart.samples, 4000.0, "heart"),
        analyze_detailed(lung.samples, 4000.0, "lung"),
    ):
        data = render_report(detailed, fmt)  # type: ignore[arg-type]
        assert data.startswith(magic) and len(data) > 10_000
        assert len(data) < 1_000_000, "the spectrogram is an image, not a vector per cell"


def test_core_imports_no_cloud_package_and_no_numpy_on_import() -> None:
    # (`google` and `google.cloud` themselves are namespace packages that site .pth files create
    # at start-up; what matters is that no client library is imported.)
    code = (
        "import sys, stethoscope; assert 'numpy' not in sys.modules, 'numpy imported eagerly';"
        "import stethoscope.analysis, stethoscope.report;"
        "cloud = ('google.cloud.', 'google.auth', 'google.api_core', 'firebase_admin',"
        " 'firebase_functions', 'fastapi', 'backend');"
        "bad = [m for m in sys.modules if m.startswith(cloud)];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO / "functions", check=True)
