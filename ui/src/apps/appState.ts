import { create } from "zustand";

/**
 * Per-app component state: what the user typed, toggled or selected, keyed by
 * window and then by component id. It lives outside the component tree, so a
 * re-rendered or updated spec keeps it, and a session save can read it.
 */
export type ComponentState = Record<string, unknown>;

interface AppStateStore {
  byWindow: Record<string, ComponentState>;
}

export const useAppState = create<AppStateStore>()(() => ({ byWindow: {} }));

type Change = (s: AppStateStore) => AppStateStore;

export const setValues =
  (windowId: string, patch: ComponentState): Change =>
  (s) => ({ byWindow: { ...s.byWindow, [windowId]: { ...s.byWindow[windowId], ...patch } } });

export const dropWindowState =
  (windowId: string): Change =>
  (s) => {
    const { [windowId]: _dropped, ...byWindow } = s.byWindow;
    return { byWindow };
  };

export function applyAppState(change: Change): void {
  useAppState.setState(change);
}

export function getValue(windowId: string, key: string): unknown {
  return useAppState.getState().byWindow[windowId]?.[key];
}

export function setValue(windowId: string, key: string, value: unknown): void {
  applyAppState(setValues(windowId, { [key]: value }));
}
