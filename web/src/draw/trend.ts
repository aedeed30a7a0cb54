/** A small trend chart in inline SVG: one series of rates over time, with the takes that showed
 * a finding marked. Drawn by hand — a chart library would outweigh the whole app. */
import { svg } from "../dom";

export interface TrendPoint {
  at: Date;
  value: number;
  finding: boolean;
  label: string;
}

const W = 560;
const H = 160;
const PAD = { left: 40, right: 12, top: 12, bottom: 28 };

export function trendChart(title: string, unit: string, points: TrendPoint[]): SVGElement {
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "trend", role: "img", "aria-label": `${title}: ${points.length} values` }, svg("title", {}, title));
  if (!points.length) {
    chart.appendChild(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "axis" }, "no usable takes yet"));
    return chart;
  }
  const sorted = [...points].sort((a, b) => a.at.getTime() - b.at.getTime());
  const t0 = sorted[0].at.getTime();
  const t1 = Math.max(sorted[sorted.length - 1].at.getTime(), t0 + 1);
  const values = sorted.map((p) => p.value);
  const lo = Math.floor(Math.min(...values) * 0.9);
  const hi = Math.ceil(Math.max(...values) * 1.1) || 1;
  const x = (t: number): number => PAD.left + ((t - t0) / (t1 - t0)) * (W - PAD.left - PAD.right);
  const y = (v: number): number => H - PAD.bottom - ((v - lo) / Math.max(hi - lo, 1)) * (H - PAD.top - PAD.bottom);
  const single = sorted.length === 1;
  const px = (p: TrendPoint): number => (single ? W / 2 : x(p.at.getTime()));
  chart.append(
    svg("line", { x1: PAD.left, y1: H - PAD.bottom, x2: W - PAD.right, y2: H - PAD.bottom, class: "axis-line" }),
    svg("line", { x1: PAD.left, y1: PAD.top, x2: PAD.left, y2: H - PAD.bottom, class: "axis-line" }),
    svg("text", { x: PAD.left - 6, y: y(hi) + 4, "text-anchor": "end", class: "axis" }, String(hi)),
    svg("text", { x: PAD.left - 6, y: y(lo), "text-anchor": "end", class: "axis" }, String(lo)),
    svg("text", { x: PAD.left, y: H - 8, class: "axis" }, sorted[0].at.toLocaleDateString()),
    svg("text", { x: W - PAD.right, y: H - 8, "text-anchor": "end", class: "axis" }, sorted[sorted.length - 1].at.toLocaleDateString()),
    svg("text", { x: PAD.left + 4, y: PAD.top + 10, class: "axis" }, unit),
    svg("polyline", { points: sorted.map((p) => `${px(p)},${y(p.value)}`).join(" "), class: "series" }),
  );
  for (const p of sorted) {
    chart.appendChild(
      svg("circle", { cx: px(p), cy: y(p.value), r: p.finding ? 6 : 4, class: p.finding ? "point finding" : "point" }, svg("title", {}, p.label)),
    );
  }
  return chart;
}
