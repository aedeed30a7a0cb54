/** How figures and codes read on screen: one place, so the worklist, the exam and the review
 * say the same thing. Unusable takes never show figures they cannot support. */
import type { Timestamp } from "firebase/firestore";
import type { Murmur, RecordingSummary } from "./types/firestore.gen";

export function dateTime(value: Timestamp | string | null | undefined): string {
  if (!value) return "—";
  const date = typeof value === "string" ? new Date(value) : value.toDate();
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function siteName(site: string | null | undefined): string {
  return site ? site.replace(/-/g, " ") : "—";
}

export const STATUS_LABELS: Record<string, string> = {
  awaiting_upload: "awaiting upload",
  analyzing: "analyzing",
  analyzed: "analyzed",
  rejected: "rejected",
  failed: "failed",
  open: "open",
  complete: "complete",
  assessed: "assessed",
  cancelled: "cancelled",
  pending: "pending",
  skipped: "skipped",
};

export function statusLabel(status: string): string {
  return STATUS_LABELS[status] ?? status;
}

/** The findings of one recording in a few words, from its summary. */
export function findings(kind: string | null | undefined, summary: RecordingSummary | null | undefined): string {
  if (!summary) return "—";
  if (!summary.usable) return "Unusable take — record again";
  const parts: string[] = [];
  if (kind === "heart") {
    if (summary.heartRateBpm != null) parts.push(`HR ${Math.round(summary.heartRateBpm)} bpm`);
    if (summary.rhythm) parts.push(summary.rhythm);
    if (summary.murmur === true) parts.push(`murmur${summary.murmurTiming ? ` (${summary.murmurTiming})` : ""}`);
    else if (summary.murmur === false) parts.push("no murmur");
  } else {
    if (summary.respiratoryRateBpm != null) parts.push(`RR ${Math.round(summary.respiratoryRateBpm)}/min`);
    const events = [summary.wheeze && "wheeze", summary.crackle && "crackles"].filter(Boolean);
    parts.push(events.length ? events.join(" + ") : "no wheeze or crackles");
  }
  return parts.join(" · ");
}

/** A reported murmur's timing: "systolic", "systolic, holosystolic", … ("" when none), with
 * the probability that a systolic murmur is holosystolic when `detailed`. */
export function murmurTiming(murmur: Murmur, detailed = false): string {
  if (!murmur.timing) return "";
  if (!murmur.systolicTiming) return murmur.timing;
  const p = detailed && murmur.holosystolicScore != null ? ` (P holosystolic ${percent(murmur.holosystolicScore)})` : "";
  return `${murmur.timing}, ${murmur.systolicTiming}${p}`;
}

/** True when the take shows something a clinician should look at. */
export function abnormal(summary: RecordingSummary | null | undefined): boolean {
  return !!summary && summary.usable && (summary.murmur === true || summary.wheeze === true || summary.crackle === true);
}

export function percent(value: number | null | undefined): string {
  return value == null ? "—" : `${Math.round(value * 100)} %`;
}
