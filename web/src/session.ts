/** Who is signed in, which clinic they work in and their role there: what every view needs. */
import type { Auth } from "firebase/auth";
import type { Firestore } from "firebase/firestore";
import type { Api } from "./api";
import type { AppConfig } from "./config";
import type { ClinicMembership, Me } from "./types/api.gen";

export interface Session {
  config: AppConfig;
  auth: Auth;
  db: Firestore;
  api: Api;
  me: Me;
  clinic: ClinicMembership;
}

/** Clinicians and admins read patients and full analyses; uploaders only recordings and exams. */
export function readsClinicalData(session: Session): boolean {
  return session.clinic.role === "admin" || session.clinic.role === "clinician";
}

const CLINIC_KEY = "steth.clinicId";

export function chooseClinic(me: Me, wanted?: string | null): ClinicMembership | null {
  const id = wanted ?? localStorage.getItem(CLINIC_KEY);
  return me.clinics.find((c) => c.clinicId === id) ?? me.clinics[0] ?? null;
}

export function rememberClinic(clinicId: string): void {
  localStorage.setItem(CLINIC_KEY, clinicId);
}

/** `/v1/clinics/{clinicId}` + path. */
export function clinicPath(session: Session, path = ""): string {
  return `/v1/clinics/${encodeURIComponent(session.clinic.clinicId)}${path}`;
}

/** A view renders into `root` and returns what stops its listeners when the route changes. */
export type Cleanup = (() => void) | void;
