/// <reference types="vitest/config" />
import { defineConfig, type Plugin } from "vite";
import react from "@vitejs/plugin-react";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/**
 * Inlines src/shell/boot-shell.css into index.html where it says
 * `<!-- boot-shell.css -->`: the static shell (wallpaper, menu bar) paints with
 * the HTML, before the bundle loads. Comments and indentation are dropped.
 */
function bootShellCss(): Plugin {
  const file = fileURLToPath(new URL("./src/shell/boot-shell.css", import.meta.url));
  return {
    name: "agentos-boot-shell-css",
    transformIndexHtml(html) {
      const css = readFileSync(file, "utf8")
        .replace(/\/\*[\s\S]*?\*\//g, "")
        .replace(/\s*\n\s*/g, " ")
        .trim();
      if (!html.includes("<!-- boot-shell.css -->")) throw new Error("index.html lacks the <!-- boot-shell.css --> marker");
      return html.replace("<!-- boot-shell.css -->", `<style>${css}</style>`);
    },
  };
}

// The Rust services layer (`agentos`) serves the API on :8000 and, in
// production, these built files from ui/dist. In dev, Vite serves the UI and
// forwards the API to it.
const backend = process.env.AGENTOS_BACKEND ?? "http://127.0.0.1:8000";

/**
 * The built page's stylesheets stop blocking its first paint: the static shell
 * needs only the inlined boot-shell.css. Each loads as `media="print"` (with a
 * preload, so it is still fetched first) and switches to `all` once loaded; main.tsx waits for that before React's first
 * render, so nothing is ever drawn unstyled.
 */
function lateStylesheets(): Plugin {
  return {
    name: "agentos-late-stylesheets",
    apply: "build",
    transformIndexHtml: {
      order: "post",
      // The preload keeps the sheet's fetch at high priority (a print sheet alone is fetched last).
      handler: (html) =>
        html.replace(/<link rel="stylesheet"([^>]*)href="([^"]+)"([^>]*)>/g, `<link rel="preload" as="style"$1href="$2"$3><link rel="stylesheet"$1href="$2"$3 media="print" onload="this.media='all'">`),
    },
  };
}

export default defineConfig({
  plugins: [react(), bootShellCss(), lateStylesheets()],
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
