import type { ComponentType } from "react";

/** What a native web app is given: its ids, its state, a tool executor, its window. */
export interface AppContext {
  /** Directory id (e.g. "terminal"). */
  appId: string;
  windowId: string;
  /** App instance id on the services layer, if it has one. */
  serverId: string | null;
  state: {
    get: <T>(key: string, fallback: T) => T;
    set: (key: string, value: unknown) => void;
  };
  /** Runs a tool: `ui.*`/`math.*` in the page, the rest through POST /api/services/execute. */
  execute: (toolId: string, params?: Record<string, unknown>) => Promise<unknown>;
  window: {
    setTitle: (title: string) => void;
    close: () => void;
    minimize: () => void;
    focus: () => void;
  };
}

export type NativeApp = ComponentType<{ ctx: AppContext }>;
