import { create } from "zustand";

/**
 * Running apps, one per window (daedalOS keeps processes apart from window
 * geometry; so do we: geometry is in wm/, this is what the window shows).
 */
export type ProcKind = "native" | "blueprint" | "generated";

export interface Proc {
  windowId: string;
  /** Directory id of a native app, registry id of a Blueprint app. */
  appId: string;
  kind: ProcKind;
  /** The app instance id the services layer gave it, or null for a page-only app. */
  serverId: string | null;
  /** Blueprint apps: the spec as the server sent it (validated by the renderer). */
  blueprint?: unknown;
  /** Native web apps served by the services layer: the module to import. */
  entry?: string;
  /** Generated apps: the request id whose `ui_component` messages build it. */
  requestId?: string;
  /** Brought back by a session restore (a native process is then a new one, and says so). */
  restored?: boolean;
}

interface ProcStore {
  procs: Record<string, Proc>;
}

export const useProcs = create<ProcStore>()(() => ({ procs: {} }));

export const addProc = (p: Proc) => useProcs.setState((s) => ({ procs: { ...s.procs, [p.windowId]: p } }));
export const patchProc = (windowId: string, patch: Partial<Proc>) =>
  useProcs.setState((s) => {
    const p = s.procs[windowId];
    return p ? { procs: { ...s.procs, [windowId]: { ...p, ...patch } } } : s;
  });
export const removeProc = (windowId: string) =>
  useProcs.setState((s) => {
    const { [windowId]: _gone, ...procs } = s.procs;
    return { procs };
  });
export const serverIdOf = (windowId: string): string | null => useProcs.getState().procs[windowId]?.serverId ?? null;
export const resetProcs = () => useProcs.setState({ procs: {} });
