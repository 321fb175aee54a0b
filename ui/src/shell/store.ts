import { create } from "zustand";
import type { SnapZone } from "../wm/geometry";

/** Transient shell state: launcher, window switcher, snap preview, notices. */
export interface Switcher {
  /** Window ids, most recently used first. */
  ids: string[];
  index: number;
}

export interface Notice {
  id: number;
  kind: "error" | "info";
  text: string;
}

export interface ShellState {
  launcherOpen: boolean;
  switcher: Switcher | null;
  snapPreview: SnapZone | null;
  statusOpen: boolean;
  notices: Notice[];
}

export const initialShell: ShellState = { launcherOpen: false, switcher: null, snapPreview: null, statusOpen: true, notices: [] };

export const useShell = create<ShellState>()(() => ({ ...initialShell }));

type Change = (s: ShellState) => ShellState;
export const applyShell = (change: Change) => useShell.setState((s) => change(s));

/** Opens the switcher on the next window, or moves its selection by `step` (wrapping). */
export const stepSwitcher =
  (mru: string[], step: 1 | -1): Change =>
  (s) => {
    if (!s.switcher) {
      if (mru.length === 0) return s;
      const start = mru.length > 1 ? (step === 1 ? 1 : mru.length - 1) : 0;
      return { ...s, switcher: { ids: mru, index: start } };
    }
    const n = s.switcher.ids.length;
    return { ...s, switcher: { ...s.switcher, index: (s.switcher.index + step + n) % n } };
  };

export const closeSwitcher: Change = (s) => (s.switcher ? { ...s, switcher: null } : s);

let noticeId = 0;
export function notify(kind: Notice["kind"], text: string, ttlMs = kind === "error" ? 8000 : 4000): void {
  const id = ++noticeId;
  useShell.setState((s) => ({ notices: [...s.notices.slice(-3), { id, kind, text }] }));
  setTimeout(() => dismissNotice(id), ttlMs);
}
export function dismissNotice(id: number): void {
  useShell.setState((s) => ({ notices: s.notices.filter((n) => n.id !== id) }));
}

export function resetShell(): void {
  useShell.setState({ ...initialShell });
}
