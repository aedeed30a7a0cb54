"""The report of a whole exam: one row per site (a short waveform and what was found there), the
assessment, the analysis version and the decision-support note. A4 portrait, PDF or PNG."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from stethoscope.report import ReportFormat, murmur_timing_text
from stethoscope.result import AnalysisResult

A4_PORTRAIT_IN = (8.27, 11.69)
TRACE_S = 6.0  # seconds of waveform shown per site
NOTE = "Decision support, not a diagnosis: findings are computed and await a clinician's review."


@dataclass(frozen=True)
class SiteTrace:
    """One site of the exam as the report draws it."""

    site: str
    status: str  # analyzed, rejected, pending, skipped, ...
    samples: npt.NDArray[np.float64] | None = None  # at `rate_hz`, any length
    rate_hz: float = 0.0
    result: AnalysisResult | None = None


def render_exam_report(
    sites: Sequence[SiteTrace],
    conclusion: str,
    re_record: Sequence[str],
    *,
    title: str,
    version: str | None,
    fmt: ReportFormat = "pdf",
) -> bytes:
    """Render the exam report as PDF or PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=A4_PORTRAIT_IN, layout="constrained")
    figure.suptitle(f"{title} — analysis {version or '-'}", fontsize=12, fontweight="bold")
    rows = max(len(sites), 1) + 1
    grid = figure.add_gridspec(rows, 2, width_ratios=(3, 2))
    for row, site in enumerate(sites):
        trace_ax = figure.add_subplot(grid[row, 0])
        text_ax = figure.add_subplot(grid[row, 1])
        _draw_trace(trace_ax, site)
        text_ax.axis("off")
        text_ax.text(0, 1, _site_text(site), va="top", ha="left", fontsize=7, family="monospace")
    footer = figure.add_subplot(grid[rows - 1, :])
    footer.axis("off")
    lines = [f"Assessment: {conclusion}"]
    if re_record:
        lines.append(f"Record again: {', '.join(re_record)}")
    lines.append(NOTE)
    footer.text(0, 1, "\n".join(lines), va="top", ha="left", fontsize=9, wrap=True)
    metadata = (
        {"Subject": conclusion, "Title": title} if fmt == "pdf" else {"Description": conclusion}
    )
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, dpi=110 if fmt == "png" else 150, metadata=metadata)
    return buffer.getvalue()


def _draw_trace(ax: Any, site: SiteTrace) -> None:
    ax.set_title(f"{site.site} — {site.status}", fontsize=8, loc="left")
    ax.set_yticks([])
    if site.samples is None or site.rate_hz <= 0 or len(site.samples) == 0:
        ax.set_xticks([])
        ax.text(0.5, 0.5, "no audio", ha="center", va="center", fontsize=8, transform=ax.transAxes)
        return
    shown = site.samples[: int(TRACE_S * site.rate_hz)]
    t = np.arange(len(shown)) / site.rate_hz
    peak = float(np.max(np.abs(shown))) or 1.0
    for artist in ax.plot(t, shown / peak, linewidth=0.3, color="#333333"):
        artist.set_rasterized(True)  # keeps the PDF small
    ax.set_xlim(0, TRACE_S)
    ax.tick_params(labelsize=6)


def _site_text(site: SiteTrace) -> str:
    """What was found at the site (from the stored result; per-event lists are not kept)."""
    result = site.result
    if result is None:
        return {"rejected": "could not be analysed", "skipped": "not recorded"}.get(
            site.status, site.status
        )
    q = result.quality
    rows = [f"Quality: {q.score:.2f} ({'usable' if q.usable else 'NOT usable'})"]
    if q.reasons:
        rows.append(f"  {', '.join(q.reasons)}")
    if result.heart is not None:
        h = result.heart
        rate = "-" if h.heart_rate_bpm is None else f"{h.heart_rate_bpm:.0f} bpm"
        timed = h.murmur.present and h.murmur.timing
        rows += [
            f"Heart rate: {rate}",
            f"Rhythm: {h.rhythm or 'cannot tell'}",
            f"Murmur: {_verdict(h.murmur.present)}"
            + (f" ({murmur_timing_text(h.murmur)})" if timed else ""),
        ]
    if result.lung is not None:
        lung = result.lung
        rate = "-" if lung.respiratory_rate_bpm is None else f"{lung.respiratory_rate_bpm:.0f}/min"
        rows += [
            f"Respiratory rate: {rate}",
            f"Wheezes: {_verdict(lung.wheeze_present)}",
            f"Crackles: {_verdict(lung.crackle_present)}",
        ]
    return "\n".join(rows)


def _verdict(present: bool | None) -> str:
    return "cannot tell" if present is None else "present" if present else "absent"
