import { lazy, type LazyExoticComponent } from "react";
import type { Size } from "../wm/geometry";
import type { NativeApp } from "./context";

/**
 * Every native web app the desktop ships, in one table (daedalOS's
 * contexts/process/directory.ts): a lazy module, title, icon, size, and whether
 * only one window of it may be open.
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
    id: "files",
    title: "Files",
    icon: "files",
    category: "system",
    description: "Browse the AgentOS file system",
    component: lazy(() => import("./files/FileManager")),
    size: { width: 720, height: 460 },
    minSize: { width: 420, height: 260 },
    singleton: false,
    favourite: true,
    server: true,
  },
  terminal: {
    id: "terminal",
    title: "Terminal",
    icon: "terminal",
    category: "system",
    description: "A sandboxed shell in a real process",
    component: lazy(() => import("./terminal/Terminal")),
    size: { width: 680, height: 420 },
    minSize: { width: 360, height: 200 },
    singleton: false,
    favourite: true,
  },
  taskmanager: {
    id: "taskmanager",
    title: "Task Manager",
    icon: "tasks",
    category: "system",
    description: "Running apps and their processes",
    component: lazy(() => import("./taskmanager/TaskManager")),
    size: { width: 980, height: 440 },
    minSize: { width: 480, height: 240 },
    singleton: true,
    favourite: true,
  },
  monitor: {
    id: "monitor",
    title: "System Monitor",
    icon: "monitor",
    category: "system",
    description: "Kernel report, metrics and live events",
    component: lazy(() => import("./monitor/SystemMonitor")),
    size: { width: 760, height: 520 },
    minSize: { width: 420, height: 300 },
    singleton: true,
    favourite: true,
  },
  appstore: {
    id: "appstore",
    title: "App Store",
    icon: "store",
    category: "system",
    description: "Browse and launch apps from the registry",
    component: lazy(() => import("./appstore/AppStore")),
    size: { width: 720, height: 480 },
    minSize: { width: 420, height: 300 },
    singleton: true,
    favourite: true,
  },
  settings: {
    id: "settings",
    title: "Settings",
    icon: "settings",
    category: "system",
    description: "Appearance and desktop preferences",
    component: lazy(() => import("./settings/Settings")),
    size: { width: 560, height: 440 },
    minSize: { width: 380, height: 300 },
    singleton: true,
    favourite: true,
  },
};

export const directoryList = Object.values(directory);
