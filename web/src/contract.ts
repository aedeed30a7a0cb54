/** API bodies of routes this backend does not generate yet: invitations (another branch adds them;
 * the generated api.gen.ts takes over when it lands). Shapes as agreed with the backend. */

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
