import { create } from "zustand";
import { persist } from "zustand/middleware";

/** Desktop preferences, kept in this browser's localStorage (per user of the browser profile). */
export interface Settings {
  theme: "dark" | "light";
  accent: string;
  wallpaper: "aurora" | "dusk" | "forest" | "graphite";
  restoreOnLogin: boolean;
}

export const defaultSettings: Settings = { theme: "dark", accent: "#8ab4ff", wallpaper: "aurora", restoreOnLogin: false };

export const useSettings = create<Settings>()(persist(() => ({ ...defaultSettings }), { name: "agentos.settings", version: 1 }));

export const updateSettings = (patch: Partial<Settings>) => useSettings.setState(patch);
