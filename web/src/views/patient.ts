/** A patient over time: trend charts of heart and respiratory rate (findings marked), the exams
 * with their assessments, and every recording (from `GET …/patients/{id}/history`). */
import { ApiError } from "../api";
import { h, replace } from "../dom";
import { trendChart, type TrendPoint } from "../draw/trend";
import { dateTime, siteName, statusLabel } from "../format";
import { href, type Route } from "../router";
import { type Cleanup, type Session, clinicPath, readsClinicalData } from "../session";
import type { HistoryEntry, PatientHistory } from "../types/api.gen";
import type { Exam } from "../types/firestore.gen";
import { examFindings } from "./worklist";

export function renderPatient(session: Session, root: HTMLElement, route: Route): Cleanup {
  const patientId = route.id ?? "";
  if (!readsClinicalData(session)) {
    replace(root, h("p", { class: "error", role: "alert" }, "Patient records are for clinicians and admins."));
    return;
  }
  replace(root, h("p", { class: "muted", role: "status" }, "Loading the patient's history…"));
  let live = true;
  session.api
    .get<PatientHistory>(clinicPath(session, `/patients/${encodeURIComponent(patientId)}/history`))
    .then((history) => {
      if (live) replace(root, ...patientPage(history));
    })
    .catch((e: unknown) => {
      if (live) replace(root, h("p", { class: "error", role: "alert" }, e instanceof ApiError ? e.message : String(e)));
    });
  return () => {
    live = false;
  };
}

function points(entries: HistoryEntry[], kind: "heart" | "lung"): TrendPoint[] {
  const out: TrendPoint[] = [];
  for (const e of entries) {
    const s = e.summary;
    if (e.kind !== kind || !s || !s.usable || !e.recordedAt) continue;
    const value = kind === "heart" ? s.heartRateBpm : s.respiratoryRateBpm;
    if (value == null) continue;
    const finding = kind === "heart" ? s.murmur === true : s.wheeze === true || s.crackle === true;
    const what = kind === "heart" ? (s.murmur ? "murmur" : "no murmur") : [s.wheeze && "wheeze", s.crackle && "crackles"].filter(Boolean).join(" + ") || "clear";
    out.push({ at: new Date(e.recordedAt), value, finding, label: `${dateTime(e.recordedAt)} · ${siteName(e.site)} · ${Math.round(value)} · ${what}` });
  }
  return out;
}

function patientPage(history: PatientHistory): HTMLElement[] {
  const p = history.patient;
  const name = p.displayName ?? p.label ?? p.id;
  const facts = [p.mrn && `MRN ${p.mrn}`, p.birthYear && `born ${p.birthYear}`, p.sex].filter(Boolean).join(" · ");
  const exams = [...history.exams].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  const recordings = [...history.recordings].sort((a, b) => (b.recordedAt ?? "").localeCompare(a.recordedAt ?? ""));
  return [
    h("h1", {}, name),
    h("p", { class: "muted" }, facts || p.id),
    h(
      "section",
      { class: "charts", "aria-label": "Trends" },
      h("figure", {}, h("figcaption", {}, "Heart rate (bpm) — large red points: murmur"), trendChart("Heart rate over time", "bpm", points(recordings, "heart"))),
      h("figure", {}, h("figcaption", {}, "Respiratory rate (/min) — large red points: wheeze or crackles"), trendChart("Respiratory rate over time", "/min", points(recordings, "lung"))),
    ),
    h("h2", {}, "Exams"),
    exams.length
      ? h(
          "table",
          { class: "worklist" },
          h("thead", {}, h("tr", {}, ["Date", "Protocol", "Status", "Findings", "Re-record"].map((c) => h("th", { scope: "col" }, c)))),
          h(
            "tbody",
            {},
            exams.map((e) =>
              h(
                "tr",
                {},
                h("td", {}, h("a", { href: href("exam", e.examId) }, dateTime(e.createdAt))),
                h("td", {}, e.protocol),
                h("td", {}, h("span", { class: `badge status-${e.status}` }, statusLabel(e.status))),
                h("td", {}, examFindings({ kind: e.kind, status: e.status, assessment: e.assessment } as unknown as Exam)),
                h("td", {}, e.reRecord.length ? e.reRecord.map(siteName).join(", ") : "—"),
              ),
            ),
          ),
        )
      : h("p", { class: "muted" }, "No exams."),
    h("h2", {}, "Recordings"),
    recordings.length
      ? h(
          "ul",
          { class: "plain" },
          recordings.map((r) =>
            h(
              "li",
              {},
              h("a", { href: href("recording", r.recordingId) }, `${dateTime(r.recordedAt)} · ${r.kind ?? "—"} · ${siteName(r.site)}`),
              " ",
              h("span", { class: `badge status-${r.status}` }, statusLabel(r.status)),
            ),
          ),
        )
      : h("p", { class: "muted" }, "No recordings."),
  ];
}
