/**
 * Start-up: take the login token from the URL, then ask the API, all at once,
 * for the running apps (they come back in their windows), the registry and
 * the user's settings. A 401 shows the sign-in notice; any other failure a
 * visible notice.
 */
import { consumeLoginToken } from "../api/auth";
import { listenForDenials } from "../denials/denials";
import { api, ApiError } from "../api/client";
import { syncRunningApps } from "../apps/launch";
import { serverIdOf } from "../apps/processes";
import { loadRegistry } from "../apps/registry";
import { loadServerSettings } from "../apps/settings/serverSettings";
import { useSettings } from "../apps/settings/settingsStore";
import { restoreLastSession } from "../sessions/sessions";
import { useWm } from "../wm/store";
import { createGeometrySync } from "../wm/sync";
import { notify } from "./store";

let tokenConsumed: Promise<void> | null = null;

export async function bootDesktop(): Promise<void> {
  tokenConsumed ??= consumeLoginToken();
  await tokenConsumed;
  // The three start-up reads do not depend on each other: asked at once, not in a chain.
  const [running] = await Promise.all([
    syncRunningApps().then(
      () => {
        listenForDenials();
        // Loaded when needed: the Blueprint schemas are not on the first screen.
        void import("../blueprint/serverSchema").then((m) => m.checkServerSchema());
        return true;
      },
      (err: unknown) => {
        if (!(err instanceof ApiError && err.status === 401)) notify("error", `Running apps unavailable: ${err instanceof Error ? err.message : String(err)}`);
        return !(err instanceof ApiError && err.status === 401);
      },
    ),
    loadRegistry(),
    // The user's settings from the server (theme, restore-at-login, …) before acting on them.
    loadServerSettings(),
  ]);
  if (!running) return;
  // Once per page: the user asked for the last workspace back at login.
  if (!restoredAtLogin && useSettings.getState().restoreOnLogin && useWm.getState().order.length === 0) {
    restoredAtLogin = true;
    await restoreLastSession();
  }
}

let restoredAtLogin = false;

/** Reports window geometry to the API for as long as the returned function is not called. */
export function startGeometrySync(): () => void {
  const sync = createGeometrySync((id, g) => api.setWindow(id, g), serverIdOf);
  const unsubscribe = useWm.subscribe((s) => sync.onChange(s));
  return () => {
    unsubscribe();
    sync.dispose();
  };
}
