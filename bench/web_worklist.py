"""First meaningful paint of the web app's worklist with 1,000 recordings, and the bundle size.

    python bench/web_worklist.py [--count 1000] [--repeats 5]

Starts the local stack and the web app (scripts/web.py, as `make dev`), seeds a clinic with
`--count` analysed recordings, signs a clinician in with Debian's Chromium (tests/web/browser.mjs,
playwright-core) and reloads the worklist `--repeats` times: the figure is the time from
navigation start to the first page of rows on screen (the app's `worklist-painted` mark).
Also prints the gzipped size of the app's bundle and of the Firebase SDK chunk. Target: < 1.5 s.
Needs `make web` first (the Makefile's bench target does it).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "functions")]

from scripts.stack import PROJECT_ID, LocalStack  # noqa: E402
from scripts.web import WEB_DIST, WebServer, config_for  # noqa: E402

PASSWORD = "bench-password-1"


def bundle_sizes() -> dict[str, int]:
    """Gzipped bytes of each built asset group: the app (JS + CSS) and the Firebase SDK chunk."""
    sizes = {"app": 0, "firebase": 0}
    for asset in (WEB_DIST / "assets").iterdir():
        if asset.suffix not in (".js", ".css"):
            continue
        group = "firebase" if asset.name.startswith("firebase-") else "app"
        sizes[group] += len(gzip.compress(asset.read_bytes(), compresslevel=9))
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    sizes = bundle_sizes()
    print(
        f"bundle (gzip): app {sizes['app'] / 1024:.1f} kB, Firebase SDK {sizes['firebase'] / 1024:.1f} kB"
    )
    with LocalStack() as stack:
        os.environ.update(stack.env)
        import httpx

        from backend.clients import firestore_client
        from backend.documents import Clinic, Member
        from tests.helpers import seed_worklist

        assert stack.auth is not None and stack.api is not None
        signed_up = httpx.post(
            f"http://{stack.auth.host}/identitytoolkit.googleapis.com/v1/accounts:signUp",
            params={"key": "local-dev-key"},
            json={"email": "bench@web.clinic", "password": PASSWORD, "returnSecureToken": True},
        ).json()
        uid = signed_up["localId"]
        db = firestore_client()
        now = datetime.now(UTC)
        db.document("clinics/bench").set(Clinic(name="Bench clinic", created_at=now).to_firestore())
        db.document(f"clinics/bench/members/{uid}").set(
            Member(role="clinician", uid=uid, email="bench@web.clinic", added_at=now).to_firestore()
        )
        seed_worklist(db, "bench", "pat_bench", args.count)
        with WebServer(stack.api.url, config_for(stack.env, PROJECT_ID)) as web:
            out = Path(tempfile.mkdtemp(prefix="web-bench-"))
            plan = {
                "mode": "paint",
                "repeats": args.repeats,
                "baseUrl": web.url,
                "chromium": shutil.which("chromium") or "/usr/bin/chromium",
                "outDir": str(out),
                "clinician": {"email": "bench@web.clinic", "password": PASSWORD},
            }
            (out / "plan.json").write_text(json.dumps(plan))
            subprocess.run(
                ["node", str(REPO / "tests/web/browser.mjs"), str(out / "plan.json")],
                check=True,
                cwd=REPO,
                timeout=300,
            )
            paint = json.loads((out / "report-paint.json").read_text())["steps"]["paint"]
    if not paint["ok"]:
        raise SystemExit(paint["error"])
    reloads = paint["reloadsMs"]
    print(f"worklist with {args.count} recordings: first page of {paint['rows']} rows painted")
    print(f"  sign-in click -> rows on screen: {paint['signInMs']:.0f} ms")
    print(
        f"  reload -> rows on screen (navigation start): median {statistics.median(reloads):.0f} ms,"
        f" max {max(reloads):.0f} ms over {len(reloads)} (target < 1500 ms)"
    )


if __name__ == "__main__":
    main()
