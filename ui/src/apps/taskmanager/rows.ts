/**
 * The task manager's rows: every app the server runs and every window open in
 * this page, each with the kernel processes it has. Pure, so the joining is
 * unit-tested apart from the table.
 *
 * Three kinds of app end up here:
 * - a native process (the server's `native_proc`): its kernel process's
 *   figures, or none once it has exited;
 * - an app the server knows but that runs in the page (a Blueprint, a native
 *   web app such as Files): no kernel process, and the row says so;
 * - a window only this page knows (the task manager itself, Settings, …): the
 *   same, and "End task" closes its window.
 */
import type { AppInstance, ProcessInfo } from "../../api/schemas";
import type { Proc } from "../processes";

export type RowKind = "process" | "web app" | "blueprint";

export interface Row {
  /** Stable key: the server's instance id, else the window id, plus the pid. */
  key: string;
  name: string;
  kind: RowKind;
  /** The server's instance, if the server knows the app. */
  app: AppInstance | null;
  /** This page's windows showing the app (closed by "End task"). */
  windowIds: string[];
  /** One of the app's kernel processes, or null. */
  proc: ProcessInfo | null;
  /** The app has no kernel process because it runs in the page: no figures to show. */
  inPage: boolean;
  /** What the server says of the app's state, for a row without a process. */
  state: string | null;
}

const kindOf = (type: AppInstance["type"] | undefined): RowKind =>
  type === "native_proc" ? "process" : type === "native_web" ? "web app" : "blueprint";

/**
 * Joins the server's apps, the kernel's processes and this page's windows.
 * `titles` names a window (its title bar) for apps the server does not know.
 */
export function taskRows(apps: AppInstance[], procs: ProcessInfo[], windows: Proc[], titles: Record<string, string>): Row[] {
  const rows: Row[] = [];
  for (const app of apps) {
    const windowIds = windows.filter((w) => w.serverId === app.id).map((w) => w.windowId);
    const kind = kindOf(app.type);
    const mine = procs.filter((p) => p.app_id === app.id);
    const base = { name: app.name, kind, app, windowIds, state: app.state ?? null };
    if (mine.length) for (const proc of mine) rows.push({ ...base, key: `${app.id}-${proc.pid}`, proc, inPage: false });
    else rows.push({ ...base, key: app.id, proc: null, inPage: kind !== "process" });
  }
  for (const w of windows) {
    // A window the server launched is on its app's row, once the server lists
    // it (a launch seen before the next poll shows up then).
    if (w.serverId !== null) continue;
    rows.push({
      key: w.windowId,
      name: titles[w.windowId] ?? w.appId,
      kind: w.kind === "native" ? "web app" : "blueprint",
      app: null,
      windowIds: [w.windowId],
      proc: null,
      inPage: true,
      state: null,
    });
  }
  return rows;
}

/**
 * What a row's buttons call it, by row key: its name, and where rows share one (two
 * Shells, two Files windows) also which: its pid, or, with no process, its number
 * among them in a fixed order (by key, not by the table's sort). Otherwise a screen
 * reader hears "Kill process: Shell" twice and cannot tell the buttons apart.
 */
export function rowLabels(rows: Row[]): Map<string, string> {
  const byName = new Map<string, Row[]>();
  for (const r of rows) byName.set(r.name, [...(byName.get(r.name) ?? []), r]);
  const labels = new Map<string, string>();
  for (const [name, same] of byName) {
    const ordered = [...same].sort((a, b) => a.key.localeCompare(b.key, undefined, { numeric: true }));
    ordered.forEach((r, i) => labels.set(r.key, same.length === 1 ? name : r.proc ? `${name} (pid ${r.proc.pid})` : `${name} (${i + 1})`));
  }
  return labels;
}
