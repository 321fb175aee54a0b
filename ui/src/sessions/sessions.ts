/**
 * Save and restore the workspace through the services layer. The server knows
 * the running apps and their windows (the desktop reports geometry as it
 * changes); the page adds what only it knows, each app's component state.
 */
import { api } from "../api/client";
import type { AppInstance, SessionDetail, SessionSummary } from "../api/schemas";
import { useAppState } from "../apps/appState";
import { openInstance } from "../apps/launch";
import { useProcs } from "../apps/processes";
import { notify } from "../shell/store";
import { geometryOf } from "../wm/sync";
import { useWm } from "../wm/store";

/** Component state by server app id: the `state` of POST /api/sessions/save. */
export function componentStates(): Record<string, Record<string, unknown>> {
  const procs = useProcs.getState().procs;
  const states = useAppState.getState().byWindow;
  const out: Record<string, Record<string, unknown>> = {};
  for (const p of Object.values(procs)) if (p.serverId && states[p.windowId]) out[p.serverId] = states[p.windowId]!;
  return out;
}

/** Sends every window's current geometry now, so a save does not miss the last, still debounced move. */
async function flushGeometry(): Promise<void> {
  const { windows, order } = useWm.getState();
  const procs = useProcs.getState().procs;
  await Promise.all(
    order.map((id, z) => {
      const serverId = procs[id]?.serverId;
      const w = windows[id];
      return serverId && w ? api.setWindow(serverId, geometryOf(w, z)).catch(() => undefined) : undefined;
    }),
  );
}

/**
 * Saves the workspace as the last session (`default`, replaced each time), as
 * sign-out does before it closes the apps; throws what went wrong. With nothing
 * open the server keeps the last session as it was (and answers 204).
 */
export async function saveLastSession(): Promise<void> {
  await flushGeometry();
  await api.saveDefaultSession(`Last session, signed out ${new Date().toLocaleString()}`, componentStates());
}

/**
 * The save "Restore workspace" brings back: the newest one with apps in it. An
 * empty save (made by an older server at a sign-out with nothing open, or saved
 * by hand) would only close what is open, which no one asks "restore" for.
 */
export function newestWorkspace(sessions: SessionSummary[]): SessionSummary | undefined {
  return [...sessions]
    .filter((s) => s.apps === undefined || s.apps > 0)
    .sort((a, b) => Number(a.saved_unix_ms ?? 0) - Number(b.saved_unix_ms ?? 0))
    .at(-1);
}

export async function saveWorkspace(name = `Workspace ${new Date().toLocaleString()}`): Promise<void> {
  try {
    await flushGeometry();
    const state = componentStates();
    const id = await api.saveSession(name, state);
    const n = Object.values(useProcs.getState().procs).filter((p) => p.serverId).length;
    notify("info", `Workspace saved (${n} app${n === 1 ? "" : "s"}, session ${id})`);
  } catch (err) {
    notify("error", `Saving the workspace failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/**
 * Restored apps come back with new ids; each gets the component state of the
 * saved app it was made from, matched by registry id and saved window.
 */
export function matchStates(restored: AppInstance[], saved: SessionDetail["apps"]): Map<string, Record<string, unknown>> {
  const out = new Map<string, Record<string, unknown>>();
  const used = new Set<string>();
  for (const s of saved) {
    if (!s.state) continue;
    const w = s.window.rect;
    const r = (a: AppInstance) => a.window?.rect;
    const hit = restored.find(
      (a) =>
        !used.has(a.id) &&
        (a.app_id ?? a.id) === s.app_id &&
        a.window !== undefined &&
        r(a)?.x === w?.x &&
        r(a)?.y === w?.y &&
        r(a)?.width === w?.width &&
        r(a)?.height === w?.height,
    );
    if (hit) {
      used.add(hit.id);
      out.set(hit.id, s.state);
    }
  }
  return out;
}

export async function restoreLastSession(): Promise<void> {
  try {
    const sessions = await api.listSessions();
    const last = newestWorkspace(sessions);
    if (!last) {
      notify("info", "No saved workspace yet: choose “Save workspace” first");
      return;
    }
    const apps = await api.restoreSession(last.id);
    const detail = await api.getSession(last.id).catch(() => null);
    const states = detail ? matchStates(apps, detail.apps) : new Map();
    const open = useProcs.getState().procs;
    const fresh = apps.filter((a) => !open[a.id]);
    for (const inst of fresh) {
      const state = states.get(inst.id);
      openInstance(state ? { ...inst, component_state: state } : inst, { restored: true });
    }
    notify("info", `Restored “${last.name || last.id}” (${fresh.length} app${fresh.length === 1 ? "" : "s"})`);
  } catch (err) {
    notify("error", `Restoring the workspace failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}
