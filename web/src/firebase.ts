/** The Firebase app, Auth and Firestore, wired to the emulators when the config names them. */
import { initializeApp } from "firebase/app";
import { type Auth, connectAuthEmulator, getAuth } from "firebase/auth";
import { type Firestore, connectFirestoreEmulator, getFirestore } from "firebase/firestore";
import type { AppConfig } from "./config";

export interface FirebaseHandles {
  auth: Auth;
  db: Firestore;
}

export function startFirebase(config: AppConfig): FirebaseHandles {
  const app = initializeApp(config.firebase);
  const auth = getAuth(app);
  const db = getFirestore(app);
  if (config.emulators) {
    connectAuthEmulator(auth, config.emulators.auth, { disableWarnings: true });
    connectFirestoreEmulator(db, config.emulators.firestore.host, config.emulators.firestore.port);
  }
  return { auth, db };
}
