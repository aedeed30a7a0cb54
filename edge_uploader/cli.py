"""`steth-upload` / `python -m edge_uploader`: record, queue and upload auscultations.

Exit codes: 0 done, 1 some recordings failed permanently, 2 usage, 3 not signed in,
4 offline or server unavailable (everything is kept and retried on the next sync), 5 the outbox
cannot be used (its folder is not writable; the message says what to do).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.live import Live
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from edge_uploader import auth
from edge_uploader.capture import (
    CaptureError,
    Take,
    check_take,
    list_devices,
    record_audio_device,
    record_serial,
    simulated,
)
from edge_uploader.config import UploaderConfig
from edge_uploader.outbox import PENDING, Item, Outbox, OutboxError, State
from edge_uploader.uploader import SyncReport, TransientError, Uploader

EXIT_FAILED, EXIT_AUTH, EXIT_OFFLINE, EXIT_OUTBOX = 1, 3, 4, 5
app = typer.Typer(help="Record heart and lung sounds and upload them safely.", no_args_is_help=True)
console = Console()

ApiUrl = Annotated[str | None, typer.Option(help="API base URL (env STETH_API_URL)")]
Clinic = Annotated[str | None, typer.Option(help="clinic id (env STETH_CLINIC)")]
OutboxDir = Annotated[
    Path | None, typer.Option("--outbox", help="outbox directory (env STETH_OUTBOX)")
]
Patient = Annotated[str, typer.Option(help="patient id (`steth-upload patients find` shows it)")]
SITES_HELP = (
    "auscultation site. heart: aortic, pulmonic, tricuspid, mitral. lung: trachea, or "
    "{anterior|posterior|lateral}-{left|right}-{upper|middle|lower}, e.g. posterior-left-lower"
)
Site = Annotated[str, typer.Option(help=SITES_HELP)]
Kind = Annotated[str, typer.Option(help="heart or lung")]


def _config(api_url: str | None, clinic: str | None, outbox: Path | None) -> UploaderConfig:
    return UploaderConfig.from_env(api_url=api_url, clinic_id=clinic, outbox_dir=outbox)


@contextlib.contextmanager
def _open_outbox(config: UploaderConfig) -> Iterator[Outbox]:
    """The outbox, with what opening it repaired said once; one clear line if it is unusable."""
    try:
        box = Outbox(config.outbox_dir)
    except OutboxError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(EXIT_OUTBOX) from exc
    found = box.reconciled
    if found.journal_moved_to is not None:
        console.print(
            f"[yellow]the outbox journal was damaged; it was moved to {found.journal_moved_to} "
            "and rebuilt from the recordings folder[/yellow]"
        )
    if found.requeued:
        console.print(
            f"[yellow]queued again {len(found.requeued)} take(s) found in the outbox "
            f"folder: {', '.join(found.requeued)}[/yellow]"
        )
    for item_id in found.without_details:
        console.print(
            f"[red]{item_id}: found without its details (patient, site, kind); see `status`[/red]"
        )
    with box:
        yield box


def _check_site(site: str, kind: str) -> None:
    """Refuse a site the server would refuse, before anything is recorded."""
    from stethoscope.sites import site_matches_kind

    if not site_matches_kind(site, kind):
        raise typer.BadParameter(
            f"{site!r} is not a {kind} site; {allowed_sites(kind)}", param_hint="--site"
        )


def allowed_sites(kind: str) -> str:
    """The sites of `kind` in a few words (the lung's 19 as their pattern)."""
    from stethoscope.sites import HEART_SITES

    if kind == "heart":
        return f"one of {', '.join(HEART_SITES)}"
    return "trachea or {anterior|posterior|lateral}-{left|right}-{upper|middle|lower}"


def _resolve_patient(config: UploaderConfig, patient: str | None, mrn: str | None) -> str:
    """The patient id to record for, checked with the server when it can be reached: a wrong
    id shows up now, not after the patient was recorded."""
    import httpx

    if (patient is None) == (mrn is None):
        raise typer.BadParameter("give --patient or --mrn", param_hint="--patient")
    base = f"{config.clinic_api()}/patients"
    try:
        headers = {"Authorization": f"Bearer {_token(config)}"}
        if mrn is not None:
            found = httpx.get(base, params={"mrn": mrn}, headers=headers, timeout=15)
            items = found.json().get("items", []) if found.status_code == 200 else []
            if not items:
                _fail_input(
                    f"no patient with record number {mrn} in clinic {config.clinic_id}; "
                    "check it, or ask a clinician to register the patient"
                )
            return str(items[0]["id"])
        assert patient is not None
        checked = httpx.get(f"{base}/{patient}", headers=headers, timeout=15)
        if checked.status_code in (404, 410, 422):
            _fail_input(
                f"no patient {patient} in clinic {config.clinic_id}; find the id with "
                "`steth-upload patients find --name …` or record with --mrn"
            )
    except (httpx.TransportError, TransientError):
        if mrn is not None:
            _fail_input(
                "record numbers are looked up on the server, which cannot be reached; "
                "record with --patient ID, or try again when online"
            )
        console.print(
            "[yellow]offline: the patient could not be checked now; the take is kept "
            "and checked when it is uploaded[/yellow]"
        )
    except auth.AuthError as exc:
        console.print(f"[yellow]{exc}; the patient is checked when the take is uploaded[/yellow]")
    return str(patient)


def _fail_input(message: str) -> NoReturn:
    console.print(f"[red]{message}[/red]")
    raise typer.Exit(2)


def _check_kind(kind: str) -> None:
    if kind not in ("heart", "lung"):
        raise typer.BadParameter("must be heart or lung", param_hint="--kind")


@app.command()
def login(
    email: Annotated[str, typer.Option(prompt=True)],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True)],
    outbox: OutboxDir = None,
) -> None:
    """Sign in (Firebase Authentication); the session is stored for this user only (0600)."""
    config = _config(None, None, outbox)
    try:
        session = auth.login(config, email, password)
    except auth.AuthError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(EXIT_AUTH) from exc
    console.print(f"signed in as [bold]{session.email}[/bold] ({session.uid})")


patients_app = typer.Typer(help="Find patients (by record number or name) to record them.")
app.add_typer(patients_app, name="patients")


@patients_app.command("find")
def find_patients(
    mrn: Annotated[str | None, typer.Option(help="medical record number (exact)")] = None,
    name: Annotated[str | None, typer.Option(help="the start of the name")] = None,
    api_url: ApiUrl = None,
    clinic: Clinic = None,
    outbox: OutboxDir = None,
) -> None:
    """Look up patients in the clinic; record one with --patient ID (or --mrn)."""
    import httpx

    if (mrn is None) == (name is None):
        raise typer.BadParameter("give --mrn or --name", param_hint="--mrn")
    config = _config(api_url, clinic, outbox)
    url = f"{config.clinic_api()}/patients"
    params = {"mrn": mrn} if mrn is not None else {"q": name, "limit": 20}
    try:
        response = httpx.get(
            url, params=params, timeout=15, headers={"Authorization": f"Bearer {_token(config)}"}
        )
    except (httpx.TransportError, TransientError) as exc:
        console.print("[yellow]the server cannot be reached; try again when online[/yellow]")
        raise typer.Exit(EXIT_OFFLINE) from exc
    except auth.AuthError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(EXIT_AUTH) from exc
    if response.status_code != 200:
        _fail_input(f"the server refused the search: {_server_problem(response)}")
    items = response.json().get("items", [])
    for patient in items:
        born = patient.get("birthDate") or patient.get("birthYear") or "-"
        console.print(
            f"{patient['id']}  MRN {patient.get('mrn') or '-':12s} "
            f"{patient.get('displayName') or patient.get('label') or '':30.30s} {born}"
        )
    if not items:
        console.print("no patient found; a clinician registers new patients")


def _server_problem(response: Any) -> str:
    """A problem document in one line, with the fields at fault (validation errors)."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    fields = [".".join(str(p) for p in e.get("loc", [])[1:]) for e in body.get("errors") or []]
    detail = body.get("detail") or body.get("title") or ""
    return f"{body.get('code', response.status_code)}: {detail}" + (
        f" ({', '.join(fields)})" if fields else ""
    )


@app.command()
def logout(outbox: OutboxDir = None) -> None:
    """Forget the session on this laptop (the takes in the outbox stay)."""
    config = _config(None, None, outbox)
    console.print("signed out" if auth.logout(config) else "nobody was signed in")


@app.command()
def whoami(outbox: OutboxDir = None) -> None:
    """Who is signed in on this laptop, and for which clinic and API."""
    config = _config(None, None, outbox)
    try:
        session = auth.load(config.credentials_path)
    except auth.AuthError as exc:
        console.print(f"[yellow]{exc}[/yellow]")
        raise typer.Exit(EXIT_AUTH) from exc
    console.print(
        f"{session.email} ({session.uid}); clinic {config.clinic_id or '(none set)'}; "
        f"API {config.api_url}"
    )


@app.command()
def devices() -> None:
    """List candidate stethoscopes: USB audio inputs and USB serial ports."""
    found, notes = list_devices()
    table = Table("kind", "name", "address", "channels", "sample rates (Hz)")
    for device in found:
        rates = ", ".join(str(r) for r in device.sample_rates_hz) or "-"
        table.add_row(device.kind, device.name, device.address, str(device.channels), rates)
    console.print(table if found else "no input devices found")
    for note in notes:
        console.print(f"[yellow]{note}[/yellow]")


@app.command()
def record(
    site: Site,
    patient: Annotated[
        str | None, typer.Option(help="patient id (`steth-upload patients find` shows it)")
    ] = None,
    mrn: Annotated[
        str | None, typer.Option(help="the patient's medical record number instead of --patient")
    ] = None,
    kind: Kind = "heart",
    seconds: Annotated[float, typer.Option(min=1.0, max=600.0)] = 30.0,
    device: Annotated[str | None, typer.Option(help="USB audio input (name or index)")] = None,
    serial: Annotated[
        str | None, typer.Option("--serial", help="USB serial port, e.g. /dev/ttyACM0")
    ] = None,
    simulate: Annotated[
        bool, typer.Option("--simulate", help="synthetic sounds (demo, tests)")
    ] = False,
    upload: Annotated[bool, typer.Option(help="upload right after saving")] = True,
    accept: Annotated[
        bool, typer.Option("--yes", help="keep the take even if its quality is poor")
    ] = False,
    api_url: ApiUrl = None,
    clinic: Clinic = None,
    outbox: OutboxDir = None,
) -> None:
    """Record a take, check its quality on the spot, save it to the outbox, upload it."""
    _check_kind(kind)
    _check_site(site, kind)
    config = _config(api_url, clinic, outbox)
    patient = _resolve_patient(config, patient, mrn)
    take = _take_until_good(kind, seconds, device, serial, simulate, accept)
    recorded_at = datetime.now(UTC)
    audio = take.encoded(config.audio_format)
    with _open_outbox(config) as box:
        try:
            item = box.add(
                audio,
                clinic_id=config.clinic_id or None,
                patient_id=patient,
                site=site,
                kind=kind,
                recorded_at=recorded_at,
                audio_format=config.audio_format,
            )
        except OSError as exc:
            kept = _keep_elsewhere(audio, recorded_at, config.outbox_dir, config.audio_format)
            console.print(f"[red]the outbox could not store the take ({exc.strerror}).[/red]")
            if kept is None:
                console.print(
                    "[red]no other folder could take it either; free some space and "
                    "record again[/red]"
                )
            else:
                console.print(
                    f"the take is kept in [bold]{kept}[/bold]; free some space, then run: "
                    f"steth-upload import {kept} --patient {patient} --site {site} --kind {kind}"
                )
            raise typer.Exit(EXIT_OUTBOX) from exc
        console.print(f"saved [bold]{item.id}[/bold] ({item.size_bytes} bytes) to the outbox")
        if upload:
            raise typer.Exit(_sync(config, box))


@app.command("import")
def import_files(
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, readable=True)],
    patient: Patient,
    site: Site,
    kind: Kind = "heart",
    recorded_at: Annotated[
        datetime | None,
        typer.Option(help="when it was recorded (default: the file's own date, else its mtime)"),
    ] = None,
    api_url: ApiUrl = None,
    clinic: Clinic = None,
    outbox: OutboxDir = None,
) -> None:
    """Queue existing WAV or FLAC recordings: each is checked to be readable audio, its quality
    shown, and a file already in the outbox is not queued twice. Exits 1 if any is refused."""
    from edge_uploader.checksums import crc32c_base64
    from stethoscope import AnalysisInputError, analyze_file

    _check_kind(kind)
    _check_site(site, kind)
    config = _config(api_url, clinic, outbox)
    refused = 0
    with _open_outbox(config) as box:
        known = {item.crc32c: item.id for item in box.all()}
        for path in files:
            data = path.read_bytes()
            try:
                quality = analyze_file(data, kind).quality  # type: ignore[arg-type]
            except AnalysisInputError as exc:
                console.print(
                    f"[red]{path.name}: not queued — {exc.message}; check it is a WAV or FLAC "
                    "recording[/red]"
                )
                refused += 1
                continue
            checksum = crc32c_base64(data)
            if checksum in known:
                console.print(
                    f"[yellow]{path.name}: already in the outbox as "
                    f"{short_id(known[checksum])}; not queued again[/yellow]"
                )
                refused += 1
                continue
            when = recorded_at or _file_recorded_at(path)
            if when.tzinfo is None:
                when = when.astimezone(UTC)
            item = box.add(
                data,
                clinic_id=config.clinic_id or None,
                patient_id=patient,
                site=site,
                kind=kind,
                recorded_at=when,
                audio_format="flac" if path.suffix.lower() == ".flac" else "wav",
            )
            known[checksum] = item.id
            usable = "usable" if quality.usable else f"NOT usable ({', '.join(quality.reasons)})"
            console.print(
                f"queued {path.name} as [bold]{short_id(item.id)}[/bold] — quality "
                f"{quality.score:.2f}, {usable}"
            )
    if refused < len(files):
        console.print("run `steth-upload sync` to upload them")
    raise typer.Exit(EXIT_FAILED if refused else 0)


def _file_recorded_at(path: Path) -> datetime:
    """The recording time a file states (BWF origination, or an ISO date in its comment or
    date tag), else its modification time."""
    import soundfile as sf

    try:
        with sf.SoundFile(path) as sound:
            tags = sound.copy_metadata()
    except (sf.LibsndfileError, RuntimeError):
        tags = {}
    for key in ("date", "comment"):
        value = tags.get(key)
        if value:
            try:
                return datetime.fromisoformat(value.strip())
            except ValueError:
                continue
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


@app.command()
def sync(api_url: ApiUrl = None, clinic: Clinic = None, outbox: OutboxDir = None) -> None:
    """Upload everything pending, once."""
    config = _config(api_url, clinic, outbox)
    with _open_outbox(config) as box:
        raise typer.Exit(_sync(config, box))


@app.command()
def watch(
    interval_s: Annotated[float, typer.Option("--interval", min=0.5)] = 5.0,
    api_url: ApiUrl = None,
    clinic: Clinic = None,
    outbox: OutboxDir = None,
) -> None:
    """Keep draining the outbox; back off while offline (Ctrl-C stops)."""
    config = _config(api_url, clinic, outbox)
    console.print(
        f"watching {config.outbox_dir} for clinic {config.clinic_id or '(none)'} via "
        f"{config.api_url}; Ctrl-C stops"
    )
    delay = interval_s
    online = True
    with _open_outbox(config) as box:
        try:
            while True:
                code = _sync(config, box, quiet=True)
                if code == EXIT_AUTH:
                    console.print(
                        "[red]not signed in: run `steth-upload login`, then watch again[/red]"
                    )
                    raise typer.Exit(EXIT_AUTH)
                if code == EXIT_OFFLINE:
                    delay = min(delay * 2, config.max_backoff_s)
                    if online:
                        console.print(
                            f"[yellow]offline: takes are kept; retrying every "
                            f"{delay:.0f}-{config.max_backoff_s:.0f} s[/yellow]"
                        )
                    online = False
                else:
                    if not online:
                        console.print("[green]back online[/green]")
                    online, delay = True, interval_s
                time.sleep(delay)
        except KeyboardInterrupt:
            console.print("stopped")


@app.command()
def status(
    failed: Annotated[bool, typer.Option("--failed", help="only takes that failed")] = False,
    since_days: Annotated[
        float | None, typer.Option("--since", help="only takes of the last N days")
    ] = None,
    outbox: OutboxDir = None,
) -> None:
    """The outbox, one line per take (short ids work with fix, retry, discard, results)."""
    config = _config(None, None, outbox)
    with _open_outbox(config) as box:
        items = box.all()
    if failed:
        items = [i for i in items if i.state == State.FAILED]
    if since_days is not None:
        cutoff = datetime.now(UTC).timestamp() - since_days * 86400
        items = [i for i in items if i.created_at.timestamp() >= cutoff]
    table = Table("take", "recorded", "patient", "site", "state", "note", box=None, pad_edge=False)
    for column in table.columns:
        column.no_wrap, column.overflow = True, "ellipsis"
    table.columns[-1].max_width = 28
    for item in items:
        note = item.last_error or (_progress(item) if item.state in PENDING else "")
        table.add_row(
            short_id(item.id),
            f"{item.recorded_at:%m-%d %H:%M}",
            item.patient_id,
            item.site,
            _styled(item.state),
            note,
        )
    console.print(
        table if items else "no takes" if (failed or since_days) else "the outbox is empty"
    )
    if any(i.state == State.FAILED for i in items):
        console.print("fix a take: `steth-upload fix TAKE --patient …`; then `retry` or `discard`")


def short_id(item_id: str) -> str:
    """The last 6 characters of a take's id: unique enough on one laptop, fits 80 columns."""
    return item_id[-6:]


@app.command()
def results(
    wait_s: Annotated[float, typer.Option("--wait", min=0.0, help="seconds to wait")] = 0.0,
    api_url: ApiUrl = None,
    clinic: Clinic = None,
    outbox: OutboxDir = None,
) -> None:
    """What the cloud found for each uploaded take: analysis status and key findings."""
    import httpx

    config = _config(api_url, clinic, outbox)
    with _open_outbox(config) as box:
        sent = [i for i in box.all() if i.recording_id and i.state in (State.VERIFIED, State.DONE)]
    if not sent:
        console.print("no uploaded takes yet; `steth-upload sync` sends the queued ones")
        return
    deadline = time.monotonic() + wait_s
    while True:
        found: dict[str, dict[str, Any]] = {}
        try:
            headers = {"Authorization": f"Bearer {_token(config)}"}
            for item in sent:
                base = config.clinic_api(item.clinic_id)
                response = httpx.get(
                    f"{base}/recordings/{item.recording_id}", headers=headers, timeout=30
                )
                if response.status_code == 200:
                    found[item.id] = response.json()
        except (httpx.TransportError, TransientError, auth.AuthError) as exc:
            console.print(f"[yellow]cannot ask the server ({exc}); try again when online[/yellow]")
            raise typer.Exit(EXIT_OFFLINE) from exc
        pending = [r for r in found.values() if r.get("status") in ("awaiting_upload", "analyzing")]
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(1.0)
    for item in sent:
        record = found.get(item.id, {})
        console.print(
            f"{short_id(item.id)} {item.site:22.22s} {record.get('status', '?'):9s} "
            f"{_findings(record)}"
        )


def _findings(record: dict[str, Any]) -> str:
    """The key figures of a recording document, on one short line."""
    summary = record.get("summary") or {}
    if record.get("status") == "rejected":
        return f"refused: {(record.get('error') or {}).get('message', '')}"[:44]
    if not summary:
        return ""
    parts = [] if summary.get("usable") else ["NOT usable"]
    if summary.get("heartRateBpm") is not None:
        parts.append(f"HR {summary['heartRateBpm']:.0f}")
    if summary.get("murmur") is not None:
        parts.append("murmur" if summary["murmur"] else "no murmur")
    if summary.get("respiratoryRateBpm") is not None:
        parts.append(f"RR {summary['respiratoryRateBpm']:.0f}")
    for key in ("wheeze", "crackle"):
        if summary.get(key) is not None:
            parts.append(key if summary[key] else f"no {key}")
    return ", ".join(parts)


@app.command()
def fix(
    item_id: Annotated[str, typer.Argument(help="a queued or failed take (see `status`)")],
    patient: Annotated[str | None, typer.Option(help="the right patient id")] = None,
    site: Annotated[str | None, typer.Option(help="the right auscultation site")] = None,
    kind: Annotated[str | None, typer.Option(help="heart or lung")] = None,
    outbox: OutboxDir = None,
) -> None:
    """Correct the patient, site or kind of a take that was refused or not yet sent; it is
    queued again (run `sync`)."""
    from stethoscope.sites import site_matches_kind

    if not (patient or site or kind):
        raise typer.BadParameter("give --patient, --site or --kind", param_hint="--patient")
    config = _config(None, None, outbox)
    with _open_outbox(config) as box:
        try:
            item = box.get(item_id)
        except KeyError:
            console.print(f"[red]{item_id}: no such take; `steth-upload status` lists them[/red]")
            raise typer.Exit(EXIT_FAILED) from None
        new_site, new_kind = site or item.site, kind or item.kind
        if not site_matches_kind(new_site, new_kind):
            raise typer.BadParameter(
                f"{new_site!r} is not a {new_kind} site; {allowed_sites(new_kind)}",
                param_hint="--site",
            )
        try:
            box.fix(item_id, patient_id=patient or "", site=site or "", kind=kind or "")
        except OutboxError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(EXIT_FAILED) from exc
    console.print(f"{item_id} corrected and queued; run `steth-upload sync` to send it")


FailedTakes = Annotated[list[str] | None, typer.Argument(help="failed takes (default: all)")]


@app.command()
def retry(item_ids: FailedTakes = None, outbox: OutboxDir = None) -> None:
    """Queue failed takes again (after fixing what failed them); `sync` then uploads them."""
    _on_failed_takes(outbox, item_ids, Outbox.retry, "queued again")


@app.command()
def discard(item_ids: FailedTakes = None, outbox: OutboxDir = None) -> None:
    """Delete the audio of failed takes that will never be uploaded (the journal keeps a line)."""
    _on_failed_takes(outbox, item_ids, Outbox.discard, "discarded")


def _on_failed_takes(
    outbox: Path | None,
    item_ids: list[str] | None,
    action: Callable[[Outbox, str], Item],
    done: str,
) -> None:
    config = _config(None, None, outbox)
    code = 0
    with _open_outbox(config) as box:
        chosen = item_ids or [i.id for i in box.all() if i.state == State.FAILED]
        if not chosen:
            console.print("no failed takes")
        for item_id in chosen:
            try:
                action(box, item_id)
                console.print(f"{done} {item_id}")
            except KeyError:
                console.print(
                    f"[red]{item_id}: no such take; `steth-upload status` lists them[/red]"
                )
                code = EXIT_FAILED
            except OutboxError as exc:
                console.print(f"[red]{exc}[/red]")
                code = EXIT_FAILED
    raise typer.Exit(code)


def _take_until_good(
    kind: str,
    seconds: float,
    device: str | None,
    serial: str | None,
    simulate: bool,
    accept: bool,
    *,
    finding: bool = True,
    seed: int | None = None,
) -> Take:
    """Record, show the on-the-spot quality verdict, offer to record again while it is poor."""
    while True:
        take = _capture(kind, seconds, device, serial, simulate, finding=finding, seed=seed)
        for problem in take.problems:
            console.print(f"[yellow]device: {problem}[/yellow]")
        verdict = check_take(take, kind)
        if isinstance(verdict, str):
            console.print(f"[red]this take cannot be analysed: {verdict}[/red]")
            good = False
        else:
            good = verdict.usable
            colour = "green" if good else "red"
            reasons = f" — {', '.join(verdict.reasons)}" if verdict.reasons else ""
            console.print(f"quality [{colour}]{verdict.score:.2f}[/{colour}]{reasons}")
        if good or accept or not typer.confirm("Quality is poor. Record again?", default=True):
            return take


@app.command()
def exam(
    patient: Patient,
    protocol: Annotated[
        str | None, typer.Option(help="heart-4, lung-6 or lung-12 (or give --sites)")
    ] = None,
    sites: Annotated[
        str | None, typer.Option(help="comma-separated sites instead of a protocol")
    ] = None,
    seconds: Annotated[float, typer.Option(min=5.0, max=600.0, help="per site")] = 20.0,
    device: Annotated[str | None, typer.Option(help="USB audio input (name or index)")] = None,
    serial: Annotated[str | None, typer.Option("--serial", help="USB serial port")] = None,
    simulate: Annotated[
        bool, typer.Option("--simulate", help="synthetic takes, no prompts (demo, tests)")
    ] = False,
    finding_at: Annotated[
        list[str] | None,
        typer.Option(
            "--simulate-finding-at",
            help="with --simulate: sites that get a murmur "
            "(heart) or a wheeze (lung); the others are clean",
        ),
    ] = None,
    upload: Annotated[bool, typer.Option(help="upload when the exam is recorded")] = True,
    wait_s: Annotated[
        float, typer.Option("--wait", min=0.0, help="seconds to wait for the assessment")
    ] = 0.0,
    accept: Annotated[
        bool, typer.Option("--yes", help="keep every take even if its quality is poor")
    ] = False,
    api_url: ApiUrl = None,
    clinic: Clinic = None,
    outbox: OutboxDir = None,
) -> None:
    """A guided multi-site exam: for each site, where to place the chest piece, a live level,
    the quality check; the takes go through the outbox with the exam (offline-safe)."""
    from stethoscope.sites import PROTOCOLS, placement, site_kind

    if (protocol is None) == (sites is None):
        raise typer.BadParameter("give either --protocol or --sites", param_hint="--protocol")
    if protocol is not None:
        if protocol not in PROTOCOLS:
            raise typer.BadParameter(f"one of {', '.join(PROTOCOLS)}", param_hint="--protocol")
        kind, plan = PROTOCOLS[protocol][0], list(PROTOCOLS[protocol][1])
    else:
        plan = [s.strip() for s in (sites or "").split(",") if s.strip()]
        kinds = {site_kind(s) for s in plan}
        if not plan or None in kinds or len(kinds) != 1:
            raise typer.BadParameter("known sites, all heart or all lung", param_hint="--sites")
        kind = site_kind(plan[0]) or "heart"
    config = _config(api_url, clinic, outbox)
    patient = _resolve_patient(config, patient, None)
    with _open_outbox(config) as box:
        exam_item = box.add_exam(patient, protocol, plan)
        console.print(f"exam [bold]{exam_item.id}[/bold]: {kind}, {len(plan)} sites")
        recorded = 0
        for number, site in enumerate(plan, 1):
            console.print(
                f"\n[bold]{number}/{len(plan)}[/bold] place the chest piece: {placement(site)}"
            )
            if not simulate:
                answer = typer.prompt(
                    "Enter to record, s to skip this site", default="", show_default=False
                )
                if answer.strip().lower().startswith("s"):
                    console.print(f"skipped {site}")
                    continue
            take = _take_until_good(
                kind,
                seconds,
                device,
                serial,
                simulate,
                accept,
                finding=site in (finding_at or []),
                seed=number,
            )
            item = box.add(
                take.encoded(config.audio_format),
                audio_format=config.audio_format,
                clinic_id=config.clinic_id or None,
                patient_id=patient,
                site=site,
                kind=kind,
                recorded_at=datetime.now(UTC),
                exam_id=exam_item.id,
            )
            console.print(f"saved {site} as [bold]{item.id}[/bold]")
            recorded += 1
        box.finish_exam(exam_item.id)
        console.print(f"exam recorded: {recorded} of {len(plan)} sites")
        if not upload:
            return
        code = _sync(config, box)
        if code == 0 and wait_s > 0:
            code = _print_assessment(config, exam_item.id, wait_s)
        raise typer.Exit(code)


def _print_assessment(config: UploaderConfig, exam_id: str, wait_s: float) -> int:
    """Poll the exam until it is assessed (or `wait_s` passed) and print what it found."""
    import httpx

    url = f"{config.clinic_api()}/exams/{exam_id}"
    deadline = time.monotonic() + wait_s
    body: dict[str, Any] = {}
    with console.status("waiting for the assessment..."):
        while time.monotonic() < deadline:
            try:
                response = httpx.get(
                    url, headers={"Authorization": f"Bearer {auth.id_token(config)}"}, timeout=30
                )
            except (httpx.TransportError, auth.AuthError, auth.OfflineError) as exc:
                console.print(f"[yellow]cannot ask for the assessment: {exc}[/yellow]")
                return EXIT_OFFLINE
            body = response.json() if response.status_code == 200 else {}
            if body.get("status") == "assessed":
                break
            time.sleep(1.0)
    if body.get("status") != "assessed":
        console.print(
            f"[yellow]not assessed yet (status {body.get('status')}); "
            f"see `GET …/exams/{exam_id}`[/yellow]"
        )
        return EXIT_OFFLINE
    from stethoscope.fhir import exam_conclusion

    console.print(f"[bold]assessment[/bold]: {exam_conclusion(body.get('assessment') or {})}")
    if body.get("reRecord"):
        console.print(f"[red]record again: {', '.join(body['reRecord'])}[/red]")
    return 0


def _keep_elsewhere(
    audio: bytes, recorded_at: datetime, outbox_dir: Path, audio_format: str
) -> Path | None:
    """Write a take the outbox could not store to the first folder that takes it."""
    import tempfile

    name = f"take-{recorded_at:%Y%m%dT%H%M%S}.{audio_format}"
    for folder in (Path.home(), Path(tempfile.gettempdir()), Path.cwd()):
        if folder.resolve() == outbox_dir.resolve():
            continue
        target = folder / name
        try:
            target.write_bytes(audio)
        except OSError:
            with contextlib.suppress(OSError):
                target.unlink()
            continue
        return target
    return None


def _capture(
    kind: str,
    seconds: float,
    device: str | None,
    serial_port: str | None,
    simulate: bool,
    *,
    finding: bool = True,
    seed: int | None = None,
) -> Take:
    try:
        if simulate:
            chosen = int(time.time()) % 1000 if seed is None else seed
            return simulated(kind, seconds, seed=chosen, finding=finding)
        if serial_port:
            with console.status(f"recording {seconds:g} s from {serial_port}..."):
                return record_serial(serial_port, seconds)
        with Live(console=console, transient=True) as live:
            return record_audio_device(
                device, seconds, on_level=lambda rms: live.update(_level_bar(rms))
            )
    except CaptureError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc


def _sync(config: UploaderConfig, box: Outbox, *, quiet: bool = False) -> int:
    if not config.clinic_id:
        console.print("[red]no clinic: pass --clinic or set STETH_CLINIC[/red]")
        return 2
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        tasks: dict[str, TaskID] = {}

        def on_progress(item: Item, offset: int) -> None:
            if item.id not in tasks:
                label = f"upload {item.site} {short_id(item.id)}"
                tasks[item.id] = progress.add_task(label, total=item.size_bytes)
            progress.update(tasks[item.id], completed=offset)

        uploader = Uploader(config, box, lambda: _token(config), progress=on_progress)
        try:
            report = uploader.sync()
        except auth.AuthError as exc:
            console.print(f"[red]{exc}[/red]")
            return EXIT_AUTH
        finally:
            uploader.close()
    if not quiet or report.verified or report.failed:
        _print_report(report, box)
    if report.failed or report.exams_failed:
        return EXIT_FAILED
    return EXIT_OFFLINE if report.waiting or report.exams_waiting else 0


def _token(config: UploaderConfig) -> str:
    """An ID token; no network to refresh it is 'offline' (kept and retried), not a sign-in."""
    try:
        return auth.id_token(config)
    except auth.OfflineError as exc:
        raise TransientError(str(exc), delivered=False) from exc


def _print_report(report: SyncReport, box: Outbox) -> None:
    for item_id in report.verified:
        console.print(
            f"[green]uploaded and verified[/green] {item_id} -> {box.get(item_id).recording_id}"
        )
    for item_id in report.failed:
        console.print(
            f"[red]failed[/red] {short_id(item_id)}: {box.get(item_id).last_error}; "
            f"`steth-upload fix {short_id(item_id)} …`, `retry` or `discard` it"
        )
    for item_id in report.waiting:
        console.print(
            f"[yellow]kept[/yellow] {short_id(item_id)}: {box.get(item_id).last_error}; "
            "`steth-upload sync` (or `watch`) retries it"
        )
    for exam_id in report.exams_waiting:
        console.print(
            f"[yellow]offline: exam {exam_id} and its takes are kept; will retry[/yellow]"
        )
    for exam_id in report.exams_completed:
        console.print(f"[green]exam completed[/green] {exam_id}")
    for exam_id in report.exams_failed:
        console.print(f"[red]exam refused[/red] {exam_id}: {box.exam(exam_id).last_error}")
    if not (report.verified or report.failed or report.waiting or report.exams_waiting):
        console.print("nothing to upload")


def _level_bar(rms: float) -> str:
    level_db = 20 * math.log10(max(rms, 1e-6))
    filled = int(max(0.0, min(1.0, (level_db + 60) / 60)) * 40)
    return f"level [{'#' * filled}{'.' * (40 - filled)}] {level_db:5.1f} dBFS"


def _styled(state: State) -> str:
    colour = {State.VERIFIED: "green", State.DONE: "green", State.FAILED: "red"}.get(
        state, "yellow"
    )
    return f"[{colour}]{state.value}[/{colour}]"


def _progress(item: Item) -> str:
    if item.state in (State.VERIFIED, State.DONE):
        return "100%"
    return f"{100 * item.offset_bytes // max(item.size_bytes, 1)}%"


def main() -> None:
    """Run the CLI. A usage error is the problem and the help to read, at most three lines at
    80 columns (typer's default is a framed panel that a long message stretches to ten)."""
    import sys

    from typer.exceptions import TyperException

    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        console.print("stopped; nothing half-done is lost (`steth-upload status` shows the takes)")
        sys.exit(130)
    except TyperException as exc:  # click's, as typer vendors it: usage (2) and other errors
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        exit_code = int(getattr(exc, "exit_code", 1))
        if exit_code == 2:  # a usage error: say where the help is
            message = f"{message.rstrip('.')}; see `{_help_command(getattr(exc, 'ctx', None))}`"
        console.print(message, highlight=False, markup=False)
        sys.exit(exit_code)
    sys.exit(code if isinstance(code, int) else 0)


def _help_command(ctx: Any) -> str:
    """`steth-upload <subcommand…> --help` for the command the error is about."""
    names: list[str] = []
    while ctx is not None and ctx.parent is not None:
        names.insert(0, ctx.info_name)
        ctx = ctx.parent
    return " ".join(["steth-upload", *names, "--help"])
