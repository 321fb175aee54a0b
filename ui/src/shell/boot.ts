/**
 * Start-up: take the login token from the URL, then ask the API for the
 * running apps (they come back in their windows) and the registry. A 401
 * shows the sign-in notice; any other failure a visible notice.
 */
import { consumeLoginToken } from "../api/auth";
import { listenForDenials } from "../denials/denials";
import { checkServerSchema } from "../blueprint/serverSchema";
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
  try {
    await syncRunningApps();
    listenForDenials();
    void checkServerSchema();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return;
    notify("error", `Running apps unavailable: ${err instanceof Error ? err.message : String(err)}`);
  }
  await loadRegistry();
  // The user's settings from the server (theme, restore-at-login, …) before acting on them.
  await loadServerSettings();
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
