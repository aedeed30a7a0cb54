/** Recording review: the trace (heart waveform or lung spectrogram) with the analysis overlaid,
 * audio with a cursor moving over the trace and a heart/lung band filter, and the report and
 * FHIR downloads. Media come through short-lived same-origin links (`POST …/links`), so
 * `<audio>` streams with Range requests and WebAudio may filter it. Unusable, rejected and
 * failed takes say so and show no figure they cannot support. Uploaders are not shown clinical
 * data (the rules deny them the analysis; the API denies them the media). */
import { doc, getDoc, onSnapshot } from "firebase/firestore";
import { ApiError } from "../api";
import { h, replace } from "../dom";
import { type Figure, drawFrequencyLabels, drawOverlay, drawSpectrogram, drawTimeAxis, drawWaveform, prepareCanvas } from "../draw/trace";
import { dateTime, murmurTiming, percent, siteName, statusLabel } from "../format";
import { LinkSource, downloadLink } from "../links";
import { showPatientName } from "../patients";
import { href, type Route } from "../router";
import { type Cleanup, type Session, clinicPath, readsClinicalData } from "../session";
import type { MediaLinks, RecordingTrace as Trace } from "../types/api.gen";
import type { Analysis, AnalysisResult, Recording } from "../types/firestore.gen";

/** Pass bands of the listening filter: heart sounds and murmurs sit low, breath sounds higher
 * (the bands of a stethoscope's bell and diaphragm modes; the analysis uses similar ones). */
export const BANDS = { off: null, heart: [20, 200], lung: [100, 1000] } as const;

export function renderReview(session: Session, root: HTMLElement, route: Route): Cleanup {
  const recordingId = route.id ?? "";
  const clinical = readsClinicalData(session);
  const header = h("div", {});
  const body = h("div", {});
  replace(root, header, body);
  if (!clinical) {
    replace(
      body,
      h(
        "p",
        { class: "error", role: "alert", id: "review-denied" },
        "Recording review is for clinicians and admins. As an uploader you see the status of your recordings in the worklist.",
      ),
    );
  }
  let review: ReviewPanel | null = null;
  let shownAnalysis: string | null = null;
  const stop = onSnapshot(
    doc(session.db, "clinics", session.clinic.clinicId, "recordings", recordingId),
    (snap) => {
      if (!snap.exists()) {
        replace(header, h("h1", {}, "Recording not found"));
        replace(body);
        return;
      }
      const rec = snap.data() as Recording;
      replace(header, ...recordingHeader(session, recordingId, rec));
      if (!clinical) return;
      if (rec.status === "rejected" || rec.status === "failed") {
        review?.stop();
        review = null;
        shownAnalysis = null;
        replace(body, h("p", { class: "error", role: "alert" }, `${statusLabel(rec.status)}: ${rec.error?.message ?? "no result"}. Record this site again.`));
      } else if (rec.status !== "analyzed" || !rec.analysisId) {
        replace(body, h("p", { class: "muted", role: "status" }, "Waiting for the analysis — this page updates by itself."));
      } else if (rec.analysisId !== shownAnalysis) {
        review?.stop();
        shownAnalysis = rec.analysisId;
        review = new ReviewPanel(session, recordingId, body);
        void review.load(rec.analysisId);
      }
    },
    (error) => replace(body, h("p", { class: "error", role: "alert" }, `The recording could not be read: ${error.message}`)),
  );
  return () => {
    stop();
    review?.stop();
  };
}

function recordingHeader(session: Session, recordingId: string, rec: Recording): HTMLElement[] {
  const patient = h("span", {});
  showPatientName(session, patient, rec.patientId);
  return [
    h("h1", {}, `${rec.kind === "lung" ? "Lung" : "Heart"} recording · ${siteName(rec.site)} `, h("span", { class: `badge status-${rec.status}`, id: "recording-status" }, statusLabel(rec.status))),
    h(
      "p",
      { class: "muted" },
      "Patient: ",
      rec.patientId && readsClinicalData(session) ? h("a", { href: href("patient", rec.patientId) }, patient) : patient,
      ` · recorded ${dateTime(rec.recordedAt)}`,
      rec.durationS ? ` · ${rec.durationS.toFixed(1)} s` : "",
      rec.examId ? [" · ", h("a", { href: href("exam", rec.examId) }, "exam")] : "",
      ` · ${recordingId}`,
    ),
  ];
}

class ReviewPanel {
  private stopped = false;
  private frame = 0;
  private audioCtx: AudioContext | null = null;
  private filters: BiquadFilterNode[] = [];
  private readonly links: LinkSource<MediaLinks>;

  constructor(
    private readonly session: Session,
    private readonly recordingId: string,
    private readonly root: HTMLElement,
  ) {
    this.links = new LinkSource<MediaLinks>(session.api, this.path("/links"));
  }

  stop(): void {
    this.stopped = true;
    cancelAnimationFrame(this.frame);
    void this.audioCtx?.close();
    this.root.querySelector("audio")?.pause();
  }

  private path(suffix: string): string {
    return clinicPath(this.session, `/recordings/${encodeURIComponent(this.recordingId)}${suffix}`);
  }

  async load(analysisId: string): Promise<void> {
    replace(this.root, h("p", { class: "muted", role: "status" }, "Loading the analysis…"));
    try {
      const [analysisSnap, links] = await Promise.all([
        getDoc(doc(this.session.db, "clinics", this.session.clinic.clinicId, "recordings", this.recordingId, "analyses", analysisId)),
        this.links.get(),
      ]);
      const trace = await this.session.api.get<Trace>(links.trace);
      if (this.stopped) return;
      const analysis = analysisSnap.data() as Analysis | undefined;
      if (!analysis) throw new Error("the analysis document is missing");
      this.render(analysis.result as unknown as AnalysisResult, trace, links);
    } catch (e) {
      if (this.stopped) return;
      replace(this.root, h("p", { class: "error", role: "alert", id: "review-error" }, `The review could not be loaded: ${e instanceof ApiError ? `${e.message} (${e.code})` : String(e)}`));
    }
  }

  private render(result: AnalysisResult, trace: Trace, links: MediaLinks): void {
    const usable = result.quality.usable;
    // the figure card's padding and border take 2 × 17 px of the page's width
    const width = Math.max(320, Math.min((this.root.clientWidth || 900) - 36, 1100));
    const height = trace.kind === "lung" ? 220 : 180;
    const fig: Figure = { width, height, durationS: trace.durationS };
    const canvas = h("canvas", { id: "trace", role: "img", "aria-label": trace.kind === "lung" ? "Spectrogram of the recording" : "Waveform of the recording" });
    const ctx = prepareCanvas(canvas, width, height);
    if (trace.kind === "lung" && trace.spectrogram) drawSpectrogram(ctx, trace, fig);
    else drawWaveform(ctx, trace, fig);
    const counts = usable ? drawOverlay(ctx, trace, result, fig) : null;
    drawTimeAxis(ctx, fig);
    if (trace.kind === "lung") drawFrequencyLabels(ctx, trace, fig);
    const cursor = h("div", { class: "cursor", id: "cursor", "aria-hidden": "true", "data-time": "0" });
    const stage = h("div", { class: "stage", style: `width:${width}px;height:${height}px` }, canvas, cursor);
    const audio = h("audio", { id: "audio", controls: true, preload: "auto", src: this.session.api.url(links.audio) });
    const filter = h(
      "select",
      { id: "band-filter" },
      h("option", { value: "off" }, "no filter"),
      h("option", { value: "heart", selected: trace.kind === "heart" ? false : false }, "heart band 20–200 Hz"),
      h("option", { value: "lung" }, "lung band 100–1000 Hz"),
    );
    filter.addEventListener("change", () => this.setBand(audio, filter.value as keyof typeof BANDS));
    stage.addEventListener("click", (event) => {
      const box = stage.getBoundingClientRect();
      audio.currentTime = ((event.clientX - box.left) / box.width) * trace.durationS;
    });
    const tick = (): void => {
      const t = audio.currentTime;
      cursor.style.left = `${(Math.min(t, trace.durationS) / trace.durationS) * 100}%`;
      cursor.dataset.time = t.toFixed(3);
      this.frame = requestAnimationFrame(tick);
    };
    this.frame = requestAnimationFrame(tick);
    const api = this.session.api;
    replace(
      this.root,
      usable
        ? null
        : h(
            "p",
            { class: "warning", role: "alert", id: "unusable" },
            `This take is unusable (${(result.quality.reasons ?? []).map((r) => r.replace(/_/g, " ")).join(", ") || "poor quality"}): record this site again. No findings are shown for it.`,
          ),
      h("figure", { class: "card trace-card" }, stage, h("figcaption", { class: "legend" }, legendFor(trace.kind, usable), counts ? overlaySummary(counts) : null)),
      h(
        "div",
        { class: "player card" },
        audio,
        h("span", { class: "field" }, h("label", { for: "band-filter" }, "Listening filter"), filter),
        downloadLink(api, this.links, links, (l) => l.reportPdf, "Download PDF report", "download-pdf"),
        downloadLink(api, this.links, links, (l) => l.fhir, "Download FHIR bundle", "download-fhir"),
      ),
      usable ? figures(result) : null,
    );
  }

  /** Route the audio through a high-pass and a low-pass biquad (the band), or straight out. */
  private setBand(audio: HTMLAudioElement, band: keyof typeof BANDS): void {
    if (!this.audioCtx) {
      this.audioCtx = new AudioContext();
      const source = this.audioCtx.createMediaElementSource(audio);
      const high = this.audioCtx.createBiquadFilter();
      high.type = "highpass";
      const low = this.audioCtx.createBiquadFilter();
      low.type = "lowpass";
      source.connect(high).connect(low).connect(this.audioCtx.destination);
      this.filters = [high, low];
    }
    void this.audioCtx.resume();
    const [high, low] = this.filters;
    const range = BANDS[band];
    high.frequency.value = range ? range[0] : 10;
    low.frequency.value = range ? range[1] : this.audioCtx.sampleRate / 2 - 1;
    audio.dataset.band = band;
  }
}

function legendFor(kind: string, usable: boolean): HTMLElement[] {
  const keys: [string, string][] = !usable
    ? []
    : kind === "lung"
      ? [["wheeze", "wheeze (at its pitch)"], ["crackle", "crackle"], ["cycle", "breath cycle"]]
      : [["s1", "S1"], ["s2", "S2"], ["murmur", "murmur phase"]];
  return [h("span", { class: "key key-cursor" }, "playback"), ...keys.map(([k, label]) => h("span", { class: `key key-${k}` }, label))];
}

function overlaySummary(c: { beats: number; murmurPhases: number; wheezes: number; crackles: number; cycles: number }): HTMLElement {
  const parts = c.beats ? [`${c.beats} beats`, `${c.murmurPhases} murmur phases`] : [`${c.cycles} breath cycles`, `${c.wheezes} wheezes`, `${c.crackles} crackles`];
  return h("span", { class: "muted", id: "overlay-counts", "data-beats": c.beats, "data-wheezes": c.wheezes, "data-crackles": c.crackles }, ` Marked: ${parts.join(", ")}.`);
}

function figures(result: AnalysisResult): HTMLElement {
  const rows: [string, string][] = [["Quality", `${percent(result.quality.score)} · SNR ${result.quality.snrDb?.toFixed?.(1) ?? "—"} dB`]];
  const heart = result.heart;
  if (heart) {
    rows.push(
      ["Heart rate", heart.heartRateBpm != null ? `${Math.round(heart.heartRateBpm)} bpm (confidence ${percent(heart.heartRateConfidence)})` : "not determined"],
      ["Rhythm", heart.rhythm ?? "—"],
      ["Murmur", heart.murmur.present == null ? "unknown" : heart.murmur.present ? `present${heart.murmur.timing ? `, ${murmurTiming(heart.murmur, true)}` : ""} (score ${heart.murmur.score.toFixed(2)})` : "absent"],
      ["S1/S2 segmentation", `${heart.beats.length} beats (confidence ${percent(heart.segmentationConfidence)})`],
    );
  }
  const lung = result.lung;
  if (lung) {
    rows.push(
      ["Respiratory rate", lung.respiratoryRateBpm != null ? `${Math.round(lung.respiratoryRateBpm)}/min` : "not determined"],
      ["Wheeze", lung.wheezePresent == null ? "unknown" : lung.wheezePresent ? `present (${lung.wheezes.length} events)` : "absent"],
      ["Crackles", lung.cracklePresent == null ? "unknown" : lung.cracklePresent ? `present (${lung.crackles.length}, ${(lung.cracklesPerMin ?? 0).toFixed(1)}/min)` : "absent"],
    );
  }
  return h(
    "section",
    { class: "card", "aria-labelledby": "figures-title" },
    h("h2", { id: "figures-title" }, "Findings"),
    h("dl", { class: "figures", id: "figures" }, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
    h("p", { class: "note" }, "Decision support only: a screening aid for a clinician's judgement."),
  );
}
