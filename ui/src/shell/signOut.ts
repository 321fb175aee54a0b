/**
 * Sign-out, as a desktop does it: the workspace is saved as the last session
 * (`POST /api/sessions/save-default`, what "Restore workspace" brings back), the
 * user's apps are closed and their processes killed (`DELETE /api/apps`: nothing
 * the user started outlives the session), then the session ends on the server
 * (`POST /api/auth/logout`, which clears the cookie). It stops the settings sync
 * before anything is cleared (so the defaults are never saved over the user's
 * settings), forgets everything the signed-in user had on this page (windows,
 * apps, registry, denials, settings, the stream opened with the old cookie) and
 * shows the sign-in screen.
 */
import { markSignedOutByUser, resetAuthStore } from "../api/auth";
import { api, ApiError } from "../api/client";
import { closeStream } from "../api/stream";
import { useAppState } from "../apps/appState";
import { resetProcs } from "../apps/processes";
import { resetRegistry } from "../apps/registry";
import { stopServerSettings, useSettingsSync } from "../apps/settings/serverSettings";
import { defaultSettings, useSettings } from "../apps/settings/settingsStore";
import { resetDenials } from "../denials/denials";
import { saveLastSession } from "../sessions/sessions";
import { resetWm } from "../wm/store";
import { notify, resetShell } from "./store";

/** Every per-user store back to its start (the settings sync stopped first). */
export function resetStores(): void {
  stopServerSettings();
  resetWm();
  resetShell();
  resetProcs();
  resetRegistry();
  resetDenials();
  resetAuthStore();
  useAppState.setState({ byWindow: {} });
  useSettingsSync.setState({ phase: "idle", error: null });
}

/** Signs this page out and shows the sign-in screen. */
export async function signOut(): Promise<void> {
  // Stop saving first: nothing cleared below may be PUT back as the user's settings.
  stopServerSettings();
  const failures: string[] = [];
  const say = (what: string, err: unknown) => {
    // Already signed out (401) is what we wanted; anything else is said, and the page
    // is cleared all the same.
    if (!(err instanceof ApiError && err.status === 401)) failures.push(`${what}: ${err instanceof Error ? err.message : String(err)}`);
  };
  // Saved before anything closes; a failed save still signs out (the apps would be lost
  // either way once the user is gone), and says so.
  await saveLastSession().catch((err: unknown) => say("Saving the last session failed", err));
  await api.closeAllApps().catch((err: unknown) => say("Closing your apps failed", err));
  await api.logout().catch((err: unknown) => say("Signing out on the server failed", err));
  closeStream();
  resetStores();
  useSettings.setState({ ...defaultSettings });
  markSignedOutByUser();
  for (const f of failures) notify("error", f);
}
