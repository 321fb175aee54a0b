import { lazy, type LazyExoticComponent } from "react";
import type { Size } from "../wm/geometry";
import type { NativeApp } from "./context";

/**
 * What the desktop reads of apps/native/<id>/manifest.json (the services seed the
 * registry from the same files). They are bundled at build time, so their shape is
 * checked by `directory.test.ts` (zod) and, loudly, when a system app is named here.
 */
interface Manifest {
  id: string;
  name: string;
  description: string;
  icon: string;
  category: string;
  entry: string;
}

const manifests = new Map<unknown, Partial<Manifest>>(
  Object.values(import.meta.glob<Partial<Manifest>>("../../../apps/native/*/manifest.json", { eager: true, import: "default" })).map((m) => [m.id, m]),
);

/** The manifest of system app `id`, whose module the desktop ships (`entry: builtin:<id>`). */
function manifest(id: string): Pick<DirectoryEntry, "id" | "title" | "icon" | "category" | "description"> {
  const m = manifests.get(id);
  if (!m || m.entry !== `builtin:${id}`) throw new Error(`apps/native/${id}/manifest.json is missing or does not name builtin:${id}`);
  const { name, icon, category, description } = m;
  if (typeof name !== "string" || typeof icon !== "string" || typeof category !== "string" || typeof description !== "string") {
    throw new Error(`apps/native/${id}/manifest.json needs a name, a description, an icon and a category`);
  }
  return { id, title: name, icon, category, description };
}

/**
 * Every native web app the desktop ships, in one table (daedalOS's
 * contexts/process/directory.ts): a lazy module, size, and whether only one
 * window of it may be open. Its name, description, icon and category are its manifest's, in
 * apps/native/<id>/, which is also what the services' registry lists.
 */
export interface DirectoryEntry {
  id: string;
  title: string;
  /** Key of an icon in shell/icons.tsx. */
  icon: string;
  category: string;
  description: string;
  component: LazyExoticComponent<NativeApp>;
  size: Size;
  minSize?: Size;
  singleton: boolean;
  /** Pinned in the dock. */
  favourite: boolean;
  /**
   * Launched through the services registry (apps/native/<id>/manifest.json), so
   * the server knows the window and runs its tools under the manifest's
   * permissions (the file manager's fs.* calls need `filesystem`).
   */
  server?: boolean;
}

export const directory: Record<string, DirectoryEntry> = {
  files: {
    ...manifest("files"),
    component: lazy(() => import("./files/FileManager")),
    size: { width: 720, height: 460 },
    minSize: { width: 420, height: 260 },
    singleton: false,
    favourite: true,
    server: true,
  },
  terminal: {
    ...manifest("terminal"),
    component: lazy(() => import("./terminal/Terminal")),
    size: { width: 680, height: 420 },
    minSize: { width: 360, height: 200 },
    singleton: false,
    favourite: true,
  },
  taskmanager: {
    ...manifest("taskmanager"),
    component: lazy(() => import("./taskmanager/TaskManager")),
    // Wide enough for every column and the row actions on a 1280 px screen and up.
    size: { width: 1180, height: 460 },
    minSize: { width: 480, height: 240 },
    singleton: true,
    favourite: true,
  },
  monitor: {
    ...manifest("monitor"),
    component: lazy(() => import("./monitor/SystemMonitor")),
    size: { width: 760, height: 520 },
    minSize: { width: 420, height: 300 },
    singleton: true,
    favourite: true,
  },
  appstore: {
    ...manifest("appstore"),
    component: lazy(() => import("./appstore/AppStore")),
    size: { width: 720, height: 480 },
    minSize: { width: 420, height: 300 },
    singleton: true,
    favourite: true,
  },
  settings: {
    ...manifest("settings"),
    component: lazy(() => import("./settings/Settings")),
    size: { width: 560, height: 440 },
    minSize: { width: 380, height: 300 },
    singleton: true,
    favourite: true,
  },
};

export const directoryList = Object.values(directory);
