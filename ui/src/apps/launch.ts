/**
 * Opening, focusing and closing apps: the glue between the window manager,
 * the running-app table and the services API. UI code calls these, never the
 * stores' changes directly, so the server hears about every window.
 */
import { api, ApiError } from "../api/client";
import type { AppInstance, RegistryApp } from "../api/schemas";
import { notify } from "../shell/store";
import {
  closeWindow,
  focusWindow,
  minimizeWindow,
  openWindow,
  topVisible,
  type OpenArgs,
  type WindowMode,
} from "../wm/functions";
import { useWm, viewport } from "../wm/store";
import { applyAppState, dropWindowState, setValues } from "./appState";
import { directory, type DirectoryEntry } from "./directory";
import { addProc, removeProc, serverIdOf, useProcs } from "./processes";

let localSeq = 0;

/** Opens a native web app from the directory; a singleton already open is focused. */
export function openNative(id: string, serverId: string | null = null, windowId?: string): string | null {
  const entry = directory[id];
  if (!entry) {
    notify("error", `No app called "${id}" in this desktop`);
    return null;
  }
  if (entry.singleton) {
    const open = Object.values(useProcs.getState().procs).find((p) => p.appId === id);
    if (open) {
      focusApp(open.windowId);
      return open.windowId;
    }
  }
  if (entry.server && serverId === null && windowId === undefined) {
    // The server launches it (and answers with the instance the window shows);
    // a server without that registry entry gets the local window.
    api.launch(id).then((inst) => openInstance(inst), (err: unknown) => {
      if (err instanceof ApiError && err.notFound) openLocal(id, entry, null);
      else notify("error", `Could not launch ${entry.title}: ${err instanceof Error ? err.message : String(err)}`);
    });
    return null;
  }
  return openLocal(id, entry, serverId, windowId);
}

function openLocal(id: string, entry: DirectoryEntry, serverId: string | null, windowId?: string): string {
  const wid = windowId ?? `${id}-${++localSeq}`;
  addProc({ windowId: wid, appId: id, kind: "native", serverId });
  useWm.getState().apply(openWindow({ id: wid, appId: id, ...windowOf(entry), viewport: viewport() }));
  return wid;
}

/** What a directory app's window opens with: its title, icon, preferred and minimum size. */
function windowOf(entry: DirectoryEntry): Pick<OpenArgs, "title" | "icon" | "size" | "minSize"> {
  return { title: entry.title, icon: entry.icon, size: entry.size, ...(entry.minSize ? { minSize: entry.minSize } : {}) };
}

/**
 * Opens a window for an app instance the server reported: a restored session
 * or a reload brings its window back where the server has it; a new app has
 * no geometry on the server yet, so the desktop places it (cascade, scaled to
 * the screen) and reports where.
 */
export function openInstance(inst: AppInstance, how: { restored?: boolean } = {}): string {
  const existing = useProcs.getState().procs[inst.id];
  if (existing) {
    focusApp(inst.id);
    return inst.id;
  }
  const registryId = inst.app_id ?? inst.id;
  if (inst.component_state) applyAppState(setValues(inst.id, inst.component_state));
  const geometry = inst.window?.rect ? { rect: inst.window.rect, mode: inst.window.state as WindowMode } : {};
  if (inst.type === "native_proc") {
    // A native process is shown by the terminal, attached to the server's instance.
    addProc({ windowId: inst.id, appId: "terminal", kind: "native", serverId: inst.id, ...(how.restored ? { restored: true } : {}) });
    useWm.getState().apply(openWindow({ id: inst.id, appId: "terminal", ...windowOf(directory.terminal!), title: inst.name, viewport: viewport(), ...geometry }));
    return inst.id;
  }
  if (inst.type === "native_web" && directory[registryId]) {
    const entry = directory[registryId]!;
    addProc({ windowId: inst.id, appId: registryId, kind: "native", serverId: inst.id });
    useWm.getState().apply(openWindow({ id: inst.id, appId: registryId, ...windowOf(entry), viewport: viewport(), ...geometry }));
    return inst.id;
  }
  if (inst.type === "native_web") {
    // A native web app the server serves (apps/native/<id>/): loaded from its entry module.
    addProc({ windowId: inst.id, appId: registryId, kind: "native", serverId: inst.id, ...(inst.entry ? { entry: inst.entry } : {}) });
    useWm.getState().apply(openWindow({ id: inst.id, appId: registryId, title: inst.name, icon: inst.icon || registryId, size: { width: 560, height: 420 }, viewport: viewport(), ...geometry }));
    return inst.id;
  }
  addProc({ windowId: inst.id, appId: registryId, kind: "blueprint", serverId: inst.id, blueprint: inst.blueprint });
  useWm.getState().apply(
    openWindow({ id: inst.id, appId: registryId, title: inst.name, icon: inst.icon || registryId, ...blueprintSize(inst.blueprint), viewport: viewport(), ...geometry }),
  );
  return inst.id;
}

/** Launches a registry app: native web apps open from the directory, the rest through the API. */
export async function launchRegistryApp(app: Pick<RegistryApp, "id" | "name" | "type">): Promise<string | null> {
  if (directory[app.id] && app.type !== "native_proc") return openNative(app.id);
  try {
    const inst = await api.launch(app.id);
    return openInstance(inst);
  } catch (err) {
    notify("error", `Could not launch ${app.name}: ${err instanceof Error ? err.message : String(err)}`);
    return null;
  }
}

/** Opens whatever `id` names: a directory app, else a registry app. */
export function openById(id: string, name = id): Promise<string | null> {
  if (directory[id]) return Promise.resolve(openNative(id));
  return launchRegistryApp({ id, name, type: "blueprint" });
}

export function focusApp(windowId: string): void {
  const before = useWm.getState().focused;
  useWm.getState().apply(focusWindow(windowId));
  const serverId = serverIdOf(windowId);
  if (serverId && before !== windowId) api.focusApp(serverId).catch(() => {});
}

export function minimizeApp(windowId: string): void {
  useWm.getState().apply(minimizeWindow(windowId));
}

export function closeApp(windowId: string): void {
  const serverId = serverIdOf(windowId);
  useWm.getState().apply(closeWindow(windowId));
  removeProc(windowId);
  applyAppState(dropWindowState(windowId));
  if (serverId) {
    api.closeApp(serverId).then(
      // The server closes the app's children too: close their windows.
      (closed) => {
        const procs = useProcs.getState().procs;
        for (const p of Object.values(procs)) if (p.serverId && p.serverId !== serverId && closed.includes(p.serverId)) closeApp(p.windowId);
      },
      (err: unknown) => {
      if (!(err instanceof Error && "status" in err && (err as { status: number }).status === 404)) {
        notify("error", `Closing on the server failed: ${err instanceof Error ? err.message : String(err)}`);
      }
      },
    );
  }
  const next = topVisible(useWm.getState());
  if (next) focusApp(next);
}

/** Apps of this desktop id or registry id that have windows, topmost first. */
export function windowsOfApp(appId: string): string[] {
  const { order } = useWm.getState();
  const procs = useProcs.getState().procs;
  return [...order].reverse().filter((id) => procs[id]?.appId === appId);
}

/** The dock's click: open the app if it has no window, else focus (and restore) its topmost one. */
export function activateApp(appId: string, name = appId): void {
  const [top] = windowsOfApp(appId);
  if (top) focusApp(top);
  else void openById(appId, name);
}

/**
 * Window size of a Blueprint app: the one it asks for (`ui.width`/`ui.height`),
 * else a default. Kept as is on every screen: a Blueprint lays its components
 * out at their natural size, so a larger window would only add empty space
 * (the calculator's keys in the top third of a tall window).
 */
export function blueprintSize(bp: unknown): Pick<OpenArgs, "size" | "fixedSize"> {
  const ui = (bp as { ui?: { width?: unknown; height?: unknown } } | undefined)?.ui;
  const width = typeof ui?.width === "number" ? ui.width : 420;
  const height = typeof ui?.height === "number" ? ui.height : 520;
  return { size: { width, height }, fixedSize: true };
}

/** Brings back the server's running apps (after a reload or a restore) into windows. */
export async function syncRunningApps(): Promise<void> {
  const apps = await api.listApps();
  for (const inst of apps) if (!useProcs.getState().procs[inst.id]) openInstance(inst);
}
