// The clinician web app: a static bundle in web/dist, served by Firebase Hosting in production
// and by scripts/web.py under `make dev` and the browser tests.
import { defineConfig } from "vite";

export default defineConfig({
  root: "web",
  base: "/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: true,
    chunkSizeWarningLimit: 600, // the Firebase SDK chunk (auth + firestore) is ~540 kB, 160 kB gzipped
    rollupOptions: {
      output: {
        // the Firebase SDK in its own chunk, so the app's own size is measured apart from it
        manualChunks(id: string) {
          return id.includes("node_modules/@firebase/") || id.includes("node_modules/firebase/")
            ? "firebase"
            : undefined;
        },
      },
    },
  },
});
