// Firestore security rules, through the Firebase JS SDK the frontend uses, against the Firestore
// emulator (FIRESTORE_EMULATOR_HOST). Run by tests/cloud/test_firestore_rules.py with node --test.
import { readFileSync } from "node:fs";
import { after, before, beforeEach, describe, test } from "node:test";
import {
  assertFails,
  assertSucceeds,
  initializeTestEnvironment,
} from "@firebase/rules-unit-testing";
import {
  collection,
  collectionGroup,
  deleteDoc,
  doc,
  getDoc,
  getDocs,
  query,
  setDoc,
  updateDoc,
  where,
} from "firebase/firestore";

const [host, port] = process.env.FIRESTORE_EMULATOR_HOST.split(":");
const rules = readFileSync(new URL("../../firestore.rules", import.meta.url), "utf8");
let env;

const USERS = {
  admin: "u-admin",          // admin of c1
  clinician: "u-clin",       // clinician of c1
  uploader: "u-upl",         // uploader of c1
  otherAdmin: "u-other",     // admin of c2 only
  stranger: "u-stranger",    // signed in, member of nothing
};

function db(who) {
  return who === "anonymous"
    ? env.unauthenticatedContext().firestore()
    : env.authenticatedContext(USERS[who]).firestore();
}

before(async () => {
  env = await initializeTestEnvironment({
    projectId: "demo-stethoscope",
    firestore: { host, port: Number(port), rules },
  });
});

after(async () => {
  await env.clearFirestore();
  await env.cleanup();
});

beforeEach(async () => {
  await env.clearFirestore();
  await env.withSecurityRulesDisabled(async (ctx) => {
    const fs = ctx.firestore();
    await setDoc(doc(fs, "clinics/c1"), { name: "Clinic 1" });
    await setDoc(doc(fs, "clinics/c2"), { name: "Clinic 2" });
    await setDoc(doc(fs, "clinics/c1/members/u-admin"), { role: "admin" });
    await setDoc(doc(fs, "clinics/c1/members/u-admin2"), { role: "admin" });
    await setDoc(doc(fs, "clinics/c1/members/u-clin"), { role: "clinician" });
    await setDoc(doc(fs, "clinics/c1/members/u-upl"), { role: "uploader" });
    await setDoc(doc(fs, "clinics/c1/members/u-clin2"), { role: "clinician", addedBy: "u-admin2" });
    await setDoc(doc(fs, "clinics/c2/members/u-other"), { role: "admin" });
    await setDoc(doc(fs, "clinics/c1/patients/p1"), { label: "Bed 4" });
    await setDoc(doc(fs, "clinics/c2/patients/p9"), { label: "Cot 1" });
    await setDoc(doc(fs, "clinics/c1/recordings/r1"), { patientId: "p1", status: "analyzed", createdBy: "u-upl" });
    await setDoc(doc(fs, "clinics/c1/recordings/r1/analyses/1.0.0"), { analysisVersion: "1.0.0" });
    await setDoc(doc(fs, "clinics/c2/recordings/r9"), { patientId: "p9", status: "analyzed" });
    await setDoc(doc(fs, "clinics/c1/exams/x1"), { patientId: "p1", status: "assessed", assessment: { murmur: "absent" } });
    await setDoc(doc(fs, "clinics/c1/audit/e1"), { uid: "u-clin", action: "recording.audio", patientId: "p1" });
    await setDoc(doc(fs, "clinics/c1/patientMrns/4d52"), { patientId: "p1" });
    await setDoc(doc(fs, "clinics/c1/recordings/r1/traces/17"), { generation: "17" });
    await setDoc(doc(fs, "clinics/c1/invitations/i1"), { email: "new@clinic.example", role: "clinician", status: "pending" });
  });
});

const allowed = (p) => assertSucceeds(p);
const denied = (p) => assertFails(p);
const ROLES = ["admin", "clinician", "uploader", "otherAdmin", "stranger", "anonymous"];

// [collection path, who may read]
const READS = [
  ["clinics/c1", ["admin", "clinician", "uploader"]],
  ["clinics/c1/patients/p1", ["admin", "clinician"]],
  ["clinics/c1/recordings/r1", ["admin", "clinician", "uploader"]],
  ["clinics/c1/recordings/r1/analyses/1.0.0", ["admin", "clinician"]],  // as the API's reports
  ["clinics/c1/members/u-clin", ["admin", "clinician"]],  // admins and the member themself
  ["clinics/c1/audit/e1", ["admin"]],  // the audit trail: admins only
  ["clinics/c1/exams/x1", ["admin", "clinician", "uploader"]],
  ["clinics/c1/patientMrns/4d52", []],  // record-number reservations: the backend's
  ["clinics/c1/recordings/r1/traces/17", []],  // drawing traces: served by the API, audited
  ["clinics/c1/invitations/i1", ["admin"]],  // invitations: the clinic's admins
];

describe("reads: role x document", () => {
  for (const [path, readers] of READS) {
    for (const who of ROLES) {
      const ok = readers.includes(who);
      test(`${who} ${ok ? "may" : "may not"} read ${path}`, () =>
        (ok ? allowed : denied)(getDoc(doc(db(who), path))));
    }
  }
});

describe("cross-clinic", () => {
  test("c1 admin may not read c2's recording", () => denied(getDoc(doc(db("admin"), "clinics/c2/recordings/r9"))));
  test("c1 clinician may not read c2's patient", () => denied(getDoc(doc(db("clinician"), "clinics/c2/patients/p9"))));
  test("c2 admin may not list c1's recordings", () => denied(getDocs(collection(db("otherAdmin"), "clinics/c1/recordings"))));
  test("c2 admin may not add itself to c1", () =>
    denied(setDoc(doc(db("otherAdmin"), "clinics/c1/members/u-other"), { role: "admin" })));
  test("nobody may query recordings across clinics", () =>
    denied(getDocs(query(collectionGroup(db("admin"), "recordings"), where("status", "==", "analyzed")))));
});

describe("queries", () => {
  test("clinician may list the clinic's recordings", () => allowed(getDocs(collection(db("clinician"), "clinics/c1/recordings"))));
  test("uploader may list the clinic's recordings", () => allowed(getDocs(collection(db("uploader"), "clinics/c1/recordings"))));
  test("uploader may not list patients", () => denied(getDocs(collection(db("uploader"), "clinics/c1/patients"))));
  test("clinician may not list members", () => denied(getDocs(collection(db("clinician"), "clinics/c1/members"))));
  test("admin may list members", () => allowed(getDocs(collection(db("admin"), "clinics/c1/members"))));
});

describe("server-only fields and documents", () => {
  for (const who of ["admin", "clinician", "uploader"]) {
    test(`${who} may not change a recording's status`, () =>
      denied(updateDoc(doc(db(who), "clinics/c1/recordings/r1"), { status: "analyzed" })));
    test(`${who} may not write a summary`, () =>
      denied(updateDoc(doc(db(who), "clinics/c1/recordings/r1"), { summary: { heartRateBpm: 60 } })));
    test(`${who} may not create a recording`, () =>
      denied(setDoc(doc(db(who), "clinics/c1/recordings/new"), { patientId: "p1", status: "analyzed" })));
    test(`${who} may not write an analysis`, () =>
      denied(setDoc(doc(db(who), "clinics/c1/recordings/r1/analyses/x"), { result: {} })));
    test(`${who} may not create a patient directly`, () =>
      denied(setDoc(doc(db(who), "clinics/c1/patients/p2"), { label: "Bed 5" })));
    test(`${who} may not write an audit entry`, () =>
      denied(setDoc(doc(db(who), "clinics/c1/audit/forged"), { uid: who, action: "patient.read" })));
    test(`${who} may not change an audit entry`, () =>
      denied(updateDoc(doc(db(who), "clinics/c1/audit/e1"), { uid: "someone-else" })));
    test(`${who} may not delete an audit entry`, () => denied(deleteDoc(doc(db(who), "clinics/c1/audit/e1"))));
    test(`${who} may not create or accept an invitation directly`, () =>
      denied(setDoc(doc(db(who), "clinics/c1/invitations/i2"), { email: "x@y.z", role: "admin", status: "pending" })));
    test(`${who} may not change an invitation`, () =>
      denied(updateDoc(doc(db(who), "clinics/c1/invitations/i1"), { status: "accepted" })));
    test(`${who} may not write an exam's assessment`, () =>
      denied(updateDoc(doc(db(who), "clinics/c1/exams/x1"), { assessment: { murmur: "present" } })));
    test(`${who} may not create an exam directly`, () =>
      denied(setDoc(doc(db(who), "clinics/c1/exams/x2"), { patientId: "p1", status: "open" })));
    test(`${who} may not reserve a record number`, () =>
      denied(setDoc(doc(db(who), "clinics/c1/patientMrns/41"), { patientId: "p2" })));
  }
  test("admin may not change storage fields", () =>
    denied(updateDoc(doc(db("admin"), "clinics/c1/recordings/r1"), { storagePath: "recordings/c1/other.wav" })));
  test("admin may not delete a recording", () => denied(deleteDoc(doc(db("admin"), "clinics/c1/recordings/r1"))));
  test("admin may not rename the clinic", () => denied(updateDoc(doc(db("admin"), "clinics/c1"), { name: "x" })));
  test("nobody may write outside clinics", () => denied(setDoc(doc(db("admin"), "audit/x"), { a: 1 })));
});

describe("members are managed by admins", () => {
  test("admin may add a clinician", () =>
    allowed(setDoc(doc(db("admin"), "clinics/c1/members/u-new"), { role: "clinician", addedBy: "u-admin" })));
  test("admin may not add an unknown role", () =>
    denied(setDoc(doc(db("admin"), "clinics/c1/members/u-new"), { role: "owner" })));
  test("admin may not add extra fields", () =>
    denied(setDoc(doc(db("admin"), "clinics/c1/members/u-new"), { role: "clinician", superuser: true })));
  test("admin may not forge addedBy", () =>
    denied(setDoc(doc(db("admin"), "clinics/c1/members/u-new"), { role: "clinician", addedBy: "u-clin" })));
  test("admin may change a role", () => allowed(updateDoc(doc(db("admin"), "clinics/c1/members/u-upl"), { role: "clinician" })));
  test("admin may name the member's uid", () =>
    allowed(setDoc(doc(db("admin"), "clinics/c1/members/u-new2"), { role: "uploader", uid: "u-new2" })));
  test("admin may not give a member another uid", () =>
    denied(setDoc(doc(db("admin"), "clinics/c1/members/u-new3"), { role: "uploader", uid: "u-admin" })));
  test("admin may change a member another admin added", () =>
    allowed(updateDoc(doc(db("admin"), "clinics/c1/members/u-clin2"), { role: "uploader" })));
  test("admin may not rewrite who added a member", () =>
    denied(updateDoc(doc(db("admin"), "clinics/c1/members/u-clin2"), { addedBy: "u-clin" })));
  test("admin may remove another member", () => allowed(deleteDoc(doc(db("admin"), "clinics/c1/members/u-upl"))));
  test("admin may not remove itself", () => denied(deleteDoc(doc(db("admin"), "clinics/c1/members/u-admin"))));
  test("admin may not demote itself", () => denied(updateDoc(doc(db("admin"), "clinics/c1/members/u-admin"), { role: "uploader" })));
  test("clinician may not add members", () => denied(setDoc(doc(db("clinician"), "clinics/c1/members/u-new"), { role: "uploader" })));
  test("clinician may not promote itself", () => denied(updateDoc(doc(db("clinician"), "clinics/c1/members/u-clin"), { role: "admin" })));
  test("uploader may not promote itself", () => denied(updateDoc(doc(db("uploader"), "clinics/c1/members/u-upl"), { role: "admin" })));
  test("a stranger may not join", () => denied(setDoc(doc(db("stranger"), "clinics/c1/members/u-stranger"), { role: "uploader" })));
  test("uploader may read its own membership", () => allowed(getDoc(doc(db("uploader"), "clinics/c1/members/u-upl"))));
  test("uploader may not read other memberships", () => denied(getDoc(doc(db("uploader"), "clinics/c1/members/u-admin"))));
});
