/** API bodies of routes that are not generated yet (the web-api branch adds them; the generated
 * api.gen.ts takes over when it lands). Shapes as agreed with the backend. */

/** `GET …/recordings/{id}/trace`: what the review draws, compact enough for a tablet. */
export interface Trace {
  recordingId: string;
  kind: "heart" | "lung";
  durationS: number;
  sampleRateHz: number;
  envelope: { binS: number; min: number[]; max: number[] };
  /** base64 of uint8 frames × freqs (row-major), 0..255 mapping to dbMin..dbMax */
  spectrogram: null | { frameS: number; freqsHz: number[]; dbMin: number; dbMax: number; db: string };
}

/** `POST …/recordings/{id}/links`: same-origin paths with a short-lived `?access=` token. */
export interface MediaLinks {
  expiresAt: string;
  audio: string;
  reportPdf: string;
  reportPng?: string;
  fhir: string;
  trace?: string;
}

export interface Invitation {
  id: string;
  clinicId: string;
  email: string;
  role: "admin" | "clinician" | "uploader";
  status: string;
  createdAt: string;
  createdBy: string;
  expiresAt: string;
  clinicName?: string | null;
}
