/**
 * Sign-out: ends the session on the server (`POST /api/auth/logout`, which
 * clears the cookie), stops the settings sync before anything is cleared (so the
 * defaults are never saved over the user's settings), forgets everything the
 * signed-in user had on this page (windows, apps, registry, denials, settings,
 * the stream opened with the old cookie) and shows the sign-in screen.
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
  let failure: string | null = null;
  try {
    await api.logout();
  } catch (err) {
    // Already signed out (401) is what we wanted; anything else is said, and the page
    // is cleared all the same.
    if (!(err instanceof ApiError && err.status === 401)) failure = err instanceof Error ? err.message : String(err);
  }
  closeStream();
  resetStores();
  useSettings.setState({ ...defaultSettings });
  markSignedOutByUser();
  if (failure) notify("error", `Signing out on the server failed: ${failure}`);
}
