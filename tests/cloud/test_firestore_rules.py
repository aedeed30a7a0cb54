"""firestore.rules through the Firebase JS SDK (@firebase/rules-unit-testing) against the emulator.

The matrix itself is tests/rules/firestore.rules.test.mjs (node's test runner); this test runs it
and fails with its report if any case fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ..conftest import Emulators, unavailable

REPO = Path(__file__).resolve().parents[2]
SUITE = REPO / "tests/rules/firestore.rules.test.mjs"
MIN_CASES = 40

pytestmark = pytest.mark.emulators


def test_firestore_rules_matrix(emulators: Emulators) -> None:
    node = shutil.which("node")
    if node is None or not (REPO / "node_modules/@firebase/rules-unit-testing").exists():
        unavailable("node and the npm packages (run `npm ci`) are needed for the rules tests")
    done = subprocess.run(
        [node, "--test", "--test-reporter=tap", str(SUITE)],
        cwd=REPO,
        env={**os.environ, "FIRESTORE_EMULATOR_HOST": emulators.firestore.host},
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = done.stdout + done.stderr
    passed = int(re.search(r"^# pass (\d+)", report, re.MULTILINE).group(1))  # type: ignore[union-attr]
    failed = int(re.search(r"^# fail (\d+)", report, re.MULTILINE).group(1))  # type: ignore[union-attr]
    assert done.returncode == 0 and failed == 0, report[-6000:]
    assert passed >= MIN_CASES, f"only {passed} rule cases ran"
    emulators.firestore.wipe()
