/** The review's figure on a <canvas>: the heart waveform (min/max envelope) or the lung
 * spectrogram from the API's compact trace, with the analysis overlaid — S1/S2 and the murmur's
 * phase for the heart, wheezes (at their frequency), crackles and breath cycles for the lung. */
import type { RecordingTrace as Trace } from "../types/api.gen";
import type { AnalysisResult } from "../types/firestore.gen";

export interface Figure {
  width: number;
  height: number;
  /** seconds shown across the width */
  durationS: number;
}

const COLORS = {
  wave: "#1d3557",
  s1: "rgba(37, 99, 235, 0.28)",
  s2: "rgba(22, 163, 74, 0.28)",
  murmur: "rgba(234, 88, 12, 0.30)",
  wheeze: "#f59e0b",
  crackle: "#dc2626",
  cycle: "#475569",
  label: "#0f172a",
};

/** Scale the canvas for the device's pixel ratio and return its 2-D context in CSS pixels. */
export function prepareCanvas(canvas: HTMLCanvasElement, width: number, height: number): CanvasRenderingContext2D {
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const ctx = canvas.getContext("2d") as CanvasRenderingContext2D;
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  return ctx;
}

export function drawWaveform(ctx: CanvasRenderingContext2D, trace: Trace, fig: Figure): void {
  const { min, max, binS } = trace.envelope;
  const peak = Math.max(1e-9, ...max.map(Math.abs), ...min.map(Math.abs));
  const mid = fig.height / 2;
  const scale = (fig.height / 2 - 6) / peak;
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, fig.width, fig.height);
  ctx.strokeStyle = COLORS.wave;
  ctx.lineWidth = 1;
  ctx.beginPath();
  for (let x = 0; x < fig.width; x++) {
    const from = Math.floor(((x / fig.width) * fig.durationS) / binS);
    const to = Math.max(from + 1, Math.floor((((x + 1) / fig.width) * fig.durationS) / binS));
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = from; i < Math.min(to, max.length); i++) {
      lo = Math.min(lo, min[i]);
      hi = Math.max(hi, max[i]);
    }
    if (lo === Infinity) continue;
    ctx.moveTo(x + 0.5, mid - hi * scale);
    ctx.lineTo(x + 0.5, mid - lo * scale + 1);
  }
  ctx.stroke();
}

/** A perceptual colour ramp (dark blue → yellow) for decibels 0..255. */
function ramp(v: number): [number, number, number] {
  const t = v / 255;
  return [Math.round(255 * Math.min(1, Math.max(0, 1.6 * t - 0.45))), Math.round(235 * Math.min(1, t * 1.15)), Math.round(90 + 120 * Math.sin(Math.PI * Math.min(t, 0.8)))];
}

export function drawSpectrogram(ctx: CanvasRenderingContext2D, trace: Trace, fig: Figure): void {
  const spec = trace.spectrogram;
  if (!spec) return;
  const bytes = Uint8Array.from(atob(spec.db), (c) => c.charCodeAt(0));
  const freqs = spec.freqsHz.length;
  const frames = Math.floor(bytes.length / freqs);
  const image = new ImageData(Math.max(frames, 1), freqs);
  for (let f = 0; f < frames; f++) {
    for (let k = 0; k < freqs; k++) {
      const [r, g, b] = ramp(bytes[f * freqs + k]);
      const at = ((freqs - 1 - k) * frames + f) * 4; // low frequencies at the bottom
      image.data[at] = r;
      image.data[at + 1] = g;
      image.data[at + 2] = b;
      image.data[at + 3] = 255;
    }
  }
  const off = document.createElement("canvas");
  off.width = image.width;
  off.height = image.height;
  (off.getContext("2d") as CanvasRenderingContext2D).putImageData(image, 0, 0);
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(off, 0, 0, (frames * spec.frameS * fig.width) / fig.durationS, fig.height);
}

/** y of a frequency on the spectrogram: the bands are drawn as equal rows (lowest at the
 * bottom), so a frequency sits at its fractional band index, interpolated between centres. */
export function freqY(trace: Trace, hz: number, fig: Figure): number {
  const freqs = trace.spectrogram?.freqsHz ?? [];
  if (freqs.length < 2) return fig.height / 2;
  let index = freqs.length - 1;
  if (hz <= freqs[0]) index = 0;
  else
    for (let k = 1; k < freqs.length; k++) {
      if (hz <= freqs[k]) {
        index = k - 1 + (hz - freqs[k - 1]) / (freqs[k] - freqs[k - 1]);
        break;
      }
    }
  const row = fig.height / freqs.length;
  return fig.height - (index + 0.5) * row;
}

function band(ctx: CanvasRenderingContext2D, fig: Figure, from: number, to: number, color: string, y = 0, h = fig.height): void {
  const x0 = (from / fig.durationS) * fig.width;
  const x1 = (to / fig.durationS) * fig.width;
  ctx.fillStyle = color;
  ctx.fillRect(x0, y, Math.max(1, x1 - x0), h);
}

/** What the overlay marks, counted (the page lists them for screen readers and tests). */
export interface OverlayCounts {
  beats: number;
  murmurPhases: number;
  wheezes: number;
  crackles: number;
  cycles: number;
}

export function drawOverlay(ctx: CanvasRenderingContext2D, trace: Trace, result: AnalysisResult, fig: Figure): OverlayCounts {
  const counts: OverlayCounts = { beats: 0, murmurPhases: 0, wheezes: 0, crackles: 0, cycles: 0 };
  ctx.font = "11px system-ui, sans-serif";
  const heart = result.heart;
  if (heart) {
    const murmur = heart.murmur;
    heart.beats.forEach((beat, i) => {
      band(ctx, fig, beat.s1OnsetS, beat.s1OffsetS, COLORS.s1);
      band(ctx, fig, beat.s2OnsetS, beat.s2OffsetS, COLORS.s2);
      ctx.fillStyle = COLORS.label;
      ctx.fillText("S1", (beat.s1OnsetS / fig.durationS) * fig.width + 1, 12);
      ctx.fillText("S2", (beat.s2OnsetS / fig.durationS) * fig.width + 1, 12);
      counts.beats += 1;
      if (murmur.present) {
        const next = heart.beats[i + 1];
        if (murmur.timing === "systolic" || murmur.timing === "continuous") {
          band(ctx, fig, beat.s1OffsetS, beat.s2OnsetS, COLORS.murmur, fig.height - 14, 10);
          counts.murmurPhases += 1;
        }
        if ((murmur.timing === "diastolic" || murmur.timing === "continuous") && next) {
          band(ctx, fig, beat.s2OffsetS, next.s1OnsetS, COLORS.murmur, fig.height - 14, 10);
          counts.murmurPhases += 1;
        }
      }
    });
  }
  const lung = result.lung;
  if (lung) {
    for (const cycle of lung.cycles) {
      const x0 = (cycle.startS / fig.durationS) * fig.width;
      const x1 = (cycle.endS / fig.durationS) * fig.width;
      ctx.strokeStyle = COLORS.cycle;
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.moveTo(x0, fig.height - 3);
      ctx.lineTo(x1, fig.height - 3);
      ctx.stroke();
      counts.cycles += 1;
    }
    for (const w of lung.wheezes) {
      const y = freqY(trace, w.frequencyHz, fig);
      ctx.strokeStyle = COLORS.wheeze;
      ctx.lineWidth = 3;
      ctx.strokeRect((w.startS / fig.durationS) * fig.width, y - 5, ((w.endS - w.startS) / fig.durationS) * fig.width, 10);
      counts.wheezes += 1;
    }
    ctx.fillStyle = COLORS.crackle;
    for (const c of lung.crackles) {
      const x = (c.timeS / fig.durationS) * fig.width;
      ctx.beginPath();
      ctx.moveTo(x, 2);
      ctx.lineTo(x - 4, 12);
      ctx.lineTo(x + 4, 12);
      ctx.closePath();
      ctx.fill();
      counts.crackles += 1;
    }
  }
  return counts;
}

/** Second ticks along the bottom edge (every 1, 2, 5, 10 … s, so at most ~20 labels). */
export function drawTimeAxis(ctx: CanvasRenderingContext2D, fig: Figure): void {
  const steps = [1, 2, 5, 10, 30, 60, 120];
  const step_s = steps.find((s) => fig.durationS / s <= 20) ?? 300;
  ctx.font = "10px system-ui, sans-serif";
  ctx.fillStyle = "#334155";
  ctx.strokeStyle = "#334155";
  ctx.lineWidth = 1;
  for (let t = step_s; t < fig.durationS; t += step_s) {
    const x = Math.round((t / fig.durationS) * fig.width) + 0.5;
    ctx.beginPath();
    ctx.moveTo(x, fig.height);
    ctx.lineTo(x, fig.height - 6);
    ctx.stroke();
    ctx.fillText(`${t}s`, x + 2, fig.height - 8);
  }
}

/** The spectrogram's lowest and highest band centres, at the left edge. */
export function drawFrequencyLabels(ctx: CanvasRenderingContext2D, trace: Trace, fig: Figure): void {
  const freqs = trace.spectrogram?.freqsHz;
  if (!freqs?.length) return;
  ctx.font = "10px system-ui, sans-serif";
  ctx.fillStyle = "#ffffff";
  ctx.fillText(`${Math.round(freqs[freqs.length - 1])} Hz`, 3, 24);
  ctx.fillText(`${Math.round(freqs[0])} Hz`, 3, fig.height - 18);
}
