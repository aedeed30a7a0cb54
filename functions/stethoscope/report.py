"""Figures a clinician reads: heart and lung recordings with what the analysis found on them.

Heart: the whole waveform with every beat marked, a 10 s close-up of waveform and sound envelope
with S1 (red) and S2 (blue) spans and the murmur phase shaded, and a summary table. Lung: the
spectrogram with wheezes outlined and crackles ticked, the breathing envelope with the cycles, and
a summary table. Rendered with matplotlib's Agg backend to PNG or PDF, A4 landscape.
"""

from __future__ import annotations

import io
from typing import Any, Literal

import numpy as np

from stethoscope.analysis import DetailedAnalysis
from stethoscope.result import AnalysisResult, Murmur

ReportFormat = Literal["png", "pdf"]
CLOSE_UP_S = 10.0
A4_LANDSCAPE_IN = (11.69, 8.27)


def render_report(
    detailed: DetailedAnalysis, fmt: ReportFormat = "png", title: str | None = None
) -> bytes:
    """Render the report for one analysed recording as PNG or PDF bytes."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=A4_LANDSCAPE_IN, layout="constrained")
    result = detailed.result
    heading = title or f"{result.kind.capitalize()} auscultation"
    figure.suptitle(f"{heading} — analysis {result.version}", fontsize=13, fontweight="bold")
    if result.kind == "heart":
        _draw_heart(figure, detailed)
    else:
        _draw_lung(figure, detailed)
    # the figures also go into the file's metadata, so a system can index the report by them
    text = "; ".join(f"{label}: {value}" for label, value in summary_rows(result))
    text = text.replace("\u2014", "-").encode("ascii", "replace").decode()
    metadata = {"Description": text} if fmt == "png" else {"Subject": text, "Title": heading}
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, dpi=110 if fmt == "png" else None, metadata=metadata)
    return buffer.getvalue()


def summary_rows(result: AnalysisResult) -> list[tuple[str, str]]:
    """The figures of a result as (label, value) rows, for the report table and the CLI."""
    q = result.quality
    rows = [
        ("Duration", f"{result.duration_s:.1f} s at {result.sample_rate_hz:g} Hz"),
        (
            "Quality",
            f"{q.score:.2f} ({'usable' if q.usable else 'NOT usable'})"
            + (f" — {', '.join(q.reasons)}" if q.reasons else ""),
        ),
    ]
    if result.heart is not None:
        h = result.heart
        rate = "—" if h.heart_rate_bpm is None else f"{h.heart_rate_bpm:.0f} bpm"
        rows += [
            ("Heart rate", f"{rate} (confidence {h.heart_rate_confidence:.2f})"),
            ("Rhythm", h.rhythm or "cannot tell"),
            ("Beats segmented", str(len(h.beats))),
            ("Systole / diastole", f"{_s(h.systole_s)} / {_s(h.diastole_s)}"),
            ("Murmur", _murmur_text(result)),
        ]
    if result.lung is not None:
        lung = result.lung
        rate = "—" if lung.respiratory_rate_bpm is None else f"{lung.respiratory_rate_bpm:.0f} /min"
        rows += [
            ("Respiratory rate", f"{rate} (confidence {lung.respiratory_rate_confidence:.2f})"),
            ("Breath cycles", str(len(lung.cycles))),
            (
                "Wheezes",
                f"{_yes_no(lung.wheeze_present)} — {len(lung.wheezes)} events, "
                f"{100 * lung.wheeze_fraction:.0f}% of the time",
            ),
            (
                "Crackles",
                f"{_yes_no(lung.crackle_present)} — {lung.crackles_per_min or 0:.0f} /min",
            ),
        ]
    return rows


def _murmur_text(result: AnalysisResult) -> str:
    assert result.heart is not None
    m = result.heart.murmur
    if m.present is None:
        return f"cannot tell (score {m.score:.2f})"
    if not m.present:
        return f"absent (score {m.score:.2f})"
    return f"present, {murmur_timing_text(m)} (score {m.score:.2f})"


def murmur_timing_text(m: Murmur) -> str:
    """The timing words of a reported murmur: "systolic", "systolic, holosystolic (P holosystolic
    0.82)", "diastolic", ..."""
    if m.timing is None:
        return "timing unclear"
    if m.systolic_timing is None or m.holosystolic_score is None:
        return m.timing
    return f"{m.timing}, {m.systolic_timing} (P holosystolic {m.holosystolic_score:.2f})"


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value * 1000:.0f} ms"


def _yes_no(value: bool | None) -> str:
    return {True: "present", False: "absent", None: "cannot tell"}[value]


def _draw_heart(figure: Any, detailed: DetailedAnalysis) -> None:
    assert detailed.heart is not None and detailed.result.heart is not None
    result, heart = detailed.result, detailed.result.heart
    grid = figure.add_gridspec(3, 1, height_ratios=[1, 2, 1.3])
    overview = figure.add_subplot(grid[0])
    close = figure.add_subplot(grid[1])
    table = figure.add_subplot(grid[2])
    x, rate = detailed.samples, detailed.rate_hz
    t = np.arange(len(x)) / rate
    peak = float(np.max(np.abs(x))) or 1.0
    overview.plot(t, x / peak, color="0.35", linewidth=0.4)
    for beat in heart.beats:
        overview.axvline(beat.s1_onset_s, color="tab:red", linewidth=0.6, alpha=0.7)
    overview.set_xlim(0, t[-1])
    overview.set_yticks([])
    overview.set_title("Whole recording (red: each S1)", fontsize=10, loc="left")

    end = min(CLOSE_UP_S, t[-1])
    shown = t <= end
    close.plot(t[shown], x[shown] / peak, color="0.55", linewidth=0.5, label="waveform")
    env = np.exp(detailed.heart.envelope.log_amplitude)
    te = np.arange(len(env)) / detailed.heart.envelope.frame_rate_hz
    env_shown = te <= end
    close.plot(
        te[env_shown],
        1.0 + env[env_shown] / env.max(),
        color="black",
        linewidth=1.0,
        label="envelope",
    )
    murmur = heart.murmur
    for beat in heart.beats:
        if beat.s1_onset_s > end:
            break
        close.axvspan(beat.s1_onset_s, beat.s1_offset_s, color="tab:red", alpha=0.3)
        close.axvspan(beat.s2_onset_s, beat.s2_offset_s, color="tab:blue", alpha=0.3)
        close.text(
            0.5 * (beat.s1_onset_s + beat.s1_offset_s),
            2.05,
            "S1",
            color="tab:red",
            ha="center",
            fontsize=8,
        )
        close.text(
            0.5 * (beat.s2_onset_s + beat.s2_offset_s),
            2.05,
            "S2",
            color="tab:blue",
            ha="center",
            fontsize=8,
        )
        if murmur.present and murmur.timing in ("systolic", "continuous"):
            close.axvspan(beat.s1_offset_s, beat.s2_onset_s, color="tab:orange", alpha=0.15)
    if murmur.present and murmur.timing in ("diastolic", "continuous"):
        for a, b in zip(heart.beats[:-1], heart.beats[1:], strict=True):
            if a.s2_offset_s < end:
                close.axvspan(a.s2_offset_s, b.s1_onset_s, color="tab:orange", alpha=0.15)
    close.set_xlim(0, end)
    close.set_ylim(-1.05, 2.2)
    close.set_yticks([])
    close.set_xlabel("time (s)")
    close.set_title(
        f"First {end:.0f} s: S1 red, S2 blue" + (", murmur phase orange" if murmur.present else ""),
        fontsize=10,
        loc="left",
    )
    _table(table, summary_rows(result))


def _draw_lung(figure: Any, detailed: DetailedAnalysis) -> None:
    assert detailed.lung is not None and detailed.result.lung is not None
    lung_detail, lung = detailed.lung, detailed.result.lung
    grid = figure.add_gridspec(3, 1, height_ratios=[2.2, 1, 1.3])
    spec_ax = figure.add_subplot(grid[0])
    env_ax = figure.add_subplot(grid[1], sharex=spec_ax)
    table = figure.add_subplot(grid[2])
    spec = lung_detail.spectrogram
    vmin = float(np.percentile(spec.power_db, 20))
    spec_ax.pcolormesh(
        spec.times_s,
        spec.freqs_hz,
        spec.power_db,
        shading="auto",
        cmap="magma",
        vmin=vmin,
        rasterized=True,  # a PDF would otherwise hold every cell as a vector (MBs, seconds)
    )
    spec_ax.set_ylim(0, min(2000.0, float(spec.freqs_hz[-1])))
    spec_ax.set_ylabel("frequency (Hz)")
    for w in lung.wheezes:
        spec_ax.plot(
            [w.start_s, w.end_s], [w.frequency_hz, w.frequency_hz], color="cyan", linewidth=2.5
        )
    top = spec_ax.get_ylim()[1]
    spec_ax.plot(
        [c.time_s for c in lung.crackles],
        [0.95 * top] * len(lung.crackles),
        "v",
        color="lime",
        markersize=4,
        linestyle="none",
    )
    spec_ax.set_title("Spectrogram: wheezes cyan, crackles green ▼", fontsize=10, loc="left")
    env = lung_detail.envelope
    te = np.arange(len(env.log_amplitude)) / env.frame_rate_hz
    env_ax.plot(te, env.log_amplitude, color="black", linewidth=1.0)
    for cycle in lung.cycles:
        env_ax.axvline(cycle.start_s, color="tab:green", linewidth=0.8)
    env_ax.set_yticks([])
    env_ax.set_xlabel("time (s)")
    env_ax.set_title("Breathing envelope (green: start of each cycle)", fontsize=10, loc="left")
    _table(table, summary_rows(detailed.result))


def _table(ax: Any, rows: list[tuple[str, str]]) -> None:
    ax.axis("off")
    table = ax.table(
        cellText=[list(r) for r in rows], colWidths=[0.25, 0.75], loc="center", cellLoc="left"
    )
    table.auto_set_font_size(False)
    table.set_fontsize(10)
    table.scale(1, 1.3)
