"""The allocator setting (stethoscope.allocator): set once, never in the way."""

from __future__ import annotations

import subprocess
import sys

from stethoscope.allocator import reuse_freed_memory


def test_set_once_per_process() -> None:
    first = reuse_freed_memory()
    assert isinstance(first, bool)
    assert reuse_freed_memory() is first


def test_glibc_tunables_in_the_environment_take_precedence() -> None:
    code = "from stethoscope.allocator import reuse_freed_memory; print(reuse_freed_memory())"
    env = {"MALLOC_TRIM_THRESHOLD_": "131072", "PATH": "", "PYTHONPATH": ":".join(sys.path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "False"
