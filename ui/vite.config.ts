/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";
import { fileURLToPath } from "node:url";

// The Rust services layer (`agentos`) serves the API on :8000 and, in
// production, these built files from ui/dist. In dev, Vite serves the UI and
// forwards the API to it.
const backend = process.env.AGENTOS_BACKEND ?? "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react()],
  // Native web apps in ../apps/native/<id>/ import React: the desktop's own copy.
  resolve: {
    alias: {
      react: fileURLToPath(new URL("./node_modules/react", import.meta.url)),
    },
  },
  server: {
    proxy: {
      "/health": { target: backend, changeOrigin: false },
      "/api": { target: backend, changeOrigin: false, ws: true },
    },
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
  },
  test: {
    environment: "happy-dom",
    include: ["src/**/*.test.{ts,tsx}"],
    setupFiles: ["src/test/setup.ts"],
    restoreMocks: true,
    unstubGlobals: true,
  },
});
