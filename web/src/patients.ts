/** Patient names for lists: read once per session from Firestore (admins and clinicians only —
 * the rules keep patients from uploaders, who see the patient id instead). */
import { doc, getDoc } from "firebase/firestore";
import { type Session, readsClinicalData } from "./session";
import type { Patient } from "./types/firestore.gen";

const cache = new Map<string, Promise<Patient | null>>();

export function patientDoc(session: Session, patientId: string): Promise<Patient | null> {
  const key = `${session.clinic.clinicId}/${patientId}`;
  let found = cache.get(key);
  if (!found) {
    found = getDoc(doc(session.db, "clinics", session.clinic.clinicId, "patients", patientId))
      .then((snap) => (snap.exists() ? (snap.data() as Patient) : null))
      .catch(() => null);
    cache.set(key, found);
  }
  return found;
}

export function patientLabel(patient: Patient | null, patientId: string): string {
  if (!patient) return patientId;
  if (patient.status === "erased") return "erased patient";
  const name = patient.displayName ?? patient.label ?? patientId;
  return patient.mrn ? `${name} (${patient.mrn})` : name;
}

/** Fill `el` with the patient's name when the caller may read it; the id otherwise. */
export function showPatientName(session: Session, el: HTMLElement, patientId: string | null | undefined): void {
  el.textContent = patientId ?? "—";
  if (!patientId || !readsClinicalData(session)) return;
  void patientDoc(session, patientId).then((patient) => {
    el.textContent = patientLabel(patient, patientId);
  });
}
