/**
 * The settings' home on the server: GET /api/settings at login fills the store,
 * and every change after that is PUT back (debounced), where it is written
 * atomically per user and the scheduler part reaches the kernel.
 */
import { create } from "zustand";
import { api } from "../../api/client";
import type { ServerSettings } from "../../api/schemas";
import { useSettings, type Settings } from "./settingsStore";

/** Where the last save stands, for the Settings app to show. */
export const useSettingsSync = create<{ phase: "idle" | "loaded" | "saving" | "saved" | "error"; error: string | null }>(() => ({ phase: "idle", error: null }));

export function fromServer(s: ServerSettings): Settings {
  return {
    theme: s.appearance.theme,
    accent: s.appearance.accent,
    wallpaper: s.appearance.wallpaper,
    restoreOnLogin: s.restore_on_login,
    schedPolicy: s.scheduler.policy,
    freezeMinimised: s.scheduler.freeze_minimised,
    focusBoost: s.scheduler.focus_boost,
    defaultGrants: s.default_grants,
    llmUrl: s.llm.url ?? "",
    llmModel: s.llm.model ?? "",
  };
}

export function toServer(s: Settings): ServerSettings {
  return {
    appearance: { theme: s.theme, accent: s.accent, wallpaper: s.wallpaper },
    restore_on_login: s.restoreOnLogin,
    scheduler: { policy: s.schedPolicy, freeze_minimised: s.freezeMinimised, focus_boost: s.focusBoost },
    default_grants: s.defaultGrants,
    llm: { url: s.llmUrl.trim() || null, model: s.llmModel.trim() || null },
  };
}

let stop: (() => void) | null = null;

/** Stops saving changes (a pending save is dropped): at sign-out, and between tests. */
export function stopServerSettings(): void {
  stop?.();
  stop = null;
}

/** Loads the signed-in user's settings, then saves every change (until called again). */
export async function loadServerSettings(debounceMs = 400): Promise<void> {
  stopServerSettings();
  try {
    useSettings.setState(fromServer(await api.getSettings()));
    useSettingsSync.setState({ phase: "loaded", error: null });
  } catch (err) {
    useSettingsSync.setState({ phase: "error", error: err instanceof Error ? err.message : String(err) });
    return;
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const unsubscribe = useSettings.subscribe((s) => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      useSettingsSync.setState({ phase: "saving", error: null });
      api.putSettings(toServer(s)).then(
        () => useSettingsSync.setState({ phase: "saved", error: null }),
        (err: unknown) => useSettingsSync.setState({ phase: "error", error: err instanceof Error ? err.message : String(err) }),
      );
    }, debounceMs);
  });
  stop = () => {
    clearTimeout(timer);
    unsubscribe();
  };
}
