/** One exam, live: its sites on the body diagram with their findings, the patient-level
 * assessment, and the sites to record again. The backend recomputes the assessment in a
 * transaction whenever one of the exam's takes is analysed, so `onSnapshot` shows it settle. */
import { doc, onSnapshot } from "firebase/firestore";
import { h, replace } from "../dom";
import { bodyDiagram, type SiteMark, type SiteState } from "../draw/body";
import { dateTime, murmurTiming, siteName, statusLabel } from "../format";
import { LinkSource, downloadLink } from "../links";
import { showPatientName } from "../patients";
import { href, type Route } from "../router";
import { type Cleanup, type Session, clinicPath, readsClinicalData } from "../session";
import type { ExamLinks } from "../types/api.gen";
import type { AnalysisResult, Exam, ExamAssessment, ExamSite, LungExamAssessment } from "../types/firestore.gen";
import { examFindings } from "./worklist";

type CompactResult = Partial<AnalysisResult>;

export function siteState(site: ExamSite): [SiteState, string] {
  const result = site.result as CompactResult | null | undefined;
  switch (site.status) {
    case "pending":
    case "skipped":
      return ["pending", statusLabel(site.status)];
    case "awaiting_upload":
    case "analyzing":
      return ["busy", statusLabel(site.status)];
    case "rejected":
    case "failed":
      return ["failed", `${statusLabel(site.status)} — record again`];
  }
  if (site.usable === false || result?.quality?.usable === false) return ["unusable", "unusable — record again"];
  const heart = result?.heart;
  const lung = result?.lung;
  if (heart) {
    const rate = heart.heartRateBpm != null ? `HR ${Math.round(heart.heartRateBpm)} bpm, ` : "";
    const murmur = heart.murmur?.present;
    return [murmur ? "finding" : "normal", `${rate}${murmur ? `murmur${heart.murmur?.timing ? ` (${murmurTiming(heart.murmur)})` : ""}` : murmur === false ? "no murmur" : "murmur unknown"}`];
  }
  if (lung) {
    const events = [lung.wheezePresent && "wheeze", lung.cracklePresent && "crackles"].filter(Boolean).join(" + ");
    const rate = lung.respiratoryRateBpm != null ? `RR ${Math.round(lung.respiratoryRateBpm)}/min, ` : "";
    return [events ? "finding" : "normal", `${rate}${events || "no wheeze or crackles"}`];
  }
  return ["normal", "analyzed"];
}

export function renderExam(session: Session, root: HTMLElement, route: Route): Cleanup {
  const examId = route.id ?? "";
  replace(root, h("p", { class: "muted", role: "status" }, "Loading the exam…"));
  const downloads = h("div", { class: "downloads" });
  if (readsClinicalData(session)) {
    const source = new LinkSource<ExamLinks>(session.api, clinicPath(session, `/exams/${encodeURIComponent(examId)}/links`));
    source
      .get()
      .then((links) =>
        replace(
          downloads,
          downloadLink(session.api, source, links, (l) => l.reportPdf, "Download exam report (PDF)", "exam-pdf"),
          downloadLink(session.api, source, links, (l) => l.fhir, "Download FHIR bundle", "exam-fhir"),
        ),
      )
      .catch(() => replace(downloads));
  }
  return onSnapshot(
    doc(session.db, "clinics", session.clinic.clinicId, "exams", examId),
    (snap) => {
      if (!snap.exists()) {
        replace(root, h("p", { class: "error", role: "alert" }, "This exam does not exist (or was erased)."));
        return;
      }
      replace(root, ...examPage(session, examId, snap.data() as Exam), downloads);
    },
    (error) => replace(root, h("p", { class: "error", role: "alert" }, `The exam could not be read: ${error.message}`)),
  );
}

function examPage(session: Session, examId: string, exam: Exam): HTMLElement[] {
  const clinical = readsClinicalData(session);
  const patient = h("span", {});
  showPatientName(session, patient, exam.patientId);
  const marks: SiteMark[] = exam.siteOrder.map((site) => {
    const entry: ExamSite = exam.sites[site] ?? { status: "pending" };
    const [state, text] = siteState(entry);
    return { site, state, text, link: clinical && entry.recordingId ? href("recording", entry.recordingId) : undefined };
  });
  const a = exam.assessment as (Partial<ExamAssessment> & Partial<LungExamAssessment>) | null | undefined;
  return [
    h("h1", {}, `${exam.kind === "heart" ? "Heart" : "Lung"} exam `, h("span", { class: `badge status-${exam.status}`, id: "exam-status" }, statusLabel(exam.status ?? "open"))),
    h("p", { class: "muted" }, "Patient: ", clinical ? h("a", { href: href("patient", exam.patientId) }, patient) : patient, ` · ${exam.protocol} · started ${dateTime(exam.createdAt)} · ${examId}`),
    h(
      "div",
      { class: "exam-grid" },
      h("figure", { class: "card" }, bodyDiagram(marks, `Sites of the exam: ${marks.length}`), h("figcaption", { class: "legend" }, legend())),
      h(
        "section",
        { class: "card", "aria-labelledby": "assessment-title" },
        h("h2", { id: "assessment-title" }, "Assessment"),
        h("p", { id: "assessment" }, examFindings(exam)),
        a?.mostAudibleSite ? h("p", {}, `Most audible at ${siteName(a.mostAudibleSite)}${a.murmurTiming ? ` (${[a.murmurTiming, a.systolicTiming].filter(Boolean).join(", ")})` : ""}.`) : null,
        a?.rhythm ? h("p", {}, `Rhythm: ${a.rhythm}.`) : null,
        a?.reasons?.length ? h("p", { class: "muted" }, `Why: ${a.reasons.map((r) => r.replace(/_/g, " ")).join("; ")}.`) : null,
        h("h3", {}, "Record again"),
        (exam.reRecord ?? []).length ? h("ul", { id: "re-record" }, (exam.reRecord ?? []).map((s) => h("li", {}, siteName(s)))) : h("p", { id: "re-record" }, "Nothing — every recorded site could be interpreted."),
        h("p", { class: "note" }, "Decision support only: the findings are a screening aid for a clinician's judgement."),
      ),
    ),
    h("h2", {}, "Sites"),
    h(
      "table",
      { class: "worklist", id: "exam-sites" },
      h("thead", {}, h("tr", {}, ["Site", "Status", "Findings"].map((c) => h("th", { scope: "col" }, c)))),
      h(
        "tbody",
        {},
        marks.map((m) =>
          h(
            "tr",
            { "data-site": m.site, class: m.state === "finding" ? "flag" : null },
            h("td", {}, m.link ? h("a", { href: m.link }, siteName(m.site)) : siteName(m.site)),
            h("td", {}, statusLabel(exam.sites[m.site]?.status ?? "pending")),
            h("td", {}, m.text),
          ),
        ),
      ),
    ),
  ];
}

function legend(): HTMLElement[] {
  const states: [SiteState, string][] = [
    ["normal", "no finding"],
    ["finding", "finding"],
    ["unusable", "record again"],
    ["busy", "in progress"],
    ["pending", "not recorded"],
  ];
  return states.map(([state, label]) => h("span", { class: `key site-${state}` }, label));
}
