"""The web app's contract with the backend, checked without a browser: its TypeScript types are
generated from the current Pydantic models (a renamed field fails here until regenerated, then
fails the web build where the app uses the old name), every worklist query has its composite
index, and Firebase Hosting serves the build with the API same-origin."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node (the Makefile installs it)")
def test_generated_web_types_are_current() -> None:
    done = subprocess.run(
        ["node", "web/scripts/gen-types.mjs", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr + "\nrun: npm run gen:types"


def test_firestore_types_use_the_sdk_timestamp() -> None:
    text = (REPO / "web/src/types/firestore.gen.ts").read_text()
    assert 'import type { Timestamp } from "firebase/firestore"' in text
    assert "recordedAt: Timestamp | null;" in text and "createdAt: Timestamp;" in text
    api = (REPO / "web/src/types/api.gen.ts").read_text()
    assert "recordedAt: string | null;" in api, "API bodies carry ISO strings"


def test_every_worklist_filter_combination_has_a_composite_index() -> None:
    """web/src/views/worklist.ts: equality on any of patientId, status, kind, ordered by
    createdAt (descending), optionally a createdAt range. Production refuses a query without its
    index (the emulator does not), so each combination must be in firestore.indexes.json."""
    indexes = json.loads((REPO / "firestore.indexes.json").read_text())["indexes"]
    have = {
        (i["collectionGroup"], tuple((f["fieldPath"], f["order"]) for f in i["fields"]))
        for i in indexes
        if i["queryScope"] == "COLLECTION"
    }
    for collection in ("recordings", "exams"):
        for n in (1, 2, 3):
            for combo in itertools.combinations(("patientId", "status", "kind"), n):
                fields = (*((f, "ASCENDING") for f in combo), ("createdAt", "DESCENDING"))
                assert (collection, fields) in have, (collection, fields)


def test_hosting_serves_the_build_and_rewrites_the_api_same_origin() -> None:
    hosting = json.loads((REPO / "firebase.json").read_text())["hosting"]
    assert hosting["public"] == "web/dist"
    rewrites = hosting["rewrites"]
    assert rewrites[0] == {
        "source": "/v1/**",
        "function": {"functionId": "api", "region": "europe-west1"},
    }
    assert rewrites[-1] == {"source": "**", "destination": "/index.html"}
    assert "\ndef api(" in (REPO / "functions/main.py").read_text(), "the rewrite's function"
