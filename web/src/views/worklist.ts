/** The worklist: the clinic's recordings (or exams), newest first, live from Firestore.
 *
 * Ordered by `createdAt` (when the backend registered the take), which every recording has —
 * `recordedAt` is missing on files imported without metadata, and Firestore leaves documents
 * without the ordered field out of a query, so ordering by it would hide them. Filters are
 * equality filters plus a `createdAt` range, each combination backed by a composite index in
 * firestore.indexes.json. Pages of 50 with `startAfter` cursors, so a clinic with thousands of
 * recordings loads one page at a time; the page on screen is an `onSnapshot` listener. */
import {
  type DocumentData,
  type Query,
  type QueryConstraint,
  type QueryDocumentSnapshot,
  Timestamp,
  collection,
  limit,
  onSnapshot,
  orderBy,
  query,
  startAfter,
  where,
} from "firebase/firestore";
import { ApiError, query as qs } from "../api";
import { invitationList } from "./signin";
import { h, replace } from "../dom";
import { abnormal, dateTime, findings, percent, siteName, statusLabel } from "../format";
import { patientLabel, showPatientName } from "../patients";
import { href, type Route } from "../router";
import { type Cleanup, type Session, clinicPath, readsClinicalData } from "../session";
import type { PatientPage } from "../types/api.gen";
import type { Exam, ExamAssessment, LungExamAssessment, Recording } from "../types/firestore.gen";

export const PAGE_SIZE = 50;
const RECORDING_STATUSES = ["awaiting_upload", "analyzing", "analyzed", "rejected", "failed"];
const EXAM_STATUSES = ["open", "complete", "assessed", "cancelled"];

interface Filters {
  tab: "recordings" | "exams";
  status: string;
  kind: string;
  patient: string;
  from: string;
  to: string;
}

function filtersOf(route: Route): Filters {
  const p = route.params;
  return {
    tab: p.get("tab") === "exams" ? "exams" : "recordings",
    status: p.get("status") ?? "",
    kind: p.get("kind") ?? "",
    patient: p.get("patient") ?? "",
    from: p.get("from") ?? "",
    to: p.get("to") ?? "",
  };
}

function navigate(filters: Filters): void {
  const params: Record<string, string> = {};
  for (const [key, value] of Object.entries(filters)) if (value && !(key === "tab" && value === "recordings")) params[key] = value;
  location.hash = href("worklist", undefined, params);
}

/** The Firestore query of one page (without its cursor). */
export function worklistQuery(session: Session, filters: Filters): Query<DocumentData> {
  const constraints: QueryConstraint[] = [];
  if (filters.patient) constraints.push(where("patientId", "==", filters.patient));
  if (filters.status) constraints.push(where("status", "==", filters.status));
  if (filters.kind) constraints.push(where("kind", "==", filters.kind));
  if (filters.from) constraints.push(where("createdAt", ">=", Timestamp.fromDate(new Date(`${filters.from}T00:00:00`))));
  if (filters.to) {
    const end = new Date(`${filters.to}T00:00:00`);
    end.setDate(end.getDate() + 1);
    constraints.push(where("createdAt", "<", Timestamp.fromDate(end)));
  }
  return query(collection(session.db, "clinics", session.clinic.clinicId, filters.tab), ...constraints, orderBy("createdAt", "desc"));
}

export function renderWorklist(session: Session, root: HTMLElement, route: Route): Cleanup {
  const filters = filtersOf(route);
  const status = h("p", { class: "muted", role: "status", id: "worklist-status" }, "Loading…");
  const table = h("div", { class: "table-wrap" });
  const pager = h("div", { class: "pager" });
  replace(
    root,
    invitationList(session.api, session.me, () => location.reload()),
    h("h1", {}, "Worklist"),
    renderTabs(filters),
    renderFilterBar(session, filters),
    status,
    table,
    pager,
  );

  const cursors: (QueryDocumentSnapshot | null)[] = [null];
  let unsubscribe: (() => void) | null = null;
  let painted = false;
  const base = worklistQuery(session, filters);

  const listen = (): void => {
    if (unsubscribe) unsubscribe();
    const cursor = cursors[cursors.length - 1];
    const page = cursor ? query(base, startAfter(cursor), limit(PAGE_SIZE)) : query(base, limit(PAGE_SIZE));
    unsubscribe = onSnapshot(
      page,
      (snap) => {
        const docs = snap.docs;
        const first = (cursors.length - 1) * PAGE_SIZE;
        status.textContent = docs.length
          ? `${filters.tab === "exams" ? "Exams" : "Recordings"} ${first + 1}–${first + docs.length}, newest first · live`
          : cursors.length > 1
            ? "No older entries."
            : "Nothing matches these filters yet.";
        replace(table, filters.tab === "exams" ? examTable(session, docs) : recordingTable(session, docs));
        replace(
          pager,
          h("button", { type: "button", disabled: cursors.length === 1, onclick: () => { cursors.pop(); listen(); } }, "← Newer"),
          h(
            "button",
            {
              type: "button",
              disabled: docs.length < PAGE_SIZE,
              onclick: () => {
                cursors.push(docs[docs.length - 1]);
                listen();
              },
            },
            "Older →",
          ),
        );
        if (!painted) {
          painted = true;
          requestAnimationFrame(() => {
            performance.mark("worklist-painted");
            document.body.dataset.worklistPainted = "true";
          });
        }
      },
      (error) => {
        status.textContent = `The worklist could not be read: ${error.message}`;
        status.className = "error";
      },
    );
  };
  listen();
  return () => unsubscribe?.();
}

function renderTabs(filters: Filters): HTMLElement {
  const tab = (name: Filters["tab"], label: string): HTMLElement =>
    h(
      "a",
      {
        class: "tab",
        href: href("worklist", undefined, name === "exams" ? { tab: "exams" } : {}),
        "aria-current": filters.tab === name ? "page" : null,
      },
      label,
    );
  return h("nav", { class: "tabs", "aria-label": "Worklist" }, tab("recordings", "Recordings"), tab("exams", "Exams"));
}

function renderFilterBar(session: Session, filters: Filters): HTMLElement {
  const statuses = filters.tab === "exams" ? EXAM_STATUSES : RECORDING_STATUSES;
  const select = (id: string, label: string, value: string, options: string[], any: string): HTMLElement[] => [
    h("label", { for: id }, label),
    h(
      "select",
      { id, onchange: (e: Event) => navigate({ ...filters, [id.replace("filter-", "")]: (e.target as HTMLSelectElement).value }) },
      h("option", { value: "" }, any),
      options.map((o) => h("option", { value: o, selected: o === value }, statusLabel(o))),
    ),
  ];
  const date = (id: string, label: string, value: string): HTMLElement[] => [
    h("label", { for: id }, label),
    h("input", { id, type: "date", value, onchange: (e: Event) => navigate({ ...filters, [id.replace("filter-", "")]: (e.target as HTMLInputElement).value }) }),
  ];
  return h(
    "div",
    { class: "filters", role: "group", "aria-label": "Filters" },
    patientFilter(session, filters),
    h("span", { class: "field" }, select("filter-status", "Status", filters.status, statuses, "any status")),
    h("span", { class: "field" }, select("filter-kind", "Kind", filters.kind, ["heart", "lung"], "heart and lung")),
    h("span", { class: "field" }, date("filter-from", "From", filters.from)),
    h("span", { class: "field" }, date("filter-to", "To", filters.to)),
  );
}

/** Find a patient by record number (exact) or name (prefix) through the API; filter on its id. */
function patientFilter(session: Session, filters: Filters): HTMLElement {
  if (filters.patient) {
    const name = h("span", {}, filters.patient);
    showPatientName(session, name, filters.patient);
    return h(
      "span",
      { class: "field chip" },
      "Patient: ",
      name,
      h("button", { type: "button", "aria-label": "Clear the patient filter", onclick: () => navigate({ ...filters, patient: "" }) }, "×"),
    );
  }
  const input = h("input", { id: "filter-patient", type: "search", placeholder: "MRN or name", autocomplete: "off" });
  const choices = h("span", { class: "choices", role: "status" });
  const form = h(
    "form",
    { class: "field", role: "search" },
    h("label", { for: "filter-patient" }, "Patient"),
    input,
    h("button", { type: "submit" }, "Find"),
    choices,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    void findPatients(session, text)
      .then((page) => {
        if (page.items.length === 1) navigate({ ...filters, patient: page.items[0].id });
        else if (!page.items.length) replace(choices, "No patient found.");
        else
          replace(
            choices,
            page.items.slice(0, 8).map((p) =>
              h("button", { type: "button", class: "link-button", onclick: () => navigate({ ...filters, patient: p.id }) }, patientLabel(p as never, p.id)),
            ),
          );
      })
      .catch((e: unknown) => replace(choices, e instanceof ApiError ? e.message : String(e)));
  });
  return form;
}

async function findPatients(session: Session, text: string): Promise<PatientPage> {
  const byMrn = await session.api.get<PatientPage>(clinicPath(session, `/patients${qs({ mrn: text, limit: 10 })}`));
  if (byMrn.items.length || !readsClinicalData(session)) return byMrn;
  return session.api.get<PatientPage>(clinicPath(session, `/patients${qs({ q: text, limit: 10 })}`));
}

function recordingTable(session: Session, docs: QueryDocumentSnapshot[]): HTMLElement {
  const clinical = readsClinicalData(session);
  return h(
    "table",
    { class: "worklist", id: "recordings" },
    h("caption", { class: "visually-hidden" }, "Recordings, newest first"),
    h(
      "thead",
      {},
      h("tr", {}, ["Received", "Patient", "Site", "Status", "Findings", "Quality"].map((c) => h("th", { scope: "col" }, c))),
    ),
    h(
      "tbody",
      {},
      docs.map((snap) => {
        const rec = snap.data() as Recording;
        const patient = h("span", {});
        showPatientName(session, patient, rec.patientId);
        const usable = rec.summary?.usable;
        return h(
          "tr",
          { "data-id": snap.id, "data-status": rec.status, class: abnormal(rec.summary) ? "flag" : null },
          h("td", {}, clinical ? h("a", { href: href("recording", snap.id), "aria-label": `Review recording of ${dateTime(rec.createdAt)}` }, dateTime(rec.createdAt)) : dateTime(rec.createdAt)),
          h("td", {}, rec.patientId && clinical ? h("a", { href: href("patient", rec.patientId) }, patient) : patient),
          h("td", {}, `${rec.kind ?? "—"} · ${siteName(rec.site)}`),
          h("td", {}, h("span", { class: `badge status-${rec.status}` }, statusLabel(rec.status))),
          h("td", {}, rec.status === "rejected" || rec.status === "failed" ? (rec.error?.message ?? "—") : findings(rec.kind, rec.summary)),
          h(
            "td",
            {},
            rec.summary
              ? h("span", { class: usable ? "quality ok" : "quality bad" }, `${percent(rec.summary.qualityScore)} ${usable ? "usable" : "unusable"}`)
              : "—",
          ),
        );
      }),
    ),
  );
}

/** Key findings of an exam's assessment in a few words. */
export function examFindings(exam: Exam): string {
  const a = exam.assessment as (Partial<ExamAssessment> & Partial<LungExamAssessment>) | null | undefined;
  if (!a) return exam.status === "cancelled" ? "—" : "awaiting results";
  const parts: string[] = [];
  if (exam.kind === "heart") {
    parts.push(a.murmur === "present" ? `murmur (${(a.murmurSites ?? []).map(siteName).join(", ")})` : a.murmur === "absent" ? "no murmur" : "murmur unknown");
    if (a.heartRateBpm != null) parts.push(`HR ${Math.round(a.heartRateBpm)} bpm`);
  } else {
    parts.push(a.wheeze === "present" ? "wheeze" : a.wheeze === "absent" ? "no wheeze" : "wheeze unknown");
    parts.push(a.crackle === "present" ? "crackles" : a.crackle === "absent" ? "no crackles" : "crackles unknown");
    if (a.respiratoryRateBpm != null) parts.push(`RR ${Math.round(a.respiratoryRateBpm)}/min`);
  }
  return parts.join(" · ");
}

function examTable(session: Session, docs: QueryDocumentSnapshot[]): HTMLElement {
  return h(
    "table",
    { class: "worklist", id: "exams" },
    h("caption", { class: "visually-hidden" }, "Exams, newest first"),
    h("thead", {}, h("tr", {}, ["Started", "Patient", "Protocol", "Status", "Sites", "Findings"].map((c) => h("th", { scope: "col" }, c)))),
    h(
      "tbody",
      {},
      docs.map((snap) => {
        const exam = snap.data() as Exam;
        const patient = h("span", {});
        showPatientName(session, patient, exam.patientId);
        const sites = Object.values(exam.sites);
        const done = sites.filter((s) => s?.status === "analyzed").length;
        return h(
          "tr",
          { "data-id": snap.id, "data-status": exam.status },
          h("td", {}, h("a", { href: href("exam", snap.id) }, dateTime(exam.createdAt))),
          h("td", {}, readsClinicalData(session) ? h("a", { href: href("patient", exam.patientId) }, patient) : patient),
          h("td", {}, exam.protocol),
          h("td", {}, h("span", { class: `badge status-${exam.status}` }, statusLabel(exam.status ?? "open"))),
          h("td", {}, `${done}/${exam.siteOrder.length} analyzed${exam.reRecord?.length ? ` · re-record ${exam.reRecord.length}` : ""}`),
          h("td", {}, examFindings(exam)),
        );
      }),
    ),
  );
}

