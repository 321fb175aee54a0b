import { create } from "zustand";
import { persist } from "zustand/middleware";

/**
 * The user's settings. The server keeps them per user (GET/PUT /api/settings,
 * see serverSettings.ts) and they are read back at login; this browser's
 * localStorage only caches them, so the page paints in the right theme before
 * the server answers.
 */
export interface Settings {
  theme: "dark" | "light";
  accent: string;
  wallpaper: "aurora" | "dusk" | "forest" | "graphite";
  restoreOnLogin: boolean;
  /** The kernel scheduler's policy; the focused app is boosted under fair and priority. */
  schedPolicy: "fair" | "priority" | "round_robin";
  /** Freeze a minimised app's process until it is shown again. */
  freezeMinimised: boolean;
  /** The focused app's CPU weight multiplier under fair and priority, 1 (none) to 16. */
  focusBoost: number;
  /** Grants given to new apps (`time`, `read:/srv`…). */
  defaultGrants: string[];
  /** An OpenAI-compatible chat-completions URL; empty = the rule generator. */
  llmUrl: string;
  llmModel: string;
}

export const defaultSettings: Settings = {
  theme: "dark",
  accent: "#8ab4ff",
  wallpaper: "aurora",
  restoreOnLogin: false,
  schedPolicy: "fair",
  freezeMinimised: false,
  focusBoost: 4,
  defaultGrants: [],
  llmUrl: "",
  llmModel: "",
};

export const useSettings = create<Settings>()(persist(() => ({ ...defaultSettings }), { name: "agentos.settings", version: 2, merge: (saved, current) => ({ ...current, ...(saved as Partial<Settings>) }) }));

export const updateSettings = (patch: Partial<Settings>) => useSettings.setState(patch);
