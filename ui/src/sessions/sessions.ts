/**
 * Save and restore the workspace through the services layer. The page sends
 * what only it knows (each window's geometry and its component state) along
 * with the save; the server adds what it knows (processes, grants).
 */
import { api } from "../api/client";
import { useAppState } from "../apps/appState";
import { openInstance } from "../apps/launch";
import { useProcs } from "../apps/processes";
import { notify } from "../shell/store";
import { geometryOf } from "../wm/sync";
import { useWm } from "../wm/store";

/** The body of POST /api/sessions/save. */
export function sessionSnapshot(name: string) {
  const { windows, order } = useWm.getState();
  const procs = useProcs.getState().procs;
  const states = useAppState.getState().byWindow;
  const apps = order
    .map((id, z) => ({ id, z, w: windows[id], p: procs[id] }))
    .filter((x) => x.w && x.p?.serverId)
    .map(({ id, z, w, p }) => ({ id: p!.serverId!, window: geometryOf(w!, z), component_state: states[id] ?? {} }));
  return { name, apps };
}

export async function saveWorkspace(name = `Workspace ${new Date().toLocaleString()}`): Promise<void> {
  try {
    const snapshot = sessionSnapshot(name);
    const id = await api.saveSession(snapshot.name, snapshot.apps);
    notify("info", `Workspace saved (${snapshot.apps.length} app${snapshot.apps.length === 1 ? "" : "s"}, session ${id})`);
  } catch (err) {
    notify("error", `Saving the workspace failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}

export async function restoreLastSession(): Promise<void> {
  try {
    const sessions = await api.listSessions();
    const last = sessions[sessions.length - 1];
    if (!last) {
      notify("info", "No saved workspace yet: choose “Save workspace” first");
      return;
    }
    const apps = await api.restoreSession(last.id);
    apps.forEach((inst) => openInstance(inst));
    notify("info", `Restored “${last.name || last.id}” (${apps.length} app${apps.length === 1 ? "" : "s"})`);
  } catch (err) {
    notify("error", `Restoring the workspace failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}
