import { Suspense, lazy, useMemo, type LazyExoticComponent } from "react";
import { setWindowTitle } from "../wm/functions";
import { useWm } from "../wm/store";
import { getValue, setValue } from "./appState";
import type { AppContext, NativeApp } from "./context";
import { bundledApp } from "./bundled";
import { directory } from "./directory";
import { closeApp, focusApp, minimizeApp } from "./launch";
import { useProcs } from "./processes";

const loadBlueprintApp = () => import("../blueprint/BlueprintApp");
const BlueprintApp = lazy(loadBlueprintApp);

/**
 * Loads the Blueprint renderer (its schemas, the tool executor) right after
 * the desktop's first render: not on the way to the first screen, but ready
 * before the first Blueprint app is launched.
 */
export function warmBlueprintRenderer(): void {
  // A failure here shows later, where the app is opened (its error boundary).
  setTimeout(() => void loadBlueprintApp().catch(() => {}), 0);
}

const remote = new Map<string, LazyExoticComponent<NativeApp>>();
/**
 * A native web app served by the services layer: an ES module on this origin
 * whose default export is a React component taking `{ ctx }`. It must use the
 * desktop's React, `globalThis.AgentOS.React` (set in main.tsx), not its own.
 */
function remoteApp(url: string): LazyExoticComponent<NativeApp> {
  let c = remote.get(url);
  if (!c) {
    c = lazy(async () => {
      const mod = (await import(/* @vite-ignore */ url)) as { default?: unknown };
      if (typeof mod.default !== "function") throw new Error(`${url} has no default export (a React component taking { ctx })`);
      return { default: mod.default as NativeApp };
    });
    remote.set(url, c);
  }
  return c;
}

/** What a window shows: its native app module, or its Blueprint through the renderer. */
export function AppHost({ windowId }: { windowId: string }) {
  const proc = useProcs((s) => s.procs[windowId]);
  const ctx = useMemo<AppContext | null>(() => {
    if (!proc) return null;
    return {
      appId: proc.appId,
      windowId,
      serverId: proc.serverId,
      state: {
        get: <T,>(key: string, fallback: T) => (getValue(windowId, key) as T | undefined) ?? fallback,
        set: (key, value) => setValue(windowId, key, value),
      },
      // The executor (and its math) loads with the first tool call, not with the desktop.
      execute: async (toolId, params = {}) => (await import("../tools/executor")).executeTool(toolId, params, { windowId, serverId: proc.serverId }),
      window: {
        setTitle: (title) => useWm.getState().apply(setWindowTitle(windowId, title)),
        close: () => closeApp(windowId),
        minimize: () => minimizeApp(windowId),
        focus: () => focusApp(windowId),
      },
    };
  }, [proc, windowId]);

  if (!proc || !ctx) return null;
  const fallback = (
    <p className="app-loading" role="status">
      Loading…
    </p>
  );
  if (proc.kind === "native") {
    const entry = directory[proc.appId];
    const Bundled = entry ? null : bundledApp(proc.appId);
    if (Bundled) {
      return (
        <Suspense fallback={fallback}>
          <Bundled ctx={ctx} />
        </Suspense>
      );
    }
    if (!entry && proc.entry) {
      const Remote = remoteApp(proc.entry);
      return (
        <Suspense fallback={fallback}>
          <Remote ctx={ctx} />
        </Suspense>
      );
    }
    if (!entry) {
      return (
        <div className="error-box" role="alert">
          <strong>Unknown app</strong>
          <pre>No native app "{proc.appId}" in this desktop, and the server gave no module to load.</pre>
        </div>
      );
    }
    const App = entry.component;
    return (
      <Suspense fallback={fallback}>
        <App ctx={ctx} />
      </Suspense>
    );
  }
  return (
    <Suspense fallback={fallback}>
      <BlueprintApp ctx={ctx} proc={proc} />
    </Suspense>
  );
}
