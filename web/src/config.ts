/** Where the app finds Firebase and the API. Locally `scripts/web.py` serves `/config.json` with
 * the emulator hosts; on Firebase Hosting the reserved `/__/firebase/init.json` gives the
 * project's web config and the API is same-origin (firebase.json rewrites `/v1/**`). */
export interface AppConfig {
  firebase: { projectId: string; apiKey: string; authDomain?: string };
  /** Prefix of the API's `/v1` routes; "" when the API is same-origin. */
  apiBase: string;
  emulators?: { auth: string; firestore: { host: string; port: number } };
}

export async function loadConfig(): Promise<AppConfig> {
  const local = await fetch("/config.json", { cache: "no-store" });
  if (local.ok) return (await local.json()) as AppConfig;
  const hosting = await fetch("/__/firebase/init.json");
  if (!hosting.ok) throw new Error("No app configuration (/config.json or /__/firebase/init.json)");
  const firebase = (await hosting.json()) as AppConfig["firebase"];
  return { firebase, apiBase: "" };
}
